import XCTest

/// However fibfast goes away, the ports are left to plain kernel forwarding.
final class FallbackTests: XCTestCase {
    func xdpPrograms(_ lab: Lab) throws -> String {
        try ["p0", "p1"].map { port in
            let show = try lab.exec(.rtr, ["ip", "-d", "link", "show", port]).stdout
            return show.contains("prog/xdp") ? "\(port) " : ""
        }.joined()
    }

    func assertKernelForwards(_ lab: Lab, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try xdpPrograms(lab), "", "XDP left attached", file: file, line: line)
        let packets = try lab.capture(on: .dst, count: 5, proto: "udp", dport: 9999) {
            try lab.send(to: "10.2.0.2", count: 5)
        }
        XCTAssertEqual(packets.count, 5, "kernel forwarding broken", file: file, line: line)
        XCTAssertTrue(packets.allSatisfy { $0.ttl == 63 }, file: file, line: line)
    }

    func testSIGTERMDetachesAndExitsCleanly() throws {
        let lab = try Lab(self)
        let agent = try lab.attach()
        XCTAssertEqual(try xdpPrograms(lab), "p0 p1 ")
        XCTAssertEqual(try agent.stop(signal: SIGTERM), 0)
        XCTAssertTrue(agent.log.contains("SIGTERM received"), agent.log)
        try assertKernelForwards(lab)
    }

    func testSIGKILLLeavesKernelForwarding() throws {
        let lab = try Lab(self)
        let agent = try lab.attach()
        try agent.stop(signal: SIGKILL)
        try assertKernelForwards(lab)
    }

    func testDetachCommandHandsPortsBackWhileAgentRuns() throws {
        let lab = try Lab(self)
        let agent = try lab.attach()
        let detach = try lab.fibfast(["detach"])
        XCTAssertTrue(detach.succeeded, detach.stderr)
        XCTAssertEqual(detach.stdout, "detached p0\ndetached p1\n")
        try assertKernelForwards(lab)
        let again = try lab.fibfast(["detach"])
        XCTAssertTrue(again.succeeded)
        XCTAssertTrue(again.stdout.contains("not attached"), again.stdout)
        try agent.stop()
    }
}
