import CFastPath
import Foundation

/// The kernel's IPv4 reverse-path filter (rp_filter), as it applies to one
/// ingress port. bpf_fib_lookup does no source validation of its own, so the
/// agent tells the fast path per port which check the kernel would make.
/// IPv6 has no rp_filter sysctl (only netfilter's rpfilter/fib expressions,
/// which the netfilter check covers), so this is IPv4 only.
public enum ReversePathFilter: Int, Sendable, Comparable, CustomStringConvertible {
    case off = 0
    case strict = 1
    case loose = 2

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .off: return "off"
        case .strict: return "strict"
        case .loose: return "loose"
        }
    }

    /// The kernel takes the larger of conf.all and conf.PORT
    /// (IN_DEV_MAXCONF), so `all = 2, port = 1` is loose. A value the agent
    /// cannot read counts as loose: the fast path then checks a source the
    /// kernel might not, never the other way round.
    public static func effective(all: String?, port: String?) -> ReversePathFilter {
        func parse(_ text: String?) -> ReversePathFilter {
            guard let text, let value = Int(text) else { return .loose }
            return ReversePathFilter(rawValue: value) ?? .loose
        }
        return max(parse(all), parse(port))
    }

    /// The ff_port_info flags for this setting. A port without an IPv4
    /// address gets the strict check even in loose mode: the kernel
    /// (__fib_validate_source, `no_addr`) refuses there any source whose
    /// route back does not use that very port.
    public func portFlags(portHasIPv4Address: Bool) -> UInt16 {
        switch self {
        case .off: return 0
        case .strict: return UInt16(FF_PORT_RPF_STRICT)
        case .loose: return UInt16(portHasIPv4Address ? FF_PORT_RPF_LOOSE : FF_PORT_RPF_STRICT)
        }
    }

    /// Reads the setting for a port in this network namespace.
    public static func current(port: String, sysctl: SysctlReader = Sysctl.read) -> ReversePathFilter {
        func read(_ device: String) -> String? { sysctl(Sysctl.name("net", "ipv4", "conf", device, "rp_filter")) }
        return effective(all: read("all"), port: read(port))
    }
}
