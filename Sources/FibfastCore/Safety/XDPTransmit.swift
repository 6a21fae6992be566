import CLibBPF
import CNetlink
import Glibc

/// Whether a frame redirected from native XDP can leave by a port.
///
/// A redirect hands the frame to the egress driver's XDP transmit function
/// (ndo_xdp_xmit). VLAN, macvlan, bridge and tunnel devices have none, and a
/// veth has one only while its peer runs XDP or GRO: a redirect to any of
/// them fails and the frame is lost, where the kernel alone would have
/// delivered it. The fast path redirects to a port only when this says yes;
/// otherwise the kernel forwards what is routed there.
public enum XDPTransmit: Sendable, Equatable, CustomStringConvertible {
    case supported(because: String)
    case unsupported(because: String)

    public var isSupported: Bool {
        if case .supported = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .supported(let reason): return "yes (\(reason))"
        case .unsupported(let reason): return "no: \(reason)"
        }
    }

    /// What the kernel says of a device: its XDP feature flags (kernel 6.3
    /// and later), else its driver, from a list of drivers known to
    /// implement XDP transmit in the kernels before feature flags existed.
    /// `assumed` is the operator's --xdp-transmit, which wins.
    /// `assumedSlaves`: the names the operator vouched for, for a bond's slaves.
    static func of(_ link: Link, features: NetdevFamily?, assumed: Bool,
                   assumedSlaves: Set<String> = []) -> XDPTransmit {
        if assumed { return .supported(because: "--xdp-transmit") }
        if link.kind == "bond" { return ofBond(link, features: features, assumed: assumedSlaves) }
        if let features {
            switch features.xdpFeatures(ifindex: link.ifindex) {
            case .some(let flags) where flags & NetdevFamily.ndoXmit != 0:
                return .supported(because: "kernel XDP features")
            case .some:
                return .unsupported(because: whyNot(link))
            case .none:
                return .unsupported(because: "the kernel did not report its XDP features")
            }
        }
        return withoutFeatureFlags(link)
    }

    /// The answer on kernels without XDP feature flags (before 6.3), also
    /// run by tests on newer ones.
    public static func withoutFeatureFlags(_ link: Link) -> XDPTransmit {
        if link.kind == "bond" { return ofBond(link, features: nil, assumed: []) }
        return decide(kind: link.kind, driver: driver(of: link.name),
               vethPeerRunsXDP: link.kind == "veth" ? peerRunsXDP(link) : nil)
    }

    /// The decision from the device's kind (virtual devices), driver name
    /// and, for a veth, whether its peer runs XDP. Whether a veth's peer runs
    /// GRO, the other way it takes redirects, cannot be asked across
    /// namespaces on these kernels, so a veth without an XDP peer counts as
    /// unable: the kernel forwards, slower but never lost.
    public static func decide(kind: String?, driver: String?, vethPeerRunsXDP: Bool?) -> XDPTransmit {
        if kind == "veth" {
            return vethPeerRunsXDP == true
                ? .supported(because: "its veth peer runs XDP")
                : .unsupported(because: "this kernel cannot say whether its veth peer runs GRO (XDP feature flags came in 6.3) and the peer runs no XDP; pass --xdp-transmit PORT if the peer runs GRO")
        }
        if let driver, driversWithTransmit.contains(driver) {
            return .supported(because: "driver \(driver)")
        }
        if let kind {
            return .unsupported(because: noTransmitPath(kind))
        }
        return .unsupported(because: "driver \(driver ?? "unknown") is not known to implement XDP transmit on this kernel (XDP feature flags came in 6.3); pass --xdp-transmit PORT if it does")
    }

    private static func noTransmitPath(_ kind: String) -> String { "\(kind) devices have no XDP transmit path" }

    /// Whether the device a veth is paired with has an XDP program, asked
    /// in the peer's namespace by its id (IFLA_TARGET_NETNSID); nil when
    /// the kernel does not say.
    static func peerRunsXDP(_ link: Link) -> Bool? {
        guard link.linkIfindex != 0 else { return nil }
        var body = [UInt8](repeating: 0, count: 16)             // struct ifinfomsg
        withUnsafeBytes(of: Int32(bitPattern: link.linkIfindex)) { body.replaceSubrange(4..<8, with: $0) }
        if let namespace = link.linkNamespaceID {
            var id = [UInt8]()
            GenericNetlink.append(&id, namespace)
            body += GenericNetlink.attribute(UInt16(IFLA_IF_NETNSID), id)
        }
        guard let answer = try? GenericNetlink.exchange(protocol: NETLINK_ROUTE, type: UInt16(RTM_GETLINK), body: body).first,
              answer.count >= 16
        else { return nil }
        let attributes = GenericNetlink.parse(Array(answer[16...]))
        guard let xdp = attributes[UInt16(IFLA_XDP)] else { return false }
        let attached = GenericNetlink.parse(xdp)[UInt16(IFLA_XDP_ATTACHED)]?.first ?? 0
        return attached != 0  // XDP_ATTACHED_NONE
    }

    private static func whyNot(_ link: Link) -> String {
        switch link.kind {
        case "veth": return "its veth peer runs neither XDP nor GRO (ethtool -K PEER gro on)"
        case .some(let kind): return noTransmitPath(kind)
        default: return "its driver has no XDP transmit path"
        }
    }

    /// Drivers of physical and paravirtual NICs that implement ndo_xdp_xmit
    /// in Linux 6.1 (Debian 12), the kernels this list serves; newer kernels
    /// report it themselves.
    static let driversWithTransmit: Set<String> = [
        "virtio_net", "tun", "ixgbe", "i40e", "ice", "igb", "igc", "mlx5_core",
        "bnxt_en", "ena", "sfc", "qede", "mvneta", "mvpp2", "hv_netvsc",
    ]

    /// The driver name `ethtool -i` shows (ETHTOOL_GDRVINFO), nil if the
    /// device does not say.
    static func driver(of port: String) -> String? {
        let fd = Sockets.datagram(family: AF_INET)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // struct ethtool_drvinfo: cmd, then driver[32], then more we ignore.
        var info = [UInt8](repeating: 0, count: 196)
        withUnsafeBytes(of: UInt32(0x0000_0003)) { info.replaceSubrange(0..<4, with: $0) }  // ETHTOOL_GDRVINFO
        var request = ifreq()
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { name in
            name.copyBytes(from: Array(port.utf8).prefix(15))  // IFNAMSIZ - 1
        }
        let rc = info.withUnsafeMutableBytes { buffer -> Int32 in
            request.ifr_ifru.ifru_data = buffer.baseAddress?.assumingMemoryBound(to: CChar.self)
            return ioctl(fd, 0x8946, &request)  // SIOCETHTOOL
        }
        guard rc == 0 else { return nil }
        let name = String(decoding: info[4..<36].prefix(while: { $0 != 0 }), as: UTF8.self)
        return name.isEmpty ? nil : name
    }
}

/// The kernel's "netdev" generic netlink family (Linux 6.3 and later): per
/// device XDP feature flags, and a "mgmt" group announcing their changes (a
/// veth's change whenever its peer gains or loses XDP or GRO).
struct NetdevFamily: Sendable {
    static let ndoXmit: UInt64 = 1 << 2      // NETDEV_XDP_ACT_NDO_XMIT
    private static let getDevice: UInt8 = 1  // NETDEV_CMD_DEV_GET
    private static let ifindex: UInt16 = 1   // NETDEV_A_DEV_IFINDEX
    private static let features: UInt16 = 3 // NETDEV_A_DEV_XDP_FEATURES

    let family: GenericNetlink.Family

    /// nil on kernels without the family (before 6.3).
    static func open() -> NetdevFamily? {
        (try? GenericNetlink.family("netdev")).flatMap { $0.map(NetdevFamily.init) }
    }

    /// The id of the group that announces feature changes.
    var changeGroup: UInt32? { family.groups["mgmt"] }

    /// NETDEV_XDP_ACT_* flags of a device; nil if the kernel did not answer.
    func xdpFeatures(ifindex: UInt32) -> UInt64? {
        var index = [UInt8]()
        GenericNetlink.append(&index, ifindex)
        guard let answer = try? GenericNetlink.request(family: family.id, command: Self.getDevice,
                                                       attributes: [(Self.ifindex, index)]).first,
              let bytes = answer[Self.features]
        else { return nil }
        return GenericNetlink.integer(bytes, as: UInt64.self)
    }
}
