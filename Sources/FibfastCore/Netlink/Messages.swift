import CNetlink
import Glibc

/// A change the kernel reported over rtnetlink, or an entry of a dump,
/// already turned into plain Swift values.
public enum NetlinkEvent: Sendable {
    case link(Link, deleted: Bool)
    case address(InterfaceAddress, deleted: Bool)
    case route(Route, deleted: Bool)
    case neighbour(Neighbour, deleted: Bool)
    case rule(Rule, deleted: Bool)
    /// An IPv4 rp_filter sysctl changed: a port's, or `all` (ifindex -1)
    /// or `default` (-2), as the kernel's netconf notification says.
    case reversePathFilter(ifindex: Int32)
    /// A qdisc, class or filter was added, changed or removed.
    case trafficControl(TrafficControlObject, deleted: Bool)
    /// Events were lost (the kernel's ENOBUFS, or the agent fell behind):
    /// only a full dump tells the truth now.
    case overrun(reason: String)
}

/// A policy-routing rule, in as much detail as the log needs.
public struct Rule: Sendable, Equatable, CustomStringConvertible {
    public var family: AddressFamily
    public var priority: UInt32
    public var table: UInt32
    public var action: UInt8
    /// Has a source or destination port selector: FIB answers then depend
    /// on the ports.
    public var usesPorts = false

    public var description: String {
        "\(family) rule priority \(priority) " + (action == 1 ? "lookup table \(table)" : "action \(action)")
    }
}

/// Turns one rtnetlink message into a NetlinkEvent through libnl's parsers.
enum MessageParser {
    private final class Box {
        var event: NetlinkEvent?
        let header: UnsafeMutablePointer<nlmsghdr>
        init(header: UnsafeMutablePointer<nlmsghdr>) { self.header = header }
    }

    static func parse(_ message: OpaquePointer) -> NetlinkEvent? {
        guard let header = nlmsg_hdr(message) else { return nil }
        let box = Box(header: header)
        let context = Unmanaged.passUnretained(box).toOpaque()
        _ = withExtendedLifetime(box) {
            nl_msg_parse(message, { object, context in
                guard let object, let context else { return }
                let box = Unmanaged<Box>.fromOpaque(context).takeUnretainedValue()
                box.event = MessageParser.event(object, header: box.header)
            }, context)
        }
        return box.event
    }

    static func event(_ object: OpaquePointer, header: UnsafeMutablePointer<nlmsghdr>) -> NetlinkEvent? {
        let type = String(cString: nl_object_get_type(object))
        let message = Int32(nl_object_get_msgtype(object))
        switch type {
        case "route/link":
            return .link(Link(object), deleted: message == RTM_DELLINK)
        case "route/addr":
            guard let family = AddressFamily(kernel: rtnl_addr_get_family(object)) else { return nil }
            let address = InterfaceAddress(
                ifindex: UInt32(bitPattern: rtnl_addr_get_ifindex(object)), family: family,
                bytes: Netlink.bytes(of: rtnl_addr_get_local(object)),
                prefixLength: Int(rtnl_addr_get_prefixlen(object)))
            return .address(address, deleted: message == RTM_DELADDR)
        case "route/route":
            guard let route = Route(object) else { return nil }
            return .route(route, deleted: message == RTM_DELROUTE)
        case "route/neigh":
            guard let neighbour = Neighbour(object, header: header) else { return nil }
            return .neighbour(neighbour, deleted: message == RTM_DELNEIGH)
        case "route/rule":
            guard let family = AddressFamily(kernel: rtnl_rule_get_family(object)) else { return nil }
            var rule = Rule(family: family, priority: rtnl_rule_get_prio(object),
                            table: rtnl_rule_get_table(object), action: rtnl_rule_get_action(object))
            var start: UInt16 = 0, end: UInt16 = 0
            rule.usesPorts = rtnl_rule_get_sport(object, &start, &end) == 0 || rtnl_rule_get_dport(object, &start, &end) == 0
            return .rule(rule, deleted: message == RTM_DELRULE)
        case "route/netconf":
            // Netconf messages carry the one setting that changed; only
            // rp_filter matters to the fast path.
            var family: Int32 = 0, ifindex: Int32 = 0, value: Int32 = 0
            guard rtnl_netconf_get_family(object, &family) == 0, family == AF_INET,
                  rtnl_netconf_get_rp_filter(object, &value) == 0,
                  rtnl_netconf_get_ifindex(object, &ifindex) == 0
            else { return nil }
            return .reversePathFilter(ifindex: ifindex)
        case "route/qdisc", "route/class", "route/cls":
            let kind: TrafficControlObject.Kind = type == "route/qdisc" ? .qdisc : type == "route/class" ? .trafficClass : .filter
            let deleted = message == RTM_DELQDISC || message == RTM_DELTCLASS || message == RTM_DELTFILTER
            return .trafficControl(TrafficControlObject(object, kind: kind), deleted: deleted)
        default:
            return nil
        }
    }
}

/// Streams a dump through `body` one entry at a time: nothing is cached,
/// so dumping a million routes costs a million small, short-lived objects.
enum Dump {
    /// `restart` runs before a dump is started again after the kernel
    /// interrupted it: whatever `body` collected so far is to be dropped.
    static func links(restart: () -> Void = {}, _ body: (Link) -> Void) throws {
        var header = ifinfomsg()
        header.ifi_family = UInt8(AF_UNSPEC)
        try run(Int32(RTM_GETLINK), header: &header, restart: restart) { if case .link(let l, false) = $0 { body(l) } }
    }

    static func addresses(restart: () -> Void = {}, _ body: (InterfaceAddress) -> Void) throws {
        var header = ifaddrmsg()
        header.ifa_family = UInt8(AF_UNSPEC)
        try run(Int32(RTM_GETADDR), header: &header, restart: restart) { if case .address(let a, false) = $0 { body(a) } }
    }

    static func routes(restart: () -> Void = {}, _ body: (Route) -> Void) throws {
        var header = rtmsg()
        header.rtm_family = UInt8(AF_UNSPEC)
        try run(Int32(RTM_GETROUTE), header: &header, restart: restart) { if case .route(let r, false) = $0 { body(r) } }
    }

    static func rules(family: Int32 = AF_INET, restart: () -> Void = {}, _ body: (Rule) -> Void) throws {
        var header = fib_rule_hdr()
        header.family = UInt8(family)
        try run(Int32(RTM_GETRULE), header: &header, restart: restart) { if case .rule(let r, false) = $0 { body(r) } }
    }

    static func neighbours(restart: () -> Void = {}, _ body: (Neighbour) -> Void) throws {
        var header = ndmsg()
        header.ndm_family = UInt8(AF_UNSPEC)
        try run(Int32(RTM_GETNEIGH), header: &header, restart: restart) { if case .neighbour(let n, false) = $0 { body(n) } }
    }

    /// Every qdisc of every device.
    static func qdiscs(_ body: (TrafficControlObject) -> Void) throws {
        var header = tcmsg()
        header.tcm_family = UInt8(AF_UNSPEC)
        try run(Int32(RTM_GETQDISC), header: &header, restart: {}) { if case .trafficControl(let q, false) = $0 { body(q) } }
    }

    /// The filters of one block of a device: `parent` 0 for the root
    /// qdisc's, a clsact/ingress minor for those, a class id for a class's.
    static func filters(ifindex: UInt32, parent: UInt32, _ body: (TrafficControlObject) -> Void) throws {
        var header = tcmsg()
        header.tcm_family = UInt8(AF_UNSPEC)
        header.tcm_ifindex = Int32(bitPattern: ifindex)
        header.tcm_parent = parent
        try run(Int32(RTM_GETTFILTER), header: &header, restart: {}) { if case .trafficControl(let f, false) = $0 { body(f) } }
    }

    /// Sends one dump request and feeds every answer to `body`; retried
    /// when the kernel says the dump was interrupted by a change.
    private static func run<Header: BitwiseCopyable>(_ type: Int32, header: inout Header, restart: () -> Void,
                                    _ body: (NetlinkEvent) -> Void) throws {
        try withoutActuallyEscaping(body) { body in
            try runEscaping(type, header: &header, restart: restart, body)
        }
    }

    private static func runEscaping<Header: BitwiseCopyable>(_ type: Int32, header: inout Header, restart: () -> Void,
                                    _ body: @escaping (NetlinkEvent) -> Void) throws {
        for attempt in 1...5 {
            if attempt > 1 { restart() }
            let socket = try NetlinkSocket()
            socket.onEvent(body)
            _ = nl_socket_set_buffer_size(socket.handle, 4 << 20, 0)
            var rc = withUnsafeMutableBytes(of: &header) {
                nl_send_simple(socket.handle, type, NLM_F_DUMP, $0.baseAddress, $0.count)
            }
            if rc >= 0 { rc = nl_recvmsgs_default(socket.handle) }
            if rc == -NLE_DUMP_INTR && attempt < 5 { continue }
            if rc < 0 { throw FibfastError.netlink(operation: "dump (message type \(type))", code: rc) }
            return
        }
    }
}
