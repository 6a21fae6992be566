import CFastPath
import FibfastCore
import XCTest

/// The Swift verdicts must mean exactly what the BPF program counts.
final class VerdictTests: XCTestCase {
    func testVerdictsMatchTheSharedHeader() {
        XCTAssertEqual(Verdict.allCases.count, Int(FF_VERDICT_COUNT.rawValue))
        let pairs: [(Verdict, ff_verdict)] = [
            (.forwarded, FF_FORWARDED), (.notIP, FF_PASS_NOT_IP), (.malformed, FF_PASS_MALFORMED),
            (.notForRouter, FF_PASS_NOT_FOR_ROUTER), (.ttlExpired, FF_PASS_TTL_EXPIRED),
            (.ipOptions, FF_PASS_IP_OPTIONS), (.specialAddress, FF_PASS_SPECIAL_ADDRESS),
            (.icmpError, FF_PASS_ICMP_ERROR), (.notForwarded, FF_PASS_NOT_FORWARDED), (.unreachable, FF_PASS_UNREACHABLE),
            (.forwardingOff, FF_PASS_FORWARDING_OFF), (.noNeighbour, FF_PASS_NO_NEIGHBOUR),
            (.mtu, FF_PASS_MTU), (.unsupported, FF_PASS_UNSUPPORTED), (.samePort, FF_PASS_SAME_PORT),
            (.portNotFast, FF_PASS_PORT_NOT_FAST), (.unknownPort, FF_PASS_UNKNOWN_PORT),
            (.steppedAside, FF_PASS_STEPPED_ASIDE), (.transmitted, FF_TRANSMITTED),
            (.sourceCheck, FF_PASS_SOURCE_CHECK), (.noXDPTransmit, FF_PASS_NO_XDP_TRANSMIT),
            (.vlan, FF_PASS_VLAN),
            (.inactiveMember, FF_PASS_INACTIVE_MEMBER), (.fragmentHash, FF_PASS_FRAGMENT_HASH),
        ]
        XCTAssertEqual(pairs.count, Verdict.allCases.count)
        for (swift, c) in pairs { XCTAssertEqual(swift.rawValue, c.rawValue, "\(swift)") }
    }

    func testNamesAreUniqueAndPassReasonsExcludeForwarding() {
        XCTAssertEqual(Set(Verdict.allCases.map(\.description)).count, Verdict.allCases.count)
        XCTAssertFalse(Verdict.passReasons.contains(.forwarded))
        XCTAssertFalse(Verdict.passReasons.contains(.transmitted))
        XCTAssertEqual(Verdict.passReasons.count, Verdict.allCases.count - 2)
    }

    func testStatsReportSumsPortsAndReasons() {
        let p0 = PortCounters(ifindex: 2, byVerdict: [.forwarded: Count(packets: 10, bytes: 1000),
                                                      .ttlExpired: Count(packets: 2, bytes: 100)])
        let p1 = PortCounters(ifindex: 3, byVerdict: [.transmitted: Count(packets: 10, bytes: 1000),
                                                      .notForwarded: Count(packets: 1, bytes: 60)])
        let report = StatsReport(programID: 5, counters: [p0, p1], names: [2: "eth0", 3: "eth1"])
        XCTAssertEqual(report.ports.map(\.name), ["eth0", "eth1"])
        XCTAssertEqual(report.total.forwarded, Count(packets: 10, bytes: 1000))
        XCTAssertEqual(report.total.passed, Count(packets: 3, bytes: 160))
        XCTAssertEqual(report.total.passReasons["ttl-expired"], Count(packets: 2, bytes: 100))
        XCTAssertEqual(report.ports[0].passReasons.keys.sorted(), ["ttl-expired"])
    }
}
