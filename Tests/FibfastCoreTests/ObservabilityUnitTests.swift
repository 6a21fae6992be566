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

final class StatsLogicTests: XCTestCase {
    func report(program: UInt32 = 5, forwarded: UInt64, bytes: UInt64, ttl: UInt64, failed: UInt64 = 0) -> StatsReport {
        let p0 = PortCounters(ifindex: 2, byVerdict: [.forwarded: Count(packets: forwarded, bytes: bytes),
                                                      .ttlExpired: Count(packets: ttl, bytes: ttl * 60)])
        let p1 = PortCounters(ifindex: 3, byVerdict: [.transmitted: Count(packets: forwarded, bytes: bytes)],
                              failures: failed > 0 ? [.redirect: FailureCount(frames: failed, lastCode: -95)] : [:])
        return StatsReport(programID: program, counters: [p0, p1], names: [2: "p0", 3: "p1"])
    }

    func testFailuresPerPortAndInTotal() {
        let r = report(forwarded: 10, bytes: 1000, ttl: 0, failed: 4)
        XCTAssertEqual(r.ports[1].failed, 4)
        XCTAssertEqual(r.ports[1].failures["redirect"], StatsReport.Failure(frames: 4, lastError: "EOPNOTSUPP"))
        XCTAssertEqual(r.ports[0].failed, 0)
        XCTAssertEqual(r.total.failed, 4)
        XCTAssertEqual(XDPFailure.exception.describe(code: 0), "action aborted")
    }

    func testXDPFailuresMatchTheSharedHeader() {
        XCTAssertEqual(XDPFailure.allCases.count, Int(FF_XDP_ERR_COUNT.rawValue))
        XCTAssertEqual(XDPFailure.redirect.rawValue, FF_XDP_ERR_REDIRECT.rawValue)
        XCTAssertEqual(XDPFailure.transmit.rawValue, FF_XDP_ERR_TRANSMIT.rawValue)
        XCTAssertEqual(XDPFailure.exception.rawValue, FF_XDP_ERR_EXCEPTION.rawValue)
    }

    func testRatesAreDeltasPerSecond() throws {
        let earlier = report(forwarded: 100, bytes: 10_000, ttl: 2)
        let later = report(forwarded: 300, bytes: 30_000, ttl: 6, failed: 8)
        let result = later.withRates(since: earlier, seconds: 2)
        XCTAssertEqual(result.interval, 2)
        let p0 = try XCTUnwrap(result.ports[0].rates)
        XCTAssertEqual(p0.forwardedPackets, 100)
        XCTAssertEqual(p0.forwardedBits, 80_000)
        XCTAssertEqual(p0.passedPackets, 2)
        XCTAssertEqual(p0.passReasons, ["ttl-expired": 2])
        XCTAssertEqual(result.ports[1].rates?.transmittedPackets, 100)
        XCTAssertEqual(result.ports[1].rates?.failedPackets, 4)
        XCTAssertEqual(result.total.rates?.forwardedPackets, 100)
    }

    func testNoRatesAcrossProgramsOrForNewPorts() {
        let earlier = report(program: 5, forwarded: 100, bytes: 10_000, ttl: 2)
        let restarted = report(program: 6, forwarded: 3, bytes: 300, ttl: 0)
        XCTAssertNil(restarted.withRates(since: earlier, seconds: 1).ports[0].rates,
                     "a new program starts from zero: no negative rates")
        let onlyP0 = StatsReport(programID: 5, counters: [PortCounters(ifindex: 2, byVerdict: [:])], names: [2: "p0"])
        let both = report(forwarded: 1, bytes: 1, ttl: 0).withRates(since: onlyP0, seconds: 1)
        XCTAssertNotNil(both.ports[0].rates)
        XCTAssertNil(both.ports[1].rates)
    }

    func testHumanOutput() {
        let r = report(forwarded: 300, bytes: 30_000, ttl: 6, failed: 8)
            .withRates(since: report(forwarded: 100, bytes: 10_000, ttl: 2), seconds: 2)
        let text = StatsText.lines(r)
        XCTAssertEqual(text[0], "p0: forwarded 300 pkts 30000 bytes  transmitted 0 pkts  passed 6 pkts  failed 0 pkts")
        XCTAssertTrue(text.contains("    passed: ttl-expired 6"))
        XCTAssertTrue(text.contains("    failed: redirect 8 (EOPNOTSUPP)"))
        XCTAssertTrue(text.contains { $0.hasPrefix("    rate: forwarded 100 pps 80.00 kbit/s") }, "\(text)")
        XCTAssertEqual(StatsText.bits(1_500_000_000), "1.50 Gbit/s")
        XCTAssertEqual(StatsText.packets(0.5), "0.5 pps")
        XCTAssertEqual(StatsText.packets(12), "12 pps")

        let table = TopView.table(r)
        XCTAssertEqual(table.count, 4)
        XCTAssertTrue(table[0].hasPrefix("PORT"))
        XCTAssertTrue(table[2].hasPrefix("p1"))
        XCTAssertTrue(table[2].hasSuffix("redirect failed (EOPNOTSUPP)"), table[2])
        XCTAssertTrue(table[1].hasSuffix("ttl-expired 2"), table[1])
    }

    func testPrometheusTextHasEveryReasonAndTheValues() {
        let text = PrometheusText.render(report(forwarded: 10, bytes: 1000, ttl: 2, failed: 3))
        XCTAssertTrue(text.contains("fibfast_forwarded_packets_total{port=\"p0\"} 10\n"))
        XCTAssertTrue(text.contains("fibfast_forwarded_bytes_total{port=\"p0\"} 1000\n"))
        XCTAssertTrue(text.contains("fibfast_transmitted_packets_total{port=\"p1\"} 10\n"))
        XCTAssertTrue(text.contains("fibfast_passed_packets_total{port=\"p0\",reason=\"ttl-expired\"} 2\n"))
        XCTAssertTrue(text.contains("fibfast_passed_packets_total{port=\"p1\",reason=\"mtu\"} 0\n"), "zeros are exported")
        XCTAssertTrue(text.contains("fibfast_failed_packets_total{port=\"p1\",reason=\"redirect\"} 3\n"))
        XCTAssertTrue(text.contains("# TYPE fibfast_passed_packets_total counter\n"))
        XCTAssertTrue(text.contains("fibfast_failure_tracing 1\n"))
        XCTAssertEqual(text.components(separatedBy: "fibfast_passed_packets_total{").count - 1,
                       2 * Verdict.passReasons.count)
        XCTAssertEqual(PrometheusText.escape("a\"b\\c"), "a\\\"b\\\\c")
    }

    func testAgentProgressIsExportedBeforeAnyEvent() {
        let text = PrometheusText.render(FollowProgress().snapshot)
        XCTAssertTrue(text.contains("fibfast_agent_routes 0\n"))
        XCTAssertTrue(text.contains("fibfast_agent_next_hops 0\n"))
        XCTAssertTrue(text.contains("# TYPE fibfast_agent_netlink_events_total counter\nfibfast_agent_netlink_events_total 0\n"))
        XCTAssertTrue(text.contains("fibfast_agent_last_route_event_seconds 0.000\n"))
    }

    func testMetricsAddressDefaultsToLocalhost() {
        XCTAssertEqual(MetricsAddress("9100")?.description, "127.0.0.1:9100")
        XCTAssertEqual(MetricsAddress("0.0.0.0:9100")?.description, "0.0.0.0:9100")
        XCTAssertEqual(MetricsAddress("localhost:8080")?.description, "127.0.0.1:8080")
        XCTAssertEqual(MetricsAddress("[::1]:9100")?.description, "[::1]:9100")
        XCTAssertEqual(MetricsAddress("10.0.0.1")?.description, "10.0.0.1:9464")
        XCTAssertNil(MetricsAddress("10.0.0:9100"))
        XCTAssertNil(MetricsAddress("127.0.0.1:0"))
        XCTAssertNil(MetricsAddress("127.0.0.1:70000"))
    }

    func testStatusWarnsOnATagMismatch() {
        let port = StatusReport.Port(name: "p0", ifindex: 2, mode: "native", programID: 9)
        func status(_ tag: String) -> StatusReport {
            StatusReport(embeddedTag: "aaaa", fastPaths: [.init(
                programID: 9, tag: tag, tagMatches: tag == "aaaa", ports: [port],
                agent: .init(pid: 42, started: 0, uptimeSeconds: 3725), failureTracepoints: [])])
        }
        XCTAssertEqual(status("aaaa").warnings, [])
        XCTAssertEqual(status("bbbb").warnings.count, 1)
        XCTAssertTrue(status("bbbb").lines.contains("prog 9 tag bbbb (not this binary's: aaaa)"))
        XCTAssertTrue(status("aaaa").lines.contains("agent: pid 42 up 1h02m"))
        XCTAssertTrue(status("aaaa").lines.contains("failures: not counted (no XDP tracepoints attached)"))
        XCTAssertEqual(StatusReport.duration(42), "42s")
        XCTAssertEqual(StatusReport.duration(187), "3m07s")
        XCTAssertEqual(StatusReport.duration(2 * 86400 + 3 * 3600 + 5), "2d03h")
        XCTAssertTrue(StatusReport(embeddedTag: nil, fastPaths: []).lines[0].contains("not attached"))
    }
}
