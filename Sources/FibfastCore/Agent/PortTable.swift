import CFastPath
import Foundation
import Logging

/// The ports the operator named, as the fast path sees them: which device
/// (ifindex) each name is now, whether it takes part (ff_port_info flag and
/// devmap entry), and the XDP link that attaches the program to it.
///
/// A port is identified by its name: a device deleted and created again
/// under the same name is a new ifindex and is attached again; its counter
/// slot stays the same.
final class PortTable {
    struct Port {
        let name: String
        var slot: UInt32
        var link: Link?
        var xdp: XDPLink?
        var enabled = false
        /// FF_PORT_RPF_* bits, as the safety watch last decided.
        var reversePath: UInt16 = 0
        /// Whether redirects from native XDP can leave by it.
        var transmit: XDPTransmit?
        /// tc on the port that XDP would bypass; while there is any, the
        /// port's traffic, both ways, is the kernel's.
        var trafficControl: [TrafficControlFinding] = []
    }

    private(set) var ports: [Port]
    /// The maps and devices (KernelPorts), or a stand-in in unit tests.
    let kernel: PortKernel
    private let mode: XDPMode
    let logger: Logger
    /// Ports the operator vouched for with --xdp-transmit.
    private let assumedTransmit: Set<String>
    /// The devices under VLAN ports (VLANPorts.swift).
    let lowers: VLANLowers
    private let bondMembers: BondMembers

    init(names: [String], kernel: PortKernel, mode: XDPMode, logger: Logger, assumedTransmit: Set<String> = []) {
        ports = names.enumerated().map { Port(name: $1, slot: UInt32($0)) }
        self.kernel = kernel
        self.mode = mode
        self.logger = logger
        self.assumedTransmit = assumedTransmit
        lowers = VLANLowers(kernel: kernel, mode: mode, logger: logger)
        bondMembers = BondMembers(kernel: kernel, logger: logger)
    }

    /// Where the transmit check gets its answers, for the start-up log.
    var transmitSource: String { kernel.transmitSource }

    /// The id of the generic netlink group that announces XDP feature
    /// changes, to follow them.
    var transmitChangeGroup: (family: UInt16, group: UInt32)? { kernel.transmitChangeGroup }

    func transmit(ifindex: UInt32) -> XDPTransmit? {
        ports.first { $0.link?.ifindex == ifindex }?.transmit
    }

    /// The ifindexes of ports that exist and have the program attached.
    var attachedIfindexes: Set<UInt32> {
        Set(ports.compactMap { $0.xdp != nil ? $0.link?.ifindex : nil })
    }

    func isEnabled(ifindex: UInt32) -> Bool {
        ports.contains { $0.link?.ifindex == ifindex && $0.enabled }
    }

    func name(ifindex: UInt32) -> String? {
        ports.first { $0.link?.ifindex == ifindex }?.name
    }

    /// Fills ff_port_info for every port before any is attached, so the
    /// first frame already finds its port; the devmap only gets ports that
    /// are up. Ports of an adopted (pinned) fast path keep their counter rows.
    func configure(_ links: [Link]) throws {
        var kept: [Int: UInt32] = [:]
        for index in ports.indices {
            if let link = links.first(where: { $0.name == ports[index].name }),
               let info = kernel.portEntry(link.ifindex) {
                kept[index] = info.slot
            }
        }
        var free = (0..<UInt32(FF_SLOT_UNKNOWN)).filter { !kept.values.contains($0) }.makeIterator()
        for index in ports.indices {
            ports[index].slot = kept[index] ?? free.next() ?? UInt32(FF_SLOT_UNKNOWN)
        }
        lowers.seen(links)
        for index in ports.indices {
            guard let link = links.first(where: { $0.name == ports[index].name }) else { continue }
            ports[index].link = link
            try writeInfo(index)
        }
    }

    /// Takes over the links made by the first attach. The attach mode is
    /// known from here on, and a generic-mode port may redirect anywhere.
    func adopt(_ link: XDPLink) {
        guard let index = ports.firstIndex(where: { $0.link?.ifindex == link.ifindex }) else { return }
        ports[index].xdp = link
        rewrite(index)
    }

    /// The safety watch's rp_filter decision for a port.
    func setReversePath(ifindex: UInt32, flags: UInt16) {
        guard let index = ports.firstIndex(where: { $0.link?.ifindex == ifindex }),
              ports[index].reversePath != flags
        else { return }
        ports[index].reversePath = flags
        rewrite(index)
    }

    /// What the tc check found on a port; an empty list hands it back to
    /// the fast path.
    func setTrafficControl(port name: String, _ findings: [TrafficControlFinding]) {
        guard let index = ports.firstIndex(where: { $0.name == name }),
              ports[index].trafficControl != findings
        else { return }
        let was = !ports[index].trafficControl.isEmpty
        ports[index].trafficControl = findings
        rewrite(index)
        if findings.isEmpty {
            logger.notice("port \(name): no tc left that XDP would bypass: back in the fast path")
        } else if !was {
            logger.warning("port \(name) stepped aside: \(findings.map(\.what).joined(separator: ", ")); the kernel forwards what arrives on it and what is routed out of it (or pass --bypass-tc)")
        }
    }

    /// Asks again whether each port can take redirects (the kernel
    /// announced a change of XDP features).
    func recheckTransmit() {
        for index in ports.indices { rewrite(index) }
    }

    /// A link appeared or changed. Returns true when a port's reachability
    /// changed (up/down, new device), which may have moved routes.
    @discardableResult
    func update(_ link: Link) -> Bool {
        lowers.seen(link)
        defer { syncLowers() }
        for index in ports.indices where ports[index].link?.vlan != nil && ports[index].link?.linkIfindex == link.ifindex {
            rewrite(index)
        }
        if let bond = bondMembers.bond(of: link) { memberChanged(bond) }
        if let index = ports.firstIndex(where: { $0.link?.ifindex == link.ifindex }) {
            if ports[index].name != link.name {
                logger.info("port \(ports[index].name) renamed to \(link.name): removed from the fast path")
                forget(index)
                return true
            }
            return change(index, to: link)
        }
        guard let index = ports.firstIndex(where: { $0.name == link.name }) else { return false }
        if let old = ports[index].link {
            // Same name, new device, and the old one's deletion not seen (yet).
            logger.info("port \(link.name) is now ifindex \(link.ifindex) (was \(old.ifindex))")
            forget(index)
        }
        attach(index, link)
        return true
    }

    /// A link was deleted. Returns true when it was one of the ports.
    @discardableResult
    func remove(ifindex: UInt32) -> Bool {
        lowers.gone(ifindex)
        defer { syncLowers() }
        if let bond = bondMembers.bond(of: ifindex) { memberChanged(bond) }
        guard let index = ports.firstIndex(where: { $0.link?.ifindex == ifindex }) else { return false }
        let others = ports.indices.filter { $0 != index && ports[$0].enabled }.map { ports[$0].name }
        logger.warning("port \(ports[index].name) deleted: removed from the fast path, attached again if it comes back; \(others.isEmpty ? "no port left forwarding" : "still forwarding on " + others.joined(separator: ", "))")
        forget(index)
        return true
    }

    /// Brings the table in line with a full link dump.
    @discardableResult
    func reconcile(_ links: [Link]) -> Bool {
        var changed = false
        for index in ports.indices {
            if let current = ports[index].link, !links.contains(where: { $0.ifindex == current.ifindex && $0.name == current.name }) {
                changed = remove(ifindex: current.ifindex) || changed
            }
        }
        for link in links where ports.contains(where: { $0.name == link.name }) {
            changed = update(link) || changed
        }
        return changed
    }

    /// The devices the ports are now, for checks that follow each port
    /// (rp_filter) across a re-creation.
    var currentLinks: [Link] { ports.compactMap(\.link) }

    var names: [String] { ports.map(\.name) }

    /// Closes this process's link descriptors without logging a detach:
    /// pinned links (--keep-on-exit) stay attached after their last
    /// descriptor closes.
    func releaseLinks() {
        for index in ports.indices { ports[index].xdp = nil }
    }

    /// Detaches from every port.
    func detachAll() {
        for index in ports.indices where ports[index].xdp != nil {
            logger.info("port \(ports[index].name): detached, kernel forwarding")
            ports[index].xdp = nil
        }
    }

    // MARK: - Changes

    private func change(_ index: Int, to link: Link) -> Bool {
        guard let old = ports[index].link else { return false }
        ports[index].link = link
        let name = link.name
        if old.mtu != link.mtu {
            logger.info("port \(name) MTU \(old.mtu) -> \(link.mtu): packets larger than that go to the kernel (fragmentation or ICMP)")
        }
        if old.mac != link.mac {
            logger.info("port \(name) MAC address now \(MACAddress.text(link.mac)): fast path follows")
        }
        VRFPorts.logMove(port: name, from: old, to: link, logger: logger)
        let wasEnabled = ports[index].enabled
        rewrite(index)
        return wasEnabled != ports[index].enabled || old.vrf != link.vrf
    }

    /// A bond port's member changed: its entries, and whether the bond
    /// takes redirects, follow.
    private func memberChanged(_ bond: UInt32) {
        if let index = ports.firstIndex(where: { $0.link?.ifindex == bond }) { rewrite(index) }
    }

    func rewrite(_ index: Int) {
        do { try writeInfo(index) } catch {
            logger.error("port \(ports[index].name): updating the fast path failed: \(error)")
        }
    }

    private func attach(_ index: Int, _ link: Link) {
        ports[index].link = link
        do {
            if let existing = try kernel.xdpProgram(on: link.ifindex) {
                logger.error("port \(link.name) (ifindex \(link.ifindex)) came back with XDP program id \(existing.programID) on it: left alone, not in the fast path")
                ports[index].link = nil
                return
            }
            try writeInfo(index)
            if link.vlan != nil {
                logger.info("VLAN port \(link.name) (ifindex \(link.ifindex)) appeared: \(ports[index].enabled ? "in the fast path" : "waiting for it to come up")")
                return
            }
            ports[index].xdp = try kernel.attach(port: link.name, ifindex: link.ifindex, mode: mode)
            logger.info("port \(link.name) (ifindex \(link.ifindex)) appeared: attached in \(ports[index].xdp!.mode) mode, \(ports[index].enabled ? "in the fast path" : "waiting for it to come up")")
        } catch {
            logger.error("port \(link.name) (ifindex \(link.ifindex)): attaching failed, its traffic stays with the kernel: \(error)")
            forget(index)
        }
    }

    /// Asks whether redirects can leave by the port, and says so when the
    /// answer changes: from then on its routed traffic goes to the kernel,
    /// or comes back to the fast path.
    private func checkTransmit(_ index: Int, _ link: Link) {
        let transmit = kernel.transmit(link,
                                       assumed: assumedTransmit.contains(link.name) || assumedTransmit.contains(ports[index].name),
                                       assumedSlaves: assumedTransmit)
        let previous = ports[index].transmit
        guard transmit != previous else { return }
        ports[index].transmit = transmit
        switch transmit {
        case .supported(let reason) where previous != nil:
            logger.info("port \(link.name) takes XDP redirects again (\(reason)): traffic routed out of it is forwarded in XDP")
        case .unsupported(let reason):
            logger.notice("port \(link.name) cannot take XDP redirects (\(reason)): the kernel forwards traffic routed out of it\(mode == .generic ? "" : " from native-mode ports")")
        default:
            break
        }
    }

    /// Drops the port's device: map entries out, link closed (the old
    /// device, if it still exists, goes back to the kernel).
    private func forget(_ index: Int) {
        if let link = ports[index].link {
            bondMembers.forget(link.ifindex)
            try? kernel.refuseRedirects(to: link.ifindex)
            try? kernel.removePort(link.ifindex)
            lowers.forget(port: link.ifindex)
        }
        ports[index].link = nil
        ports[index].xdp = nil
        ports[index].enabled = false
        // A device created again under the name is checked afresh.
        ports[index].transmit = nil
        ports[index].trafficControl = []
    }

    /// Writes the port's ff_port_info and its devmap entry from its link
    /// and what the agent decided about it; nothing is read back from the
    /// map. Ports that are down or without carrier take no redirects: the
    /// kernel forwards (or drops) their traffic as it would without us.
    private func writeInfo(_ index: Int) throws {
        guard let link = ports[index].link else { return }
        // A VLAN port's frames arrive on and leave by its lower device.
        let device = link.vlan == nil ? link : lowers.link(link.linkIfindex)
        let enabled = link.isUp && link.isRunning && device?.isUp == true && device?.isRunning == true
        if let device { checkTransmit(index, device) }
        let port = ports[index]
        var flags = port.reversePath
        if enabled { flags |= UInt16(FF_PORT_ENABLED) }
        if port.transmit?.isSupported == true { flags |= UInt16(FF_PORT_XDP_TRANSMIT) }
        if attachMode(of: device?.ifindex ?? link.ifindex) == .generic { flags |= UInt16(FF_PORT_GENERIC) }
        if !port.trafficControl.isEmpty { flags |= UInt16(FF_PORT_STEPPED_ASIDE) }
        var info = ff_port_info()
        withUnsafeMutableBytes(of: &info.mac) { $0.copyBytes(from: link.mac.prefix(6)) }
        info.flags = flags
        info.slot = ports[index].slot
        info.source_ifindex = link.vrf
        if link.vlan != nil {
            try writeVLAN(link, &info, enabled: enabled)
        } else if enabled {
            try kernel.allowRedirects(to: link.ifindex)
            try kernel.setPort(link.ifindex, info)
        } else {
            try kernel.setPort(link.ifindex, info)
            try kernel.refuseRedirects(to: link.ifindex)
        }
        try bondMembers.write(link, slot: info.slot)
        let was = ports[index].enabled
        ports[index].enabled = enabled
        if was != enabled && (ports[index].xdp != nil || link.vlan != nil) {
            if enabled {
                logger.info("port \(link.name) up: back in the fast path")
            } else {
                logger.info("port \(link.name) \(link.isUp ? "lost carrier" : "down"): removed from the fast path, its traffic goes to the kernel")
            }
        }
    }
}

