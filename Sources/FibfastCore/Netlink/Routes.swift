import CNetlink
import Glibc

/// One way out of a route: a gateway (or none, for a connected network)
/// on an interface.
public struct Nexthop: Sendable, Equatable {
    public var gateway: IPAddress?
    public var ifindex: UInt32
}

/// A route as the kernel reports it, reduced to what fibfast needs.
public struct Route: Sendable, Equatable, CustomStringConvertible {
    public var family: AddressFamily
    /// nil for a default route.
    public var destination: IPAddress?
    public var prefixLength: UInt8
    public var table: UInt32
    public var priority: UInt32
    public var tos: UInt8
    /// RTN_* (1 = unicast, 2 = local).
    public var type: UInt8
    /// Who added it, RTPROT_* (2 = the kernel itself).
    public var origin: UInt8 = 0
    public var nexthops: [Nexthop]

    static let unicast: UInt8 = 1

    public var prefix: String {
        guard let destination, prefixLength > 0 else { return "default" }
        return "\(destination)/\(prefixLength)"
    }

    public var description: String {
        var text = prefix
        for hop in nexthops {
            if nexthops.count > 1 { text += " nexthop" }
            if let gateway = hop.gateway { text += " via \(gateway)" }
            text += " dev " + Interfaces.name(hop.ifindex)
        }
        if table != 254 { text += " table \(Route.tableName(table))" }
        if priority != 0 { text += " metric \(priority)" }
        return text
    }

    public static func tableName(_ table: UInt32) -> String {
        switch table {
        case 254: return "main"
        case 255: return "local"
        case 253: return "default"
        default: return "\(table)"
        }
    }

    init?(_ route: OpaquePointer) {
        guard let family = AddressFamily(kernel: Int32(rtnl_route_get_family(route))) else { return nil }
        // Cached clones (PMTU exceptions, redirects) are no routes of their own.
        if rtnl_route_get_flags(route) & UInt32(RTM_F_CLONED) != 0 { return nil }
        self.family = family
        let dst = rtnl_route_get_dst(route)
        prefixLength = dst.map { UInt8(truncatingIfNeeded: nl_addr_get_prefixlen($0)) } ?? 0
        destination = IPAddress(bytes: Netlink.bytes(of: dst))
        table = rtnl_route_get_table(route)
        priority = rtnl_route_get_priority(route)
        tos = rtnl_route_get_tos(route)
        type = rtnl_route_get_type(route)
        origin = rtnl_route_get_protocol(route)
        var hops: [Nexthop] = []
        let count = rtnl_route_get_nnexthops(route)
        if count > 0 {
            hops.reserveCapacity(Int(count))
            for n in 0..<count {
                guard let hop = rtnl_route_nexthop_n(route, n) else { continue }
                hops.append(Nexthop(
                    gateway: IPAddress(bytes: Netlink.bytes(of: rtnl_route_nh_get_gateway(hop))),
                    ifindex: UInt32(bitPattern: rtnl_route_nh_get_ifindex(hop))))
            }
        }
        nexthops = hops
    }

    public init(family: AddressFamily, destination: IPAddress?, prefixLength: UInt8, table: UInt32 = 254,
                priority: UInt32 = 0, tos: UInt8 = 0, type: UInt8 = 1, nexthops: [Nexthop]) {
        self.family = family
        self.destination = destination
        self.prefixLength = prefixLength
        self.table = table
        self.priority = priority
        self.tos = tos
        self.type = type
        self.nexthops = nexthops
    }
}

/// Interface names for log lines, from the kernel (if_indextoname).
enum Interfaces {
    static func name(_ ifindex: UInt32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(ifindex, &buffer) != nil else { return "if\(ifindex)" }
        return String(cString: buffer)
    }
}
