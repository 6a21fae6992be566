import CNetlink
import Glibc

/// A network interface as the kernel describes it right now.
public struct Link: Sendable, Equatable {
    public var name: String
    public var ifindex: UInt32
    public var mac: [UInt8]
    public var linkType: UInt32
    public var flags: UInt32
    public var mtu: UInt32
    /// The driver kind for virtual devices ("veth", "macvlan", ...); nil for hardware.
    public var kind: String?
    /// The device it is paired with (a veth's peer) or stacked on (a VLAN's
    /// lower device), IFLA_LINK; 0 for none.
    public var linkIfindex: UInt32 = 0
    /// The namespace of that device, as this namespace numbers it
    /// (IFLA_LINK_NETNSID); nil when it is in this namespace.
    public var linkNamespaceID: Int32?
    /// The device it is enslaved to (a bond member's bond), IFLA_MASTER; 0 for none.
    public var master: UInt32 = 0

    public var isUp: Bool { flags & UInt32(IFF_UP) != 0 }
    public var isRunning: Bool { flags & UInt32(IFF_RUNNING) != 0 }
    public var isLoopback: Bool { flags & UInt32(IFF_LOOPBACK) != 0 }
    public var isEthernet: Bool { linkType == 1 /* ARPHRD_ETHER */ && mac.count == 6 }

    public init(name: String, ifindex: UInt32, mac: [UInt8], linkType: UInt32, flags: UInt32, mtu: UInt32) {
        self.name = name
        self.ifindex = ifindex
        self.mac = mac
        self.linkType = linkType
        self.flags = flags
        self.mtu = mtu
    }
}

/// An address configured on an interface.
public struct InterfaceAddress: Sendable, Equatable {
    public var ifindex: UInt32
    public var family: AddressFamily
    public var bytes: [UInt8]
    public var prefixLength: Int

    public init(ifindex: UInt32, family: AddressFamily, bytes: [UInt8], prefixLength: Int) {
        self.ifindex = ifindex
        self.family = family
        self.bytes = bytes
        self.prefixLength = prefixLength
    }

    /// fe80::/10 exists on every IPv6 interface and says nothing about
    /// whether the box routes IPv6.
    public var isLinkLocal: Bool {
        family == .ipv6 && bytes.count == 16 && bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80
    }
}

extension Link {
    init(_ link: OpaquePointer) {
        self.init(
            name: String(cString: rtnl_link_get_name(link)),
            ifindex: UInt32(bitPattern: rtnl_link_get_ifindex(link)),
            mac: Netlink.bytes(of: rtnl_link_get_addr(link)),
            linkType: rtnl_link_get_arptype(link),
            flags: rtnl_link_get_flags(link),
            mtu: rtnl_link_get_mtu(link))
        kind = rtnl_link_get_type(link).map { String(cString: $0) }
        linkIfindex = UInt32(bitPattern: rtnl_link_get_link(link))
        master = UInt32(bitPattern: rtnl_link_get_master(link))
        var namespaceID: Int32 = 0
        if rtnl_link_get_link_netnsid(link, &namespaceID) == 0 { linkNamespaceID = namespaceID }
    }
}

public enum Links {
    /// Every link in this network namespace, from one netlink dump.
    public static func all() throws -> [Link] {
        var links: [Link] = []
        try Dump.links(restart: { links.removeAll() }) { links.append($0) }
        return links.sorted { $0.ifindex < $1.ifindex }
    }

    /// Every IPv4 and IPv6 address in this network namespace, from one netlink dump.
    public static func addresses() throws -> [InterfaceAddress] {
        var addresses: [InterfaceAddress] = []
        try Dump.addresses(restart: { addresses.removeAll() }) { addresses.append($0) }
        return addresses
    }
}
