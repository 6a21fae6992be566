import CFastPath
import FibfastCore
import XCTest

final class ProbeFrameTests: XCTestCase {
    let routerMAC: [UInt8] = [2, 0, 0, 0, 0, 1]
    let hostMAC: [UInt8] = [2, 0, 0, 0, 0, 2]

    func testChecksumOfAKnownIPv4Header() {
        // The header from RFC 1071 discussions and every textbook: checksum b861.
        let header: [UInt8] = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,
                               0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7]
        XCTAssertEqual(Checksum.internet(header), 0xb861)
        var filled = header
        filled[10] = 0xb8
        filled[11] = 0x61
        XCTAssertEqual(Checksum.internet(filled), 0)
        XCTAssertEqual(Checksum.internet([0x01]), ~UInt16(0x0100), "an odd byte is padded with zero")
    }

    func testIPv4UDPFrame() throws {
        let frame = ProbeFrame(source: IPAddress("10.1.0.2")!, destination: IPAddress("10.2.0.2")!,
                               proto: .udp, sourcePort: 40000, destinationPort: 9999, ttl: 7,
                               sourceMAC: hostMAC, destinationMAC: routerMAC).bytes
        XCTAssertEqual(Array(frame[0..<6]), routerMAC)
        XCTAssertEqual(Array(frame[6..<12]), hostMAC)
        XCTAssertEqual(Array(frame[12..<14]), [0x08, 0x00])
        let ip = Array(frame[14..<34])
        XCTAssertEqual(ip[0], 0x45)
        XCTAssertEqual(Int(ip[2]) << 8 | Int(ip[3]), frame.count - 14, "total length covers the IP packet")
        XCTAssertEqual(ip[8], 7)
        XCTAssertEqual(ip[9], 17)
        XCTAssertEqual(Array(ip[12..<16]), [10, 1, 0, 2])
        XCTAssertEqual(Array(ip[16..<20]), [10, 2, 0, 2])
        XCTAssertEqual(Checksum.internet(ip), 0, "IPv4 header checksum verifies")
        let udp = Array(frame[34...])
        XCTAssertEqual(Array(udp[0..<4]), [0x9c, 0x40, 0x27, 0x0f])
        XCTAssertEqual(Int(udp[4]) << 8 | Int(udp[5]), udp.count)
        let pseudo: [UInt8] = [10, 1, 0, 2, 10, 2, 0, 2, 0, 17, 0, UInt8(udp.count)]
        XCTAssertNotEqual(Array(udp[6..<8]), [0, 0], "a UDP checksum is filled in")
        XCTAssertEqual(Checksum.internet(pseudo + udp), 0, "UDP checksum verifies over the pseudo-header")
    }

    func testIPv4TCPAndICMP() {
        let tcp = ProbeFrame(source: IPAddress("10.1.0.2")!, destination: IPAddress("10.2.0.2")!, proto: .tcp,
                             destinationPort: 443, sourceMAC: hostMAC, destinationMAC: routerMAC).bytes
        let segment = Array(tcp[34...])
        XCTAssertEqual(segment.count, 20)
        XCTAssertEqual(segment[13], 0x02, "SYN")
        XCTAssertEqual(Checksum.internet([10, 1, 0, 2, 10, 2, 0, 2, 0, 6, 0, 20] + segment), 0)

        let icmp = ProbeFrame(source: IPAddress("10.1.0.2")!, destination: IPAddress("10.2.0.2")!, proto: .icmp,
                              sourceMAC: hostMAC, destinationMAC: routerMAC).bytes
        XCTAssertEqual(icmp[23], 1)
        XCTAssertEqual(icmp[34], 8, "echo request")
        XCTAssertEqual(Checksum.internet(Array(icmp[34...])), 0, "ICMP checksum has no pseudo-header")
    }

    func testIPv6Frames() {
        for proto in ProbeProtocol.allCases {
            let frame = ProbeFrame(source: IPAddress("fd00:1::2")!, destination: IPAddress("fd00:2::2")!,
                                   proto: proto, destinationPort: 53, ttl: 1,
                                   sourceMAC: hostMAC, destinationMAC: routerMAC).bytes
            XCTAssertEqual(Array(frame[12..<14]), [0x86, 0xdd])
            XCTAssertEqual(frame[14] >> 4, 6)
            let payloadLength = Int(frame[18]) << 8 | Int(frame[19])
            XCTAssertEqual(payloadLength, frame.count - 54, "\(proto)")
            XCTAssertEqual(frame[21], 1, "hop limit")
            let next = frame[20]
            XCTAssertEqual(next, proto == .udp ? 17 : proto == .tcp ? 6 : 58)
            let pseudo = Array(frame[22..<54]) + [0, 0, UInt8(payloadLength >> 8), UInt8(payloadLength & 0xff), 0, 0, 0, next]
            XCTAssertEqual(Checksum.internet(pseudo + Array(frame[54...])), 0, "\(proto) checksum verifies")
            if proto == .icmp { XCTAssertEqual(frame[54], 128, "ICMPv6 echo request") }
        }
    }

    func testNeighbourAddressStaysOnTheSubnet() {
        func neighbour(_ text: String, _ prefix: Int) -> String {
            let address = IPAddress(text)!
            return Lookup.neighbour(of: InterfaceAddress(ifindex: 1, family: address.family, bytes: address.bytes,
                                                         prefixLength: prefix)).description
        }
        XCTAssertEqual(neighbour("10.1.0.1", 24), "10.1.0.2")
        XCTAssertEqual(neighbour("10.1.0.254", 24), "10.1.0.253", "never the broadcast address")
        XCTAssertEqual(neighbour("10.1.0.255", 23), "10.1.1.0", "carries into the next byte")
        XCTAssertEqual(neighbour("192.0.2.1", 31), "192.0.2.0", "a /31 has no broadcast")
        XCTAssertEqual(neighbour("fd00:1::1", 64), "fd00:1::2")
        XCTAssertEqual(neighbour("fd00:1::ffff:ffff:ffff:ffff", 64), "fd00:1::ffff:ffff:ffff:fffe")
    }
}
