/// Where `attach --metrics` listens. A bare port, or an address without
/// one, means localhost: counters are nobody's business off the box unless
/// the operator says so.
public struct MetricsAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: IPAddress
    public var port: UInt16

    public static let defaultPort: UInt16 = 9464

    /// PORT, ADDRESS:PORT, [IPV6]:PORT, ADDRESS, or localhost:PORT.
    public init?(_ text: String) {
        var hostPart = "127.0.0.1", portPart = "\(Self.defaultPort)"
        if let bare = UInt16(text) {
            portPart = "\(bare)"
        } else if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            hostPart = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portPart = String(rest.dropFirst())
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            hostPart = String(text[..<colon])
            portPart = String(text[text.index(after: colon)...])
        } else {
            hostPart = text
        }
        if hostPart == "localhost" { hostPart = "127.0.0.1" }
        guard let host = IPAddress(hostPart), let port = UInt16(portPart), port != 0 else { return nil }
        self.host = host
        self.port = port
    }

    public var description: String {
        host.family == .ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
