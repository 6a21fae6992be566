import XCTest

/// Bad invocations fail with a message naming the fault and leave nothing attached.
final class AttachErrorTests: XCTestCase {
    func assertRefused(_ lab: Lab, _ arguments: [String], prefix: [String] = [], message: String,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try lab.exec(.rtr, prefix + [Command.fibfast, "attach"] + arguments)
        XCTAssertNotEqual(result.status, 0, "accepted: \(arguments)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), "stderr: \(result.stderr)", file: file, line: line)
        for port in ["p0", "p1"] {
            let show = try lab.exec(.rtr, ["ip", "-d", "link", "show", port]).stdout
            XCTAssertFalse(show.contains("prog/xdp"), "\(port) left attached after \(arguments)", file: file, line: line)
        }
    }

    func testBadInvocationsAreRefused() throws {
        let lab = try Lab(self)
        try assertRefused(lab, ["p0", "nosuch0"], message: "port nosuch0 does not exist")
        try assertRefused(lab, ["p0"], message: "at least two ports")
        try assertRefused(lab, ["p0", "p0"], message: "port p0 is named more than once")
        try assertRefused(lab, ["p0", "lo"], message: "port lo is a loopback device")
        try assertRefused(lab, ["p0", "p1", "--mode", "turbo"], message: "turbo")
        // Not root: drop every capability.
        try assertRefused(lab, ["p0", "p1"], prefix: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"],
                          message: "needs root")
    }

    func testForwardingOffIsRefusedUnlessEnabled() throws {
        let lab = try Lab(self)
        try lab.exec(.rtr, ["sysctl", "-qw", "net.ipv4.ip_forward=0"])
        try assertRefused(lab, ["p0", "p1"], message: "net.ipv4.ip_forward")
        let agent = try lab.attach(["p0", "p1", "--enable-forwarding"])
        XCTAssertEqual(try lab.exec(.rtr, ["sysctl", "-n", "net.ipv4.ip_forward"]).stdout, "1\n")
        XCTAssertTrue(agent.log.contains("IPv4 forwarding enabled"), agent.log)
    }

    func testSecondAgentOnTheSamePortIsRefused() throws {
        let lab = try Lab(self)
        let first = try lab.attach()
        let second = try lab.exec(.rtr, [Command.fibfast, "attach", "p0", "p1"])
        XCTAssertNotEqual(second.status, 0)
        XCTAssertTrue(second.stderr.contains("already served by a fibfast agent"), second.stderr)
        XCTAssertTrue(first.isRunning)
        // The first agent still forwards.
        let packets = try lab.capture(on: .dst, count: 3, proto: "udp", dport: 9999) {
            try lab.send(to: "10.2.0.2", count: 3)
        }
        XCTAssertEqual(packets.count, 3)
    }

    /// macvlan has no native XDP: --mode native fails on it after p0 is
    /// already attached, which must be undone, and so must the forwarding
    /// switched on for the attempt. --mode auto falls back to generic.
    func testFailedAttachUndoesEverything() throws {
        let lab = try Lab(self, warm: false)
        for command in [["sysctl", "-qw", "net.ipv4.ip_forward=0"],
                        ["ip", "link", "add", "mv0", "link", "p1", "type", "macvlan", "mode", "bridge"],
                        ["ip", "link", "set", "mv0", "up"], ["ip", "addr", "add", "10.3.0.1/24", "dev", "mv0"]] {
            XCTAssertTrue(try lab.exec(.rtr, command).succeeded, "\(command)")
        }
        try assertRefused(lab, ["p0", "mv0", "--mode", "native", "--enable-forwarding"],
                          message: "attaching to port mv0 in native mode failed: Operation not supported; the driver has no native XDP, try --mode generic")
        XCTAssertEqual(try lab.exec(.rtr, ["ip", "-d", "link", "show", "mv0"]).stdout.contains("prog/xdp"), false)
        XCTAssertEqual(try lab.exec(.rtr, ["sysctl", "-n", "net.ipv4.ip_forward"]).stdout, "0\n")

        let agent = try lab.attach(["p0", "mv0", "--enable-forwarding"])
        XCTAssertTrue(agent.log.contains("port mv0 (ifindex"), agent.log)
        XCTAssertTrue(agent.log.contains("attached in generic mode"), agent.log)
    }
}
