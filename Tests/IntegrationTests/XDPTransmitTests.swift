import FibfastCore
import XCTest

/// A port whose device cannot take XDP redirects (no XDP transmit path:
/// macvlan, VLAN, bridge; a veth whose peer runs neither XDP nor GRO) must
/// never be redirected to: the frame would be lost where the kernel alone
/// delivers it. fibfast hands that traffic to the kernel instead, and counts
/// it as no-xdp-transmit.
final class XDPTransmitTests: XCTestCase {
    /// p1's address moves to a macvlan on it, so routes to dst leave by the
    /// macvlan, which fibfast attaches in generic mode.
    func testTrafficRoutedToAMacvlanPortIsDeliveredByTheKernel() throws {
        let lab = try Lab(self)
        try lab.ip("addr del 10.2.0.1/24 dev p1")
        try lab.ip("link add link p1 name mv1 type macvlan mode bridge")
        try lab.ip("addr add 10.2.0.1/24 dev mv1")
        try lab.ip("link set mv1 up")
        let agent = try lab.attach(["p0", "mv1"])
        XCTAssertTrue(agent.log.contains("port mv1 cannot take XDP redirects (macvlan devices have no XDP transmit path)"), agent.log)
        // Resolve the neighbours first: the first datagram of a flow waits in the kernel for ARP.
        XCTAssertTrue(try lab.exec(.src, ["ping", "-c", "1", "-W", "2", "10.2.0.2"]).succeeded)

        let before = try lab.stats()
        let delivered = try lab.capture(on: .dst, count: 40, proto: "udp", dport: 9999) {
            try lab.send(to: "10.2.0.2", count: 40, port: 9999)
        }
        XCTAssertEqual(delivered.count, 40, "the kernel delivers every datagram routed to the macvlan")
        let after = try lab.stats()
        let p0 = try after.port("p0"), p0Before = try before.port("p0")
        XCTAssertEqual(p0.passed("no-xdp-transmit") - p0Before.passed("no-xdp-transmit"), 40)
        XCTAssertEqual(p0.forwarded.packets, p0Before.forwarded.packets, "none redirected to the macvlan")
        XCTAssertEqual(after.total.failed, 0, "no frame lost after a redirect")

        // The other way, from the generic-mode macvlan to a veth, a redirect works.
        let back = try lab.capture(on: .src, count: 20, proto: "udp", dport: 9998) {
            try lab.check(lab.exec(.dst, [Command.python, Lab.packetTool, "send", "--dst", "10.1.0.2",
                                          "--count", "20", "--port", "9998"]))
        }
        XCTAssertEqual(back.count, 20)
        XCTAssertEqual(try lab.stats().port("mv1").forwarded.packets - (try before.port("mv1").forwarded.packets), 20,
                       "forwarded in XDP from the generic-mode port")
    }

    /// A veth takes redirects only while its peer runs XDP or GRO; the
    /// kernel says so in the veth's XDP features and announces changes,
    /// which the agent follows while running.
    func testAVethPeerLosingGROSendsTrafficToTheKernelUntilItComesBack() throws {
        try XCTSkipUnless(Lab.kernelReportsXDPFeatures, "the kernel reports no XDP features (before 6.3)")
        let lab = try Lab(self)
        let agent = try lab.attach()
        XCTAssertTrue(try lab.exec(.src, ["ping", "-c", "1", "-W", "2", "10.2.0.2"]).succeeded)

        func sendAndCount() throws -> (delivered: Int, forwarded: UInt64, toKernel: UInt64) {
            let before = try lab.stats()
            let delivered = try lab.capture(on: .dst, count: 30, proto: "udp", dport: 9999) {
                try lab.send(to: "10.2.0.2", count: 30, port: 9999)
            }
            let after = try lab.stats()
            return (delivered.count,
                    try after.port("p0").forwarded.packets - before.port("p0").forwarded.packets,
                    try after.port("p0").passed("no-xdp-transmit") - before.port("p0").passed("no-xdp-transmit"))
        }

        let first = try sendAndCount()
        XCTAssertEqual(first.delivered, 30)
        XCTAssertEqual(first.forwarded, 30, "forwarded in XDP while dst runs GRO")

        try agent.waitForAnotherLog("port p1 cannot take XDP redirects (its veth peer runs neither XDP nor GRO") {
            _ = try lab.check(lab.exec(.dst, ["ethtool", "-K", "eth0", "gro", "off"]))
        }
        let without = try sendAndCount()
        XCTAssertEqual(without.delivered, 30, "nothing lost: the kernel forwards")
        XCTAssertEqual(without.toKernel, 30)
        XCTAssertEqual(without.forwarded, 0)
        XCTAssertEqual(try lab.stats().total.failed, 0)

        try agent.waitForAnotherLog("port p1 takes XDP redirects again") {
            _ = try lab.check(lab.exec(.dst, ["ethtool", "-K", "eth0", "gro", "on"]))
        }
        let again = try sendAndCount()
        XCTAssertEqual(again.delivered, 30)
        XCTAssertEqual(again.forwarded, 30, "back in XDP")
    }

    /// --xdp-transmit overrides the kernel's answer (for drivers fibfast
    /// cannot judge on older kernels); when the operator is wrong, the lost
    /// frames are counted, not hidden.
    func testAPortVouchedForThatCannotTransmitShowsItsFailures() throws {
        let lab = try Lab(self)
        XCTAssertTrue(try lab.exec(.dst, ["ethtool", "-K", "eth0", "gro", "off"]).succeeded)
        let agent = try lab.attach(["p0", "p1", "--xdp-transmit", "p1"])
        XCTAssertFalse(agent.log.contains("port p1 cannot take XDP redirects"), agent.log)
        let before = try lab.stats()
        XCTAssertTrue(before.failureTracing)
        let delivered = try lab.capture(on: .dst, count: 1, proto: "udp", dport: 9999, timeout: 1.5) {
            try lab.send(to: "10.2.0.2", count: 25, port: 9999)
        }
        XCTAssertEqual(delivered.count, 0, "the frames are lost")
        let after = try lab.stats()
        let p1 = try after.port("p1"), p1Before = try before.port("p1")
        XCTAssertEqual(p1.failed - p1Before.failed, 25)
        // With XDP features (6.3) the redirect itself is refused; before,
        // veth's transmit function refuses the frames when the devmap flushes.
        let (kind, error) = Lab.kernelReportsXDPFeatures ? ("redirect", "EOPNOTSUPP") : ("transmit", "ENXIO")
        let failure = try XCTUnwrap(p1.failures[kind], "\(p1.failures)")
        XCTAssertEqual(failure.lastError, error)
        XCTAssertEqual(try after.port("p0").failed, 0, "counted on the port that cannot transmit")
        let text = try lab.fibfast(["stats"]).stdout
        XCTAssertTrue(text.contains("failed: \(kind) \(failure.frames) (\(error))"), text)
    }

    func testXDPTransmitMustNameAPort() throws {
        let lab = try Lab(self)
        let (status, message) = try lab.attachRefused(["p0", "p1", "--xdp-transmit", "p2"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(message.contains("--xdp-transmit p2: p2 is not one of the ports named to attach"), message)
        XCTAssertEqual(try lab.portsWithXDP(), [])
    }
}
