import Glibc

public enum AddressFamily: String, Sendable, Codable, CustomStringConvertible {
    case ipv4 = "IPv4"
    case ipv6 = "IPv6"

    public var description: String { rawValue }

    /// The sysctl that turns forwarding on for the whole namespace.
    public var forwardingSysctl: String {
        switch self {
        case .ipv4: return "net.ipv4.ip_forward"
        case .ipv6: return "net.ipv6.conf.all.forwarding"
        }
    }

    var socketFamily: Int32 { self == .ipv4 ? AF_INET : AF_INET6 }

    init?(kernel family: Int32) {
        switch family {
        case AF_INET: self = .ipv4
        case AF_INET6: self = .ipv6
        default: return nil
        }
    }
}
