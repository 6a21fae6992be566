import CLibBPF
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
    static func of(_ link: Link, features: NetdevFamily?, assumed: Bool) -> XDPTransmit {
        if assumed { return .supported(because: "--xdp-transmit") }
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
        let driver = Self.driver(of: link.name)
        return decide(kind: link.kind, driver: driver)
    }

    /// The decision on kernels without XDP feature flags, from the device's
    /// kind (virtual devices) and driver name.
    static func decide(kind: String?, driver: String?) -> XDPTransmit {
        if let driver, driversWithTransmit.contains(driver) {
            return .supported(because: "driver \(driver)")
        }
        if let kind, kind != "veth" {
            return .unsupported(because: "\(kind) devices have no XDP transmit path")
        }
        return .unsupported(because: "driver \(driver ?? "unknown") is not known to implement XDP transmit on this kernel (no XDP feature flags before 6.3); pass --xdp-transmit PORT if it does")
    }

    private static func whyNot(_ link: Link) -> String {
        switch link.kind {
        case "veth": return "its veth peer runs neither XDP nor GRO (ethtool -K PEER gro on)"
        case .some(let kind): return "\(kind) devices have no XDP transmit path"
        default: return "its driver has no XDP transmit path"
        }
    }

    /// Drivers that implement ndo_xdp_xmit in Linux 6.1 (Debian 12), the
    /// kernels this list serves; newer kernels report it themselves. A veth
    /// counts although its transmit fails while its peer runs neither XDP
    /// nor GRO: on these kernels nothing says which, and the failures are
    /// counted (`fibfast stats`, failed: redirect).
    static let driversWithTransmit: Set<String> = [
        "veth", "virtio_net", "tun", "ixgbe", "i40e", "ice", "igb", "igc", "mlx5_core",
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
            name.copyBytes(from: Array(port.utf8.prefix(Int(IFNAMSIZ) - 1)))
        }
        let rc = info.withUnsafeMutableBytes { buffer -> Int32 in
            request.ifr_ifru.ifru_data = buffer.baseAddress?.assumingMemoryBound(to: CChar.self)
            return ioctl(fd, 0x8946, &request)  // SIOCETHTOOL
        }
        guard rc == 0 else { return nil }
        let name = String(decoding: info[4..<36].prefix { $0 != 0 }, as: UTF8.self)
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
