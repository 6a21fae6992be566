import CFastPath
import CNetlink
import Glibc
import Logging

/// A VLAN device's 802.1Q settings, as rtnetlink reports them (IFLA_VLAN_*).
public struct VLANLink: Sendable, Equatable {
    public var id: UInt16
    /// TPID in host order: 0x8100 (802.1Q) or 0x88a8 (802.1ad).
    public var proto: UInt16
    /// skb priority a frame arriving with PCP i gets (ingress-qos-map).
    public var ingressPriority: [UInt32]
    /// PCP a frame leaving with skb priority p gets (egress-qos-map); missing: 0.
    public var egressPCP: [UInt32: UInt8]

    init(id: UInt16, proto: UInt16 = 0x8100, ingressPriority: [UInt32] = Array(repeating: 0, count: 8),
         egressPCP: [UInt32: UInt8] = [:]) {
        self.id = id
        self.proto = proto
        self.ingressPriority = ingressPriority
        self.egressPCP = egressPCP
    }

    init?(_ link: OpaquePointer) {
        guard rtnl_link_is_vlan(link) != 0 else { return nil }
        id = UInt16(truncatingIfNeeded: rtnl_link_vlan_get_id(link))
        // libnl keeps IFLA_VLAN_PROTOCOL as the kernel sends it, network order.
        let raw = UInt16(truncatingIfNeeded: rtnl_link_vlan_get_protocol(link))
        proto = raw == 0x8100 || raw == 0x88a8 ? raw : UInt16(bigEndian: raw)
        if let map = rtnl_link_vlan_get_ingress_map(link) {
            ingressPriority = (0..<8).map { map[$0] }
        } else {
            ingressPriority = Array(repeating: 0, count: 8)
        }
        var count: Int32 = 0
        var egress: [UInt32: UInt8] = [:]
        if let map = rtnl_link_vlan_get_egress_map(link, &count) {
            for entry in UnsafeBufferPointer(start: map, count: Int(count)) {
                egress[entry.vm_from] = UInt8(entry.vm_to & 7)
            }
        }
        egressPCP = egress
    }

    /// ff_vlan_egress's word: 3 bits of PCP per priority 0...7.
    var egressWord: UInt32 {
        var word = UInt32(FF_VLAN_EGRESS_LISTED)
        for priority in UInt32(0)..<8 { word = ff_vlan_egress_set_pcp(word, priority, UInt32(egressPCP[priority] ?? 0)) }
        return word
    }
}

/// Checks of VLAN ports and of the devices XDP sees their frames on, made
/// before anything is attached.
enum VLANCheck {
    /// The lower device of each VLAN port among `ports`, checked: present,
    /// Ethernet, and no VLAN over VLAN (QinQ goes to the kernel).
    static func lowers(of ports: [Link], links: [Link], keepOnExit: Bool) throws -> [Link] {
        var lowers: [Link] = []
        for port in ports where port.vlan != nil {
            if keepOnExit {
                throw FibfastError.vlanPort(port: port.name, problem: "--keep-on-exit does not serve VLAN ports yet; attach without it")
            }
            guard let lower = links.first(where: { $0.ifindex == port.linkIfindex }), port.linkNamespaceID == nil else {
                throw FibfastError.vlanPort(port: port.name, problem: "its lower device is not in this namespace")
            }
            if lower.vlan != nil {
                throw FibfastError.vlanPort(port: port.name, problem: "it is stacked on VLAN \(lower.name) (QinQ): the fast path leaves stacked tags to the kernel; attach without it")
            }
            if !lower.isEthernet {
                throw FibfastError.vlanPort(port: port.name, problem: "its lower device \(lower.name) is not Ethernet")
            }
            if !lowers.contains(where: { $0.ifindex == lower.ifindex }) { lowers.append(lower) }
        }
        return lowers
    }

    /// A NIC with receive VLAN offload (rx-vlan-hw-parse) takes the tag off
    /// a frame before XDP sees it: the fast path would forward a tagged
    /// frame as if it had arrived untagged. Refused for every device the
    /// program runs on: a bond's program runs on its slaves, so they are the
    /// ones checked (the bond's own flag only mirrors theirs). veth has no
    /// such offload of its own (its peer's tx-vlan offload does the same;
    /// see docs/safety.md).
    static func tagsReachXDP(_ device: Link, links: [Link]) throws {
        if device.kind == "bond" {
            for slave in links where slave.master == device.ifindex { try tagsReachXDP(slave, links: links) }
            return
        }
        guard device.kind != "veth", rxVLANOffload(device.name) else { return }
        throw FibfastError.vlanTagsStripped(device: device.name)
    }

    /// ETH_FLAG_RXVLAN of ETHTOOL_GFLAGS: NETIF_F_HW_VLAN_CTAG_RX is active.
    static func rxVLANOffload(_ device: String) -> Bool {
        let fd = Sockets.datagram(family: AF_INET)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var value: (UInt32, UInt32) = (0x0000_0025, 0)  // struct ethtool_value, ETHTOOL_GFLAGS
        var request = ifreq()
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { name in
            name.copyBytes(from: Array(device.utf8).prefix(15))
        }
        let rc = withUnsafeMutableBytes(of: &value) { buffer -> Int32 in
            request.ifr_ifru.ifru_data = buffer.baseAddress?.assumingMemoryBound(to: CChar.self)
            return ioctl(fd, 0x8946, &request)  // SIOCETHTOOL
        }
        return rc == 0 && value.1 & (1 << 8) != 0  // ETH_FLAG_RXVLAN
    }
}

/// The devices under VLAN ports that the operator did not name as ports
/// themselves: the program runs on them (that is where tagged frames arrive
/// and where they leave), they have a counter row, and their own untagged
/// traffic stays with the kernel (listed, never enabled).
final class VLANLowers {
    struct Lower {
        var link: Link
        var slot: UInt32
        var xdp: XDPLink?
    }

    private(set) var lowers: [UInt32: Lower] = [:]
    /// Every device seen, for the state of lower devices.
    private var links: [UInt32: Link] = [:]
    /// Each VLAN port's ff_vlans key, as last written.
    private var keys: [UInt32: ff_vlan_key] = [:]
    private let kernel: PortKernel
    private let mode: XDPMode
    private let logger: Logger

    init(kernel: PortKernel, mode: XDPMode, logger: Logger) {
        self.kernel = kernel
        self.mode = mode
        self.logger = logger
    }

    func seen(_ link: Link) { links[link.ifindex] = link }
    func seen(_ all: [Link]) { for link in all { links[link.ifindex] = link } }
    func gone(_ ifindex: UInt32) { links[ifindex] = nil }
    func link(_ ifindex: UInt32) -> Link? { links[ifindex] }
    func mode(of ifindex: UInt32) -> XDPMode? { lowers[ifindex]?.xdp?.mode }

    /// Attaches to the lower devices `needed` that are not attached yet and
    /// lets go of those no VLAN port needs any more. `used` are the slots
    /// the named ports hold.
    func sync(needed: Set<UInt32>, used: Set<UInt32>) throws {
        for (ifindex, lower) in lowers where !needed.contains(ifindex) {
            try? kernel.refuseRedirects(to: ifindex)
            try? kernel.removePort(ifindex)
            lowers[ifindex] = nil
            logger.info("\(lower.link.name): no VLAN port on it left: detached, kernel forwarding")
        }
        for ifindex in needed.sorted() where lowers[ifindex] == nil {
            guard let link = links[ifindex] else { continue }
            try kernel.checkTagsReachXDP(link, links: Array(links.values))
            let taken = used.union(lowers.values.map(\.slot))
            guard let slot = (0..<UInt32(FF_SLOT_UNKNOWN)).reversed().first(where: { !taken.contains($0) }) else { continue }
            if let existing = try kernel.xdpProgram(on: ifindex) {
                throw FibfastError.portBusy(port: link.name, program: "another", id: existing.programID)
            }
            var info = ff_port_info()
            withUnsafeMutableBytes(of: &info.mac) { $0.copyBytes(from: link.mac.prefix(6)) }
            info.slot = slot
            try kernel.setPort(ifindex, info)
            try kernel.allowRedirects(to: ifindex)
            let xdp = try kernel.attach(port: link.name, ifindex: ifindex, mode: mode)
            lowers[ifindex] = Lower(link: link, slot: slot, xdp: xdp)
            logger.info("\(link.name) (ifindex \(ifindex)) carries VLAN ports: attached in \(xdp.mode) mode; its untagged traffic stays with the kernel")
        }
    }

    /// Writes a VLAN port's tag lookup and egress priorities. The ingress
    /// entry exists only while the port is enabled: then a tagged frame of
    /// a port that is down goes to the kernel, which drops it.
    func write(port link: Link, slot: UInt32, enabled: Bool) throws {
        guard let vlan = link.vlan, kernel.servesVLANs else { return }
        var key = ff_vlan_key()
        key.ifindex = link.linkIfindex
        key.proto = vlan.proto.bigEndian
        key.vid = vlan.id
        if let old = keys[link.ifindex], old.ifindex != key.ifindex || old.vid != key.vid || old.proto != key.proto {
            try? kernel.removeVLAN(old)
        }
        try kernel.setVLANEgress(slot: slot, vlan.egressWord)
        if enabled && vlan.id != 0 {
            var arrival = ff_vlan_arrival()
            arrival.ifindex = link.ifindex
            withUnsafeMutableBytes(of: &arrival.ingress_priority) { buffer in
                for (i, priority) in vlan.ingressPriority.prefix(8).enumerated() {
                    buffer.storeBytes(of: priority, toByteOffset: 4 * i, as: UInt32.self)
                }
            }
            try kernel.setVLAN(key, arrival)
            keys[link.ifindex] = key
        } else {
            try? kernel.removeVLAN(key)
            keys[link.ifindex] = nil
        }
    }

    func forget(port ifindex: UInt32) {
        if let key = keys.removeValue(forKey: ifindex) { try? kernel.removeVLAN(key) }
    }
}

/// VLAN ports in the port table: a VLAN port has no program of its own
/// (VLAN devices have no XDP receive or transmit path of their own); its
/// entry names the lower device and tag, and the lower device runs the
/// program, as a named port or as one of `lowers`.
extension PortTable {
    /// The mode the program runs in on a device, whoever attached it.
    func attachMode(of ifindex: UInt32) -> XDPMode? {
        ports.first { $0.link?.ifindex == ifindex }?.xdp?.mode ?? lowers.mode(of: ifindex)
    }

    /// Attaches to lower devices not named as ports; at start, where a
    /// failure stops everything.
    func attachLowers() throws {
        try lowers.sync(needed: neededLowers, used: Set(ports.map(\.slot)))
        for index in ports.indices where ports[index].link?.vlan != nil { rewrite(index) }
    }

    /// The same while running, where a failure is logged.
    func syncLowers() {
        do { try lowers.sync(needed: neededLowers, used: Set(ports.map(\.slot))) } catch {
            logger.error("attaching to a VLAN port's lower device failed, its VLAN ports' traffic stays with the kernel: \(error)")
        }
    }

    private var neededLowers: Set<UInt32> {
        let named = Set(ports.compactMap { $0.link?.vlan == nil ? $0.link?.ifindex : nil })
        return Set(ports.compactMap { $0.link?.vlan != nil ? $0.link?.linkIfindex : nil }).subtracting(named)
    }

    /// A VLAN port's entry: its tag, and where its frames leave. The lower
    /// device's devmap entry belongs to the lower device (VLANLowers, or the
    /// named port it is).
    func writeVLAN(_ link: Link, _ info: inout ff_port_info, enabled: Bool) throws {
        guard let vlan = link.vlan else { return }
        info.transmit_ifindex = link.linkIfindex
        info.vlan_proto = vlan.proto.bigEndian
        info.vlan_id = vlan.id
        try kernel.setPort(link.ifindex, info)
        try lowers.write(port: link, slot: info.slot, enabled: enabled)
    }
}
