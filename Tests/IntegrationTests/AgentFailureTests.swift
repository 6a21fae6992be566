import Foundation
import XCTest

/// The agent when the system fails it: descriptors run out under it (its
/// RLIMIT_NOFILE lowered with prlimit), so dumps and helper tools fail.
/// It must recover by itself once they work again, or stop with an error
/// that a supervisor acts on; and whatever it cannot know, it must assume
/// the safe way.
final class AgentFailureTests: XCTestCase {
    /// Lowers (or restores) the agent's soft limit on open files: with 3,
    /// only stdin, stdout and stderr fit, so every new socket fails
    /// (EMFILE) while the ones it has keep working.
    func limitFiles(_ agent: AgentProcess, to limit: Int) throws {
        let result = try Command.run(["prlimit", "--pid", "\(agent.pid)", "--nofile=\(limit):"])
        guard result.succeeded else { throw LabError.command("prlimit", result.stderr) }
    }

    /// UDP frames from src to dst with a forged source address; how many
    /// arrive, and how many the fast path forwarded.
    func send(_ lab: Lab, from source: String) throws -> (delivered: Int, forwarded: UInt64) {
        let frame = RawFrames.udp4(ethDst: try lab.mac(.rtr, "p0"), ethSrc: try lab.mac(.src, "eth0"),
                                   src: source, dst: "10.2.0.2", dport: 7777)
        let before = try lab.forwarded()
        let seen = try lab.capture(on: .dst, count: 20, proto: "udp", dport: 7777, timeout: 1.5) {
            try lab.inject(frame, count: 20)
        }
        return (seen.filter { $0.src == source }.count, try lab.forwarded() - before)
    }

    /// A resync that fails (here: no socket for the dump) is retried on a
    /// timer, and succeeds once it can, without waiting for another change
    /// in the kernel. Meanwhile the own-address table loses nothing: an
    /// address removed stays in it (its packets go to the kernel) until a
    /// dump shows what is left.
    func testAFailedResyncIsRetriedOnATimer() throws {
        let lab = try Lab(self)
        try lab.ip("addr add 10.2.0.9/32 dev p1")
        let agent = try lab.attach(["p0", "p1"])
        try agent.waitForLog("in step with the kernel")

        try limitFiles(agent, to: 3)
        // The deletion schedules a resync, whose dumps cannot open a socket.
        try lab.ip("addr del 10.2.0.9/32 dev p1")
        try agent.waitForLog("resynchronising failed")
        try limitFiles(agent, to: 1024)

        // Nothing changes in the kernel from here on: only a retry on a
        // timer can take 10.2.0.9, no longer the router's, out of the
        // table, and then it is forwarded in XDP. The once-a-second safety
        // round, which failed meanwhile too, re-reads rp_filter and the
        // firewall by itself.
        try eventually(45, "10.2.0.9 forwarded in XDP as a foreign source") {
            let result = try send(lab, from: "10.2.0.9")
            return result.delivered == 20 && result.forwarded == 20
        }
        // The router's own 10.2.0.1 was refused all along, and still is.
        let own = try send(lab, from: "10.2.0.1")
        XCTAssertEqual(own.delivered, 0, "fibfast forwarded a source that is the router's own")
        XCTAssertEqual(own.forwarded, 0)
        XCTAssertTrue(agent.isRunning)
        let log = agent.log
        for line in ["own addresses not re-read after one was removed", "retrying in 1s", "resynchronised after"] {
            XCTAssertTrue(log.contains(line), "log lacks '\(line)': \(log)")
        }
    }

    /// The netlink event reader stops (here: poll fails with EINVAL once
    /// the limit is below its two descriptors): the agent must exit with an
    /// error, so that systemd's Restart=on-failure starts a new one; exit
    /// status 0 would leave it stopped for good.
    func testAnAgentThatStopsHearingTheKernelExitsWithAnError() throws {
        let lab = try Lab(self)
        let agent = try lab.attach(["p0", "p1"])
        try agent.waitForLog("in step with the kernel")
        try limitFiles(agent, to: 1)
        // An event wakes the reader; its next poll fails.
        try lab.ip("route add 10.9.0.0/24 via 10.2.0.2")
        _ = try agent.background.finish(timeout: 20)
        XCTAssertEqual(agent.background.exitStatus, 1, agent.log)
        XCTAssertTrue(agent.log.contains("the agent stopped following the kernel: the netlink event reader stopped (poll: "),
                      agent.log)
        XCTAssertEqual(try lab.portsWithXDP(), [], "the kernel forwards alone")
    }
}
