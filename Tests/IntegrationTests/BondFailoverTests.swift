import Foundation
import XCTest

/// A slave failing or leaving under traffic loses no more with the fast
/// path than with the kernel alone across the same event.
///
/// The kernel alone loses what is sent between the event and the moment
/// the bonds on the path notice it (each at its next miimon round, 0 to 10
/// ms later); that phase differs from run to run whoever forwards: with a
/// datagram every 10 ms, up to 2 datagrams for two bonds in series. In the
/// emulated VM, shared with other VMs, timers and the sender run late by
/// far more: a stream with no event at all shows silences of 300 ms and
/// more. So the tolerance is measured, not assumed: the longest silence of
/// an event-free stream in the same lab, in datagrams, plus what that
/// stream lost, and at least 5 (50 ms). A fast path that kept sending into a dead slave, or dropped what
/// arrives on the newly active one, loses every datagram from then on: the
/// stream never resumes and the test fails by far. The stream is paced
/// slowly, and its sender resumes the pace after a stall instead of
/// catching up in a burst (Tests/lab/pkt.py): bursts overflow queues on the
/// way, and the fast path's (a veth's XDP ring) and the kernel's (qdisc,
/// backlog) differ in size, which is not what this test is about. (With
/// catch-up bursts, one run in a heavily loaded VM lost 327 of 5,125
/// datagrams with the fast path and none without, spread over the stream:
/// no silence was longer than 0.8 s.)
final class BondFailoverTests: XCTestCase {
    static let miimon = 10
    static let interval = 0.01
    static let tolerance = 5

    override func setUpWithError() throws {
        try Lab.requireBonding()
    }

    /// Datagrams of a paced stream src -> dst lost across `event`, and the
    /// stream's longest silence in ms.
    private func loss(_ lab: Lab, port: Int, during event: () throws -> Void) throws -> (missing: Int, gap: Double) {
        let dst = lab.namespace(.dst)
        let sink = try Sink.start(inNamespace: dst, port: port, count: 1_000_000)
        let stream = try Stream.start(inNamespace: lab.namespace(.src), to: "10.2.0.2", port: port,
                                      interval: Self.interval)
        defer { stream.kill() }
        func arrive(_ more: UInt64) throws {
            let start = try receivedPackets(inNamespace: dst, "eth0")
            try eventually(60, "\(more) more datagrams at dst") {
                try receivedPackets(inNamespace: dst, "eth0") - start >= more
            }
        }
        try arrive(100)
        try event()
        try arrive(200)
        let sent = try stream.stop()
        let report = try sink.finish(sent: sent)
        print("bond failover: sent \(sent), missing \(report.missing), longest gap \(report.max_gap_ms ?? 0) ms")
        return (report.missing, report.max_gap_ms ?? 0)
    }

    /// The datagrams two runs of the same behaviour may differ by here: the
    /// longest silence of a stream without any event (see above).
    private func tolerance(_ lab: Lab, port: Int) throws -> Int {
        let quiet = try loss(lab, port: port) {}
        let tolerance = max(Self.tolerance, Int((quiet.gap / 1000 / Self.interval).rounded(.up)) + quiet.missing)
        print("bond failover: tolerance \(tolerance) datagrams (event-free stream: longest silence \(quiet.gap) ms, \(quiet.missing) lost)")
        return tolerance
    }

    private func waitUntilSlaveUp(_ lab: Lab, _ slave: String) throws {
        try eventually(30, "\(slave) back up in its bond") {
            try lab.exec(.rtr, ["ip", "-d", "link", "show", slave]).stdout.contains("mii_status UP")
        }
    }

    /// The active slaves of both bonds (ingress p0, egress p1) go down at
    /// once; active-backup at all four ends.
    func testActiveSlavesGoingDownLoseNoMoreThanTheKernel() throws {
        let lab = try Lab(self)
        try lab.makeBond("p0", mode: "active-backup", miimon: Self.miimon)
        try lab.makeBond("p1", mode: "active-backup", miimon: Self.miimon)
        func fail(_ n: Int) throws {
            try lab.ip("link set p0s\(n) down")
            try lab.ip("link set p1s\(n) down")
        }
        let allowed = try tolerance(lab, port: 9410)
        let kernel = try loss(lab, port: 9411) { try fail(0) }.missing
        try lab.ip("link set p0s0 up")
        try lab.ip("link set p1s0 up")
        try waitUntilSlaveUp(lab, "p0s0")
        try waitUntilSlaveUp(lab, "p1s0")
        _ = try lab.attach(bonds: ["p0", "p1"])
        let before = try lab.forwarded()
        // Slaves 1 are active now.
        let fast = try loss(lab, port: 9412) { try fail(1) }.missing
        XCTAssertLessThanOrEqual(fast, kernel + allowed, "lost with the fast path \(fast), kernel alone \(kernel)")
        XCTAssertGreaterThan(try lab.forwarded() - before, 200, "the fast path forwarded the stream")
    }

    /// The slave carrying a flow leaves its balance-xor bond.
    func testSlaveRemovedLosesNoMoreThanTheKernel() throws {
        let lab = try Lab(self)
        try lab.makeBond("p1", mode: "balance-xor", hash: "layer3+4", miimon: Self.miimon)
        let dst = lab.namespace(.dst)
        /// The router's slave the running flow leaves by: the one whose
        /// peer takes the next 50 datagrams.
        func carrier() throws -> Int {
            let received = { try (0...1).map { try receivedPackets(inNamespace: dst, "eth0s\($0)") } }
            let before = try received()
            var after = before
            try eventually(30, "50 datagrams on dst's slaves") {
                after = try received()
                return after[0] + after[1] - before[0] - before[1] >= 50
            }
            return after[1] - before[1] > after[0] - before[0] ? 1 : 0
        }
        func remove(port: Int) throws -> Int {
            var slave = 0
            let lost = try loss(lab, port: port) {
                slave = try carrier()
                try lab.ip("link set p1s\(slave) nomaster")
            }
            try lab.ip("link set p1s\(slave) down")
            try lab.ip("link set p1s\(slave) master p1")
            try lab.ip("link set p1s\(slave) up")
            try waitUntilSlaveUp(lab, "p1s\(slave)")
            return lost.missing
        }
        let allowed = try tolerance(lab, port: 9420)
        let kernel = try remove(port: 9421)
        _ = try lab.attach(bonds: ["p1"])
        let before = try lab.forwarded()
        let fast = try remove(port: 9421)
        XCTAssertLessThanOrEqual(fast, kernel + allowed, "lost with the fast path \(fast), kernel alone \(kernel)")
        XCTAssertGreaterThan(try lab.forwarded() - before, 200, "the fast path forwarded the stream")
    }
}
