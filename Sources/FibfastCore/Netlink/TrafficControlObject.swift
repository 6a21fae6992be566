import CNetlink

/// A qdisc, traffic class or filter (tc), as much as the safety check needs.
public struct TrafficControlObject: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case qdisc, trafficClass, filter }

    public var kind: Kind
    public var ifindex: UInt32
    /// The qdisc or classifier type: "htb", "tbf", "clsact", "u32", "bpf", ...
    public var type: String
    public var handle: UInt32
    public var parent: UInt32
    /// Filters only: their preference (priority).
    public var priority: UInt16 = 0

    init(_ object: OpaquePointer, kind: Kind) {
        self.kind = kind
        ifindex = UInt32(bitPattern: rtnl_tc_get_ifindex(object))
        type = rtnl_tc_get_kind(object).map { String(cString: $0) } ?? ""
        handle = rtnl_tc_get_handle(object)
        parent = rtnl_tc_get_parent(object)
        priority = kind == .filter ? rtnl_cls_get_prio(object) : 0
    }
}
