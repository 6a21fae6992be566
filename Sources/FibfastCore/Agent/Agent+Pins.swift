import Foundation

extension Agent {
    /// Pins the program, its maps and every link, so the fast path outlives
    /// this process; the next `fibfast attach` adopts it.
    func pinAll(_ pins: Pins, program: FastPathProgram, links: [XDPLink]) throws {
        try pins.pin(program.programFD, at: pins.programPath)
        for name in FastPathMaps.pinned {
            guard let map = program.maps.byName[name] else { continue }
            try pins.pin(map.fd, at: pins.mapPath(name))
        }
        for link in links {
            try pins.pin(link.descriptor.rawValue, at: pins.linkPath(ifindex: link.ifindex))
        }
    }

    /// With --keep-on-exit: leaves everything attached and pinned, and
    /// records that no agent owns the fast path any more.
    func leavePinned() {
        guard program != nil else { return }
        try? config?.change { $0.agentPID = 0 }
        let ports = (self.ports?.names ?? []).joined(separator: ", ")
        logger.notice("leaving the fast path pinned and forwarding on \(ports) (in \(pins?.directory ?? "?")); `fibfast attach` adopts it, `fibfast detach` removes it")
    }
}
