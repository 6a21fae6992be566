import Glibc

/// An IPv4 or IPv6 address, stored inline in 16 bytes (no heap), so that
/// tables of hundreds of thousands of routes stay compact. Written and read
/// as the operator types it.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public var family: AddressFamily
    /// Network-order bytes: IPv4 in the first 4 bytes of `high`.
    var high: UInt64
    var low: UInt64

    /// 4 bytes are IPv4, 16 IPv6, anything else no address.
    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4: family = .ipv4
        case 16: family = .ipv6
        default: return nil
        }
        let padded = bytes + [UInt8](repeating: 0, count: 16 - bytes.count)
        high = 0
        low = 0
        for i in 0..<8 { high = high << 8 | UInt64(padded[i]) }
        for i in 8..<16 { low = low << 8 | UInt64(padded[i]) }
    }

    public init(family: AddressFamily, bytes: [UInt8]) {
        precondition(bytes.count == (family == .ipv4 ? 4 : 16))
        self.init(bytes: bytes)!
    }

    public init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(bytes: withUnsafeBytes(of: v4) { Array($0) })
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            self.init(bytes: withUnsafeBytes(of: v6) { Array($0) })
        } else {
            return nil
        }
    }

    public var bytes: [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(16)
        for i in (0..<8).reversed() { result.append(UInt8(truncatingIfNeeded: high >> (UInt64(i) * 8))) }
        for i in (0..<8).reversed() { result.append(UInt8(truncatingIfNeeded: low >> (UInt64(i) * 8))) }
        return family == .ipv4 ? Array(result.prefix(4)) : result
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let raw = bytes
        raw.withUnsafeBytes { source in
            _ = inet_ntop(family.socketFamily, source.baseAddress, &buffer, socklen_t(buffer.count))
        }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        (a.family == .ipv4 ? 0 : 1, a.high, a.low) < (b.family == .ipv4 ? 0 : 1, b.high, b.low)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = IPAddress(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an IP address: \(text)"))
        }
        self = address
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
