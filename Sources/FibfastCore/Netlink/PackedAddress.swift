import Glibc

/// An IPv4 or IPv6 address stored inline in 16 bytes (no heap), so that tables of
/// hundreds of thousands of routes stay compact.
public struct PackedAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var family: AddressFamily
    /// Network-order bytes: IPv4 in the first 4 bytes of `high`.
    var high: UInt64
    var low: UInt64

    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4: family = .ipv4
        case 16: family = .ipv6
        default: return nil
        }
        var padded = bytes + [UInt8](repeating: 0, count: 16 - bytes.count)
        high = 0
        low = 0
        for i in 0..<8 { high = high << 8 | UInt64(padded[i]) }
        for i in 8..<16 { low = low << 8 | UInt64(padded[i]) }
        padded.removeAll()
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
            _ = inet_ntop(family == .ipv4 ? AF_INET : AF_INET6, source.baseAddress, &buffer, socklen_t(buffer.count))
        }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    var kernelFamily: Int32 { family == .ipv4 ? AF_INET : AF_INET6 }

    public static func < (a: PackedAddress, b: PackedAddress) -> Bool {
        (a.family == .ipv4 ? 0 : 1, a.high, a.low) < (b.family == .ipv4 ? 0 : 1, b.high, b.low)
    }
}

extension AddressFamily {
    init?(kernel family: Int32) {
        switch family {
        case AF_INET: self = .ipv4
        case AF_INET6: self = .ipv6
        default: return nil
        }
    }
}
