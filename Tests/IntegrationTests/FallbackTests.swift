import Foundation
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

    /// A stop signal that lands while the agent is still starting must not
    /// kill it mid-way: the agent takes SIGTERM over before it touches any
    /// port, holds the signal, and stops cleanly once running.
    func testSIGTERMDuringStartStopsCleanly() throws {
        let lab = try Lab(self)
        let agent = try AgentProcess(namespace: lab.namespace(.rtr), arguments: ["attach", "p0", "p1"])
        // /proc shows when fibfast took SIGTERM over (ignored, or caught by
        // Dispatch); `ip netns exec` execs it, so the pid is the process's.
        let status = "/proc/\(agent.background.pid)/status"
        let deadline = Date().addingTimeInterval(Deadline.seconds(10))
        func ignoresSIGTERM() -> Bool {
            guard let text = try? String(contentsOfFile: status, encoding: .utf8), text.contains("Name:\tfibfast")
            else { return false }
            let masks = text.split(separator: "\n").filter { $0.hasPrefix("SigIgn:") || $0.hasPrefix("SigCgt:") }
                .compactMap { UInt64($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces), radix: 16) }
            return masks.contains { $0 & (1 << UInt64(SIGTERM - 1)) != 0 }
        }
        // A signal disposition changing raises no event: /proc is polled, often, so
        // that SIGTERM lands early in the start, where the test wants it.
        while !ignoresSIGTERM() && agent.isRunning && Date() < deadline { usleep(1000) }
        XCTAssertTrue(ignoresSIGTERM(), "the agent never took SIGTERM over: \(agent.log)")
        XCTAssertEqual(try lab.portsWithXDP(), [], "ports were attached before SIGTERM was taken over")
        XCTAssertEqual(try agent.stop(signal: SIGTERM), 0, agent.log)
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

    func testSIGKILLUnderTrafficLeavesKernelForwardingIntact() throws {
        let lab = try Lab(self)
        let agent = try lab.attach()
        var forwardedBeforeKill: UInt64 = 0
        var sent = 0
        let seen = try lab.captureStream(on: .dst, proto: "udp", dport: 7001) {
            let stream = try Stream.start(inNamespace: lab.namespace(.src), to: "10.2.0.2", port: 7001, interval: 0.002)
            defer { stream.kill() }
            try eventually(30, "the stream forwarded in XDP") { try lab.forwarded() > 100 }
            forwardedBeforeKill = try lab.forwarded()
            agent.kill(signal: SIGKILL)
            _ = try agent.background.finish(timeout: 10)
            // The kernel alone carries the stream on.
            let arrived = try receivedPackets(inNamespace: lab.namespace(.dst), "eth0")
            try eventually(30, "the stream reaching dst after the kill") {
                try receivedPackets(inNamespace: lab.namespace(.dst), "eth0") >= arrived + 200
            }
            sent = try stream.stop()
            return sent
        }
        XCTAssertGreaterThan(forwardedBeforeKill, 100, "traffic went through XDP before the kill")
        XCTAssertEqual(seen.count, sent, "every datagram reached dst, across the crash")
        XCTAssertFalse(agent.isRunning)
        XCTAssertEqual(try lab.portsWithXDP(), [], "a dead agent leaves no program behind")
        XCTAssertFalse(try lab.fibfast(["stats"]).succeeded, "nothing to report: the fast path is gone")
    }
}
