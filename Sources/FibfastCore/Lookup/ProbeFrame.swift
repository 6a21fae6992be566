/// The transport a probe packet carries.
public enum ProbeProtocol: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case udp, tcp, icmp
    public var description: String { rawValue }
}

/// A frame as a host on the ingress port would send it to the router:
/// Ethernet to the port's MAC, then IPv4 or IPv6 with valid checksums, then
/// a UDP datagram, a TCP SYN or an ICMP echo request. Built by hand so the
/// fast path sees exactly what the operator asked about.
public struct ProbeFrame: Sendable, Equatable {
    public var source: IPAddress
    public var destination: IPAddress
    public var proto: ProbeProtocol
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var ttl: UInt8
    public var sourceMAC: [UInt8]
    public var destinationMAC: [UInt8]

    public init(source: IPAddress, destination: IPAddress, proto: ProbeProtocol = .udp,
                sourcePort: UInt16 = 40000, destinationPort: UInt16 = 9,
                ttl: UInt8 = 64, sourceMAC: [UInt8], destinationMAC: [UInt8]) {
        precondition(source.family == destination.family, "one family per packet")
        self.source = source
        self.destination = destination
        self.proto = proto
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.ttl = ttl
        self.sourceMAC = sourceMAC
        self.destinationMAC = destinationMAC
    }

    static let payload = Array("fibfast lookup probe".utf8)

    public var bytes: [UInt8] {
        let ipv4 = destination.family == .ipv4
        var frame = destinationMAC + sourceMAC + (ipv4 ? [0x08, 0x00] : [0x86, 0xdd])
        let l4 = transport(ipv4: ipv4)
        frame += ipv4 ? ipv4Header(payloadLength: l4.count) : ipv6Header(payloadLength: l4.count)
        return frame + l4
    }

    /// The IP protocol / next header number.
    var protocolNumber: UInt8 {
        switch proto {
        case .udp: return 17
        case .tcp: return 6
        case .icmp: return destination.family == .ipv4 ? 1 : 58
        }
    }

    private func ipv4Header(payloadLength: Int) -> [UInt8] {
        let total = UInt16(20 + payloadLength)
        var header: [UInt8] = [0x45, 0] + total.bigEndianBytes + [0x66, 0x66, 0x40, 0x00,  // id, DF
                               ttl, protocolNumber, 0, 0] + source.bytes + destination.bytes
        let checksum = Checksum.internet(header)
        header[10] = UInt8(checksum >> 8)
        header[11] = UInt8(checksum & 0xff)
        return header
    }

    private func ipv6Header(payloadLength: Int) -> [UInt8] {
        [0x60, 0, 0, 0] + UInt16(payloadLength).bigEndianBytes + [protocolNumber, ttl]
            + source.bytes + destination.bytes
    }

    private func transport(ipv4: Bool) -> [UInt8] {
        var segment: [UInt8]
        let checksumOffset: Int
        switch proto {
        case .udp:
            segment = sourcePort.bigEndianBytes + destinationPort.bigEndianBytes
                + UInt16(8 + Self.payload.count).bigEndianBytes + [0, 0] + Self.payload
            checksumOffset = 6
        case .tcp:
            // A SYN: what opens every connection, and what a firewall would see first.
            segment = sourcePort.bigEndianBytes + destinationPort.bigEndianBytes
                + [0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xfa, 0xf0, 0, 0, 0, 0]
            checksumOffset = 16
        case .icmp:
            // Echo request: type 8 for ICMP, 128 for ICMPv6.
            segment = [ipv4 ? 8 : 128, 0, 0, 0, 0x66, 0x66, 0, 1] + Self.payload
            checksumOffset = 2
        }
        // ICMPv4 is the one checksum without a pseudo-header.
        let covered = proto == .icmp && ipv4 ? segment : pseudoHeader(length: segment.count) + segment
        var checksum = Checksum.internet(covered)
        // UDP sends 0 as "no checksum"; a computed 0 goes out as 0xffff.
        if proto == .udp && checksum == 0 { checksum = 0xffff }
        segment[checksumOffset] = UInt8(checksum >> 8)
        segment[checksumOffset + 1] = UInt8(checksum & 0xff)
        return segment
    }

    private func pseudoHeader(length: Int) -> [UInt8] {
        if destination.family == .ipv4 {
            return source.bytes + destination.bytes + [0, protocolNumber] + UInt16(length).bigEndianBytes
        }
        return source.bytes + destination.bytes + UInt32(length).bigEndianBytes + [0, 0, 0, protocolNumber]
    }
}

public enum Checksum {
    /// RFC 1071: the ones' complement of the ones' complement sum of 16-bit
    /// words. Over data that carries its own correct checksum it gives 0.
    public static func internet(_ data: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < data.count {
            sum += UInt32(data[index]) << 8 | UInt32(data[index + 1])
            index += 2
        }
        if index < data.count { sum += UInt32(data[index]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }
}

extension FixedWidthInteger {
    var bigEndianBytes: [UInt8] { withUnsafeBytes(of: bigEndian) { Array($0) } }
}
