import CFastPath

/// What the fast path did with a frame, in the operator's words. Mirrors
/// `enum ff_verdict` in fastpath_abi.h; a unit test keeps the two in step.
public enum Verdict: UInt32, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case forwarded = 0
    case notIP
    case malformed
    case notForRouter
    case ttlExpired
    case ipOptions
    case specialAddress
    case icmpError
    case notForwarded
    case unreachable
    case forwardingOff
    case noNeighbour
    case mtu
    case unsupported
    case samePort
    case portNotFast
    case unknownPort
    case steppedAside
    case transmitted
    case sourceCheck
    case noXDPTransmit
    case vlan
    case inactiveMember
    case fragmentHash

    /// Short name for output and JSON keys.
    public var description: String {
        switch self {
        case .forwarded: return "forwarded"
        case .notIP: return "not-ip"
        case .malformed: return "malformed"
        case .notForRouter: return "not-for-router"
        case .ttlExpired: return "ttl-expired"
        case .ipOptions: return "ip-options"
        case .specialAddress: return "special-address"
        case .icmpError: return "icmp-error"
        case .notForwarded: return "not-forwarded"
        case .unreachable: return "unreachable"
        case .forwardingOff: return "forwarding-off"
        case .noNeighbour: return "no-neighbour"
        case .mtu: return "mtu"
        case .unsupported: return "unsupported"
        case .samePort: return "same-port"
        case .portNotFast: return "port-not-fast"
        case .unknownPort: return "unknown-port"
        case .steppedAside: return "stepped-aside"
        case .transmitted: return "transmitted"
        case .sourceCheck: return "source-check"
        case .noXDPTransmit: return "no-xdp-transmit"
        case .vlan: return "vlan"
        case .inactiveMember: return "inactive-member"
        case .fragmentHash: return "fragment-hash"
        }
    }

    /// What the kernel does with a frame handed up for this reason.
    public var explanation: String {
        switch self {
        case .forwarded: return "forwarded in XDP"
        case .notIP: return "not IPv4/IPv6 (ARP, VLAN, other ethertype): kernel protocol handlers"
        case .malformed: return "truncated or invalid header: the kernel drops it"
        case .notForRouter: return "L2 destination is not the port's MAC: kernel delivers or drops it"
        case .ttlExpired: return "TTL or hop limit <= 1: the kernel sends ICMP time exceeded"
        case .ipOptions: return "IPv4 options or IPv6 extension headers: processed by the kernel"
        case .specialAddress: return "link-local, multicast, broadcast, loopback or martian address"
        case .icmpError: return "ICMP error: the kernel routes it by its inner flow"
        case .notForwarded: return "local address, broadcast, or no route at all: the kernel delivers or answers"
        case .unreachable: return "blackhole, unreachable or prohibit route: the kernel drops or answers"
        case .forwardingOff: return "forwarding is disabled: the kernel drops it"
        case .noNeighbour: return "next hop not resolved: the kernel resolves it and sends"
        case .mtu: return "larger than the egress MTU: the kernel fragments or sends ICMP"
        case .unsupported: return "route the fast path cannot serve (encapsulation, ...)"
        case .samePort: return "leaves by the port it came in: the kernel may send a redirect"
        case .portNotFast: return "egress port is not in the fast path"
        case .unknownPort: return "ingress port not configured by the agent"
        case .steppedAside: return "the fast path stepped aside (firewall, tc on the ingress or egress port, or a fragment while conntrack reassembles): the kernel forwards"
        case .transmitted: return "sent out of this port by the fast path"
        case .sourceCheck: return "IPv4 source refused by rp_filter or one of the router's own: the kernel decides"
        case .noXDPTransmit: return "egress port cannot take XDP redirects (VLAN, macvlan, veth peer without XDP or GRO): the kernel forwards"
        case .vlan: return "VLAN tag of no VLAN port, priority or stacked tag, or a priority the egress tag cannot be given in XDP: the kernel decides"
        case .inactiveMember: return "arrived on a bond member the bond does not deliver from (backup slave, outside the active aggregator): the kernel drops it"
        case .fragmentHash: return "IPv6 fragment on a multipath route whose next hop depends on fib_multipath_hash_policy: the kernel picks it"
        }
    }

    /// Verdicts that hand a frame to the kernel.
    public static var passReasons: [Verdict] {
        allCases.filter { $0 != .forwarded && $0 != .transmitted }
    }
}
