import CNetlink
import Glibc

/// The kernel's own answer for a destination: what `ip route get` prints.
public struct KernelRoute: Sendable, Equatable, Codable {
    /// unicast, local, broadcast, unreachable, blackhole, prohibit, ...;
    /// nil when the kernel refused the lookup (see `error`).
    public var type: String?
    public var device: String?
    public var ifindex: UInt32?
    public var gateway: IPAddress?
    public var preferredSource: IPAddress?
    /// The kernel's reason when it has no route: "Network is unreachable".
    public var error: String?

    /// The kernel's answer from the parts of its RTM_NEWROUTE reply: the
    /// route type (RTN_*), the first next hop and the preferred source.
    /// Addresses of another family than the destination's are left out,
    /// as are ifindexes of 0; devices are named from `names`, by number
    /// when missing.
    init(family: AddressFamily, type: UInt8, firstHop: Nexthop?, preferredSource: IPAddress?,
         names: [UInt32: String]) {
        var buffer = [CChar](repeating: 0, count: 32)
        self.type = String(cString: nl_rtntype2str(Int32(type), &buffer, buffer.count))
        if let hop = firstHop {
            if hop.ifindex != 0 {
                ifindex = hop.ifindex
                device = names[hop.ifindex] ?? "if\(hop.ifindex)"
            }
            gateway = hop.gateway?.family == family ? hop.gateway : nil
        }
        self.preferredSource = preferredSource?.family == family ? preferredSource : nil
    }

    init(error: String) { self.error = error }

    /// Like `ip route get`: one line.
    public var line: String {
        if let error { return "error: \(error)" }
        var text = type ?? "?"
        if let gateway { text += " via \(gateway)" }
        if let device { text += " dev \(device)" }
        if let preferredSource { text += " src \(preferredSource)" }
        return text
    }
}

public enum RouteQuery {
    /// Asks the kernel how it would route `destination`: as it would forward
    /// a packet arriving on `ingress` from `source` when `ingress` is given,
    /// as it would send one itself otherwise.
    public static func get(_ destination: IPAddress, source: IPAddress? = nil, ingress: UInt32? = nil,
                           names: [UInt32: String]) throws -> KernelRoute {
        let socket = try NetlinkSocket()
        guard let message = nlmsg_alloc_simple(Int32(RTM_GETROUTE), 0) else {
            throw FibfastError.netlink(operation: "route get", code: -NLE_NOMEM)
        }
        defer { nlmsg_free(message) }
        let bits = UInt8(destination.bytes.count * 8)
        var header = rtmsg()
        header.rtm_family = UInt8(destination.family.socketFamily)
        header.rtm_dst_len = bits
        if source != nil { header.rtm_src_len = bits }
        var rc = nlmsg_append(message, &header, MemoryLayout<rtmsg>.size, Int32(NLMSG_ALIGNTO))
        rc = rc < 0 ? rc : destination.bytes.withUnsafeBytes { nla_put(message, Int32(RTA_DST.rawValue), Int32($0.count), $0.baseAddress) }
        if let source, rc >= 0 {
            rc = source.bytes.withUnsafeBytes { nla_put(message, Int32(RTA_SRC.rawValue), Int32($0.count), $0.baseAddress) }
        }
        if let ingress, rc >= 0 { rc = nla_put_u32(message, Int32(RTA_IIF.rawValue), ingress) }
        if rc < 0 { throw FibfastError.netlink(operation: "route get", code: rc) }

        let reply = Reply()
        socket.onMessage { message in
            var route: OpaquePointer?
            if rtnl_route_parse(nlmsg_hdr(message), &route) >= 0, let route {
                reply.route = route
            }
        }
        socket.onError { reply.errno = $0 }
        rc = nl_send_auto(socket.handle, message)
        if rc < 0 { throw FibfastError.netlink(operation: "route get", code: rc) }
        rc = nl_recvmsgs_default(socket.handle)
        defer { if let route = reply.route { rtnl_route_put(route) } }

        if reply.errno != 0 {
            return KernelRoute(error: String(cString: strerror(reply.errno)))
        }
        guard let route = reply.route else {
            if rc < 0 { throw FibfastError.netlink(operation: "route get", code: rc) }
            return KernelRoute(error: "no answer")
        }
        var firstHop: Nexthop?
        if rtnl_route_get_nnexthops(route) > 0, let hop = rtnl_route_nexthop_n(route, 0) {
            firstHop = Nexthop(gateway: IPAddress(bytes: Netlink.bytes(of: rtnl_route_nh_get_gateway(hop))),
                               ifindex: UInt32(bitPattern: rtnl_route_nh_get_ifindex(hop)))
        }
        return KernelRoute(family: destination.family, type: rtnl_route_get_type(route), firstHop: firstHop,
                           preferredSource: IPAddress(bytes: Netlink.bytes(of: rtnl_route_get_pref_src(route))),
                           names: names)
    }

    private final class Reply {
        var route: OpaquePointer?
        var errno: Int32 = 0
    }
}
