import CFastPath
import CLibBPF
import Foundation
import Logging

/// The process that owns the fast path: it loads the program, configures
/// its maps, attaches it to every port, and keeps it until told to stop.
/// Its links die with it, so however it ends the ports fall back to plain
/// kernel forwarding.
public actor Agent {
    public let request: AttachRequest
    let logger: Logger
    var program: FastPathProgram?
    var links: [XDPLink] = []
    private var failureWatch: XDPFailureWatch?
    var pins: Pins?
    private(set) var plan: AttachPlan?
    /// What the safety watch last saw (Agent+Safety.swift).
    var safety = SafetyState()

    public init(request: AttachRequest, logger: Logger) {
        self.request = request
        self.logger = logger
    }

    /// Checks everything, then loads and attaches. Either every port ends
    /// up attached or none is, and the error says which port and why.
    public func start() throws {
        let allLinks = try Links.all()
        let plan = try AttachPlan.make(
            request, privileges: .current(), links: allLinks,
            addresses: try Links.addresses(), sysctl: Sysctl.read)
        // A fast path left pinned (--keep-on-exit) by an agent that is gone
        // is taken over rather than replaced: same maps, same links.
        let pins = request.keepOnExit ? try Pins.prepare(bpffs: request.bpffs) : Pins.existing(bpffs: request.bpffs)
        let pinned = try pins.flatMap { try PinnedFastPath.find(pins: $0, ports: plan.ports, allLinks: allLinks) }
        let replacing = try checkPortsAreFree(plan.ports, adopting: Set(pinned.map { Array($0.links.keys) } ?? []))
        try checkNetfilter()

        // Forwarding switched on here is switched off again if the start
        // fails: a failed attach leaves the kernel as it found it.
        var enabled: [AddressFamily] = []
        var started = false
        defer {
            if !started {
                for family in enabled { try? Sysctl.write(family.forwardingSysctl, "0") }
            }
        }
        for family in plan.forwardingToEnable {
            try Sysctl.write(family.forwardingSysctl, "1")
            enabled.append(family)
        }

        let program = try FastPathProgram.load(reusing: pinned?.mapDescriptors ?? [:])
        try configure(program.maps, ports: plan.ports)
        // Before the ports: the first frame a port cannot send is counted too.
        let failureWatch = watchFailures(program)
        try refreshReversePath(program.maps, ports: plan.ports)

        var attached: [XDPLink] = []
        for port in plan.ports {
            if let link = pinned?.links[port.ifindex] {
                let adopted = XDPLink(port: port.name, ifindex: port.ifindex,
                                      mode: (try? XDPAttachment.query(ifindex: port.ifindex))??.mode ?? request.mode,
                                      descriptor: link)
                try adopted.update(programFD: program.programFD)
                attached.append(adopted)
                logger.notice("port \(port.name): adopted the pinned fast path (program replaced in place, counters kept)")
                continue
            }
            if let existing = replacing[port.ifindex] {
                try XDPLinks.detach(port: port.name, ifindex: port.ifindex, attachment: existing)
                logger.notice("port \(port.name): replaced XDP program id \(existing.programID) (--force)")
            }
            // On a throw, `attached` goes out of scope and closing its links
            // detaches the ports done so far: nothing stays half-attached.
            let link = try XDPLink.attach(programFD: program.programFD, port: port.name,
                                          ifindex: port.ifindex, mode: request.mode)
            attached.append(link)
        }
        if request.keepOnExit, let pins {
            do {
                try pinAll(pins, program: program, links: attached)
            } catch {
                // Half a set of pins would be adopted wrongly later.
                pins.removeAll()
                throw error
            }
        } else if let pinned {
            // Adopted without --keep-on-exit: this agent's exit ends it.
            pinned.pins.removeAll()
        }
        started = true
        for family in enabled {
            logger.info("\(family) forwarding enabled (\(family.forwardingSysctl) = 1)")
        }
        for link in attached {
            logger.info("port \(link.port) (ifindex \(link.ifindex)): attached in \(link.mode) mode")
        }
        logger.info("fast path running: program id \(program.info.id), \(request.direct ? "direct" : "full") FIB lookup, \(attached.count) ports")
        self.program = program
        self.links = attached
        self.failureWatch = failureWatch
        self.plan = plan
        self.pins = request.keepOnExit ? pins : nil
    }

    /// Forwarding works without the tracepoints; only failures would go
    /// uncounted, so their absence is a warning, not a reason to stop.
    private func watchFailures(_ program: FastPathProgram) -> XDPFailureWatch? {
        do {
            let watch = try XDPFailureWatch(program: program)
            logger.debug("counting XDP failures via \(watch.tracepoints.joined(separator: ", "))")
            return watch
        } catch {
            logger.warning("redirect and transmit failures will not be counted: \(error)")
            return nil
        }
    }

    /// The id of the fast-path program this agent runs, once started.
    public var programID: UInt32? { program?.info.id }

    /// Detaches from every port; the kernel forwards alone from here on.
    public func stop() {
        if request.keepOnExit {
            leavePinned()
            links.removeAll()
            program = nil
            return
        }
        for link in links {
            logger.info("port \(link.port): detached, kernel forwarding")
        }
        links.removeAll()
        failureWatch = nil
        program = nil
    }

    /// Refuses ports that already run XDP: another agent's fast path always,
    /// anything else unless --force. Returns what --force will replace.
    private func checkPortsAreFree(_ ports: [Link], adopting: Set<UInt32>) throws -> [UInt32: XDPAttachment] {
        var replacing: [UInt32: XDPAttachment] = [:]
        for port in ports {
            guard let existing = try XDPAttachment.query(ifindex: port.ifindex) else { continue }
            if let running = try RunningFastPath.open(
                programID: existing.programID,
                ports: [.init(name: port.name, ifindex: port.ifindex, mode: existing.mode)]),
               let agent = running.agent {
                throw FibfastError.portServedByAgent(port: port.name, pid: agent.pid)
            }
            if adopting.contains(port.ifindex) { continue }
            guard request.force else {
                let name = (try? programName(id: existing.programID)) ?? "?"
                throw FibfastError.portBusy(port: port.name, program: name, id: existing.programID)
            }
            replacing[port.ifindex] = existing
        }
        return replacing
    }

    private func programName(id: UInt32) throws -> String {
        let fd = bpf_prog_get_fd_by_id(id)
        guard fd >= 0 else { return "?" }
        let owned = OwnedDescriptor(fd)
        return try ProgramInfo.of(programFD: owned.rawValue).name
    }

    /// Fills the maps before any port is attached, so the first frame
    /// already finds its port, its config and its egress.
    func configure(_ maps: FastPathMaps, ports: [Link]) throws {
        var config = ff_config()
        config.fib_flags = request.direct ? UInt32(BPF_FIB_LOOKUP_DIRECT) : 0
        config.agent_pid = UInt32(bitPattern: getpid())
        config.agent_started = UInt64(Date().timeIntervalSince1970)
        try maps.config.update(UInt32(0), config)

        // Ports of an adopted fast path keep their counter rows.
        var slots: [UInt32: UInt32] = [:]
        for ifindex in maps.portInfo.keys(as: UInt32.self) {
            slots[ifindex] = maps.portInfo.lookup(ifindex, as: ff_port_info.self)?.slot
        }
        var free = (0..<UInt32(FF_SLOT_UNKNOWN)).filter { !slots.values.contains($0) }.makeIterator()
        for port in ports {
            guard let slot = slots[port.ifindex] ?? free.next() else { break }
            var info = ff_port_info()
            withUnsafeMutableBytes(of: &info.mac) { $0.copyBytes(from: port.mac) }
            // A port that is down takes no redirects; the netlink side of the
            // agent enables it when it comes up.
            info.flags = port.isUp ? UInt16(FF_PORT_ENABLED) : 0
            info.slot = slot
            try maps.portInfo.update(port.ifindex, info)
            try maps.ports.update(port.ifindex, port.ifindex)
        }
    }
}
