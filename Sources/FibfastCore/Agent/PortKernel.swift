import CFastPath
import Glibc

/// What the port table writes into the fast path and asks of the kernel:
/// the port maps, the XDP programs on devices, and the facts about devices
/// that no link event carries (a bond's members, whether a device takes XDP
/// redirects, whether its NIC strips VLAN tags). `KernelPorts` is the real
/// one; unit tests drive PortTable, BondMembers and VLANLowers through a
/// stand-in, without root.
protocol PortKernel: AnyObject {
    /// The entry ff_port_info holds now: only read for an adopted fast
    /// path's counter slots, never to learn what the agent decided.
    func portEntry(_ ifindex: UInt32) -> ff_port_info?
    /// ff_port_info and ff_port_index (FastPathMaps.setPort).
    func setPort(_ ifindex: UInt32, _ info: ff_port_info) throws
    func removePort(_ ifindex: UInt32) throws
    /// The devmap entry through which frames are redirected out of a device.
    func allowRedirects(to ifindex: UInt32) throws
    func refuseRedirects(to ifindex: UInt32) throws
    /// False for a program built before VLAN ports: their entries are skipped.
    var servesVLANs: Bool { get }
    func setVLAN(_ key: ff_vlan_key, _ arrival: ff_vlan_arrival) throws
    func removeVLAN(_ key: ff_vlan_key) throws
    func setVLANEgress(slot: UInt32, _ word: UInt32) throws

    /// The XDP program a device has now, whoever attached it.
    func xdpProgram(on ifindex: UInt32) throws -> XDPAttachment?
    func attach(port: String, ifindex: UInt32, mode: XDPMode) throws -> XDPLink
    /// A bond port's configuration and members as the kernel has them now.
    func bond(_ port: Link) throws -> Bond
    /// Whether redirects from native XDP can leave by the device.
    func transmit(_ device: Link, assumed: Bool, assumedSlaves: Set<String>) -> XDPTransmit
    /// Throws for a device whose NIC takes VLAN tags off before XDP.
    func checkTagsReachXDP(_ device: Link, links: [Link]) throws
    /// Where `transmit` gets its answers, for the start-up log.
    var transmitSource: String { get }
    /// The generic netlink group that announces XDP feature changes.
    var transmitChangeGroup: (family: UInt16, group: UInt32)? { get }
}

/// The port table's kernel side: the maps of the loaded program, libbpf and
/// netlink.
final class KernelPorts: PortKernel {
    private let maps: FastPathMaps
    private let programFD: Int32
    /// The kernel's XDP feature flags; nil before Linux 6.3.
    private let netdev: NetdevFamily?

    init(maps: FastPathMaps, programFD: Int32, netdev: NetdevFamily? = NetdevFamily.open()) {
        self.maps = maps
        self.programFD = programFD
        self.netdev = netdev
    }

    func portEntry(_ ifindex: UInt32) -> ff_port_info? { maps.port(ifindex) }
    func setPort(_ ifindex: UInt32, _ info: ff_port_info) throws { try maps.setPort(ifindex, info) }
    func removePort(_ ifindex: UInt32) throws { try maps.removePort(ifindex) }
    func allowRedirects(to ifindex: UInt32) throws { try maps.ports.update(ifindex, ifindex) }
    func refuseRedirects(to ifindex: UInt32) throws { try maps.ports.delete(ifindex) }

    var servesVLANs: Bool { maps.vlans != nil && maps.vlanEgress != nil }
    func setVLAN(_ key: ff_vlan_key, _ arrival: ff_vlan_arrival) throws { try maps.vlans?.update(key, arrival) }
    func removeVLAN(_ key: ff_vlan_key) throws { try maps.vlans?.delete(key) }
    func setVLANEgress(slot: UInt32, _ word: UInt32) throws { try maps.vlanEgress?.update(slot, word) }

    func xdpProgram(on ifindex: UInt32) throws -> XDPAttachment? { try XDPAttachment.query(ifindex: ifindex) }

    func attach(port: String, ifindex: UInt32, mode: XDPMode) throws -> XDPLink {
        try XDPLink.attach(programFD: programFD, port: port, ifindex: ifindex, mode: mode)
    }

    func bond(_ port: Link) throws -> Bond {
        guard let bond = Bond.read(port, links: try Links.all()) else {
            throw FibfastError.netlink(operation: "reading bond \(port.name)", code: -EIO)
        }
        return bond
    }

    func transmit(_ device: Link, assumed: Bool, assumedSlaves: Set<String>) -> XDPTransmit {
        XDPTransmit.of(device, features: netdev, assumed: assumed, assumedSlaves: assumedSlaves)
    }

    func checkTagsReachXDP(_ device: Link, links: [Link]) throws {
        try VLANCheck.tagsReachXDP(device, links: links)
    }

    var transmitSource: String {
        netdev != nil ? "the kernel's XDP feature flags" : "driver names (this kernel has no XDP feature flags)"
    }

    var transmitChangeGroup: (family: UInt16, group: UInt32)? {
        guard let netdev, let group = netdev.changeGroup else { return nil }
        return (netdev.family.id, group)
    }
}
