import CFastPath
import FibfastCore
import XCTest

final class StatsReportTests: XCTestCase {
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
}
