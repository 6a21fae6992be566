import Foundation
import XCTest

/// XDP forwarding bypasses netfilter: fibfast must not silently switch a
/// router's firewall or NAT off.
final class NetfilterTests: XCTestCase {
    func nft(_ lab: Lab, _ arguments: String...) throws {
        let result = try lab.exec(.rtr, ["nft"] + arguments)
        guard result.succeeded else { throw LabError.command("nft \(arguments)", result.stderr) }
    }

    func assertRefused(_ lab: Lab, naming expected: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let (status, message) = try lab.attachRefused(["p0", "p1"])
        XCTAssertNotEqual(status, 0, "attach must fail", file: file, line: line)
        for text in expected + ["--bypass-netfilter"] {
            XCTAssertTrue(message.contains(text), "message lacks '\(text)': \(message)", file: file, line: line)
        }
        XCTAssertEqual(try lab.portsWithXDP(), [], "nothing may stay attached", file: file, line: line)
    }

    func testRefusesToAttachOverAForwardChain() throws {
        let lab = try Lab(self)
        try nft(lab, "add", "table", "inet", "fw")
        try nft(lab, "add", "chain", "inet", "fw", "forward", "{ type filter hook forward priority 0; }")
        // An empty base chain with an accept policy filters nothing.
        _ = try lab.attach().stop()
        try nft(lab, "add", "rule", "inet", "fw", "forward", "tcp", "dport", "22", "drop")
        try assertRefused(lab, naming: ["table inet fw chain forward", "tcp dport 22 drop"])
    }

    func testRefusesOverADropPolicyAndNAT() throws {
        let lab = try Lab(self)
        try nft(lab, "add", "table", "ip", "f")
        try nft(lab, "add", "chain", "ip", "f", "fw", "{ type filter hook forward priority 0; policy drop; }")
        try assertRefused(lab, naming: ["chain fw", "policy drop"])
        try nft(lab, "flush", "ruleset")
        // iptables-nft shows up in nftables.
        XCTAssertTrue(try lab.exec(.rtr, ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "p1", "-j", "MASQUERADE"]).succeeded)
        try assertRefused(lab, naming: ["POSTROUTING", "masquerade"])
    }

    /// IPsec policies act on forwarded packets too (fwd checks, out
    /// transforms), and XDP would skip them just the same.
    func testRefusesOverIPsecPolicies() throws {
        let lab = try Lab(self)
        let policy = ["ip", "xfrm", "policy", "add", "src", "10.1.0.0/24", "dst", "10.2.0.0/24", "dir", "fwd", "action", "block"]
        XCTAssertTrue(try lab.exec(.rtr, policy).succeeded)
        // The kernel alone drops what the policy blocks...
        XCTAssertEqual(try lab.capture(on: .dst, count: 5, proto: "udp", dport: 9999, timeout: 1.5) {
            try lab.send(to: "10.2.0.2", count: 5)
        }.count, 0)
        // ...so fibfast must not forward it.
        try assertRefused(lab, naming: ["ipsec", "dir fwd", "src 10.1.0.0/24 dst 10.2.0.0/24"])
    }

    /// Default policies (`ip xfrm policy setdefault`, kernel 5.16): "fwd
    /// block" drops every forwarded packet no policy allows, "out block"
    /// every one no policy transforms. Refused at attach; at run time the
    /// agent steps aside while one is set.
    func testIPsecDefaultPoliciesCountLikePolicies() throws {
        let lab = try Lab(self)
        func setDefault(_ arguments: String...) throws {
            try lab.check(lab.exec(.rtr, ["ip", "xfrm", "policy", "setdefault"] + arguments))
        }
        try setDefault("fwd", "block")
        XCTAssertEqual(try lab.capture(on: .dst, count: 5, proto: "udp", dport: 9999, timeout: 1.5) {
            try lab.send(to: "10.2.0.2", count: 5)
        }.count, 0, "the kernel alone drops what no policy allows")
        try assertRefused(lab, naming: ["ipsec", "default policy fwd block"])
        try setDefault("fwd", "accept", "out", "block")
        try assertRefused(lab, naming: ["default policy out block"])
        try setDefault("out", "accept")

        let agent = try lab.attach()
        try agent.waitForLog("in step with the kernel")
        try setDefault("fwd", "block")
        try agent.waitForLog("fast path stepped aside")
        XCTAssertTrue(agent.log.contains("netfilter rule appeared: ipsec table xfrm policy chain default (fwd hook)"), agent.log)
        let before = try lab.stats().port("p0")
        XCTAssertEqual(try lab.capture(on: .dst, count: 5, proto: "udp", dport: 9999, timeout: 1.5) {
            try lab.send(to: "10.2.0.2", count: 5)
        }.count, 0, "the kernel's default policy applies")
        XCTAssertEqual(try lab.stats().port("p0").forwarded.packets, before.forwarded.packets)
        try setDefault("fwd", "accept")
        try agent.waitForLog("fast path forwarding again")
    }

    func testRefusesOverLegacyIptables() throws {
        let lab = try Lab(self)
        XCTAssertTrue(try lab.exec(.rtr, ["iptables-legacy", "-A", "FORWARD", "-s", "10.9.0.0/16", "-j", "DROP"]).succeeded)
        try assertRefused(lab, naming: ["iptables-legacy", "-A FORWARD -s 10.9.0.0/16 -j DROP"])
        XCTAssertTrue(try lab.exec(.rtr, ["ip6tables-legacy", "-t", "mangle", "-A", "PREROUTING", "-j", "MARK", "--set-mark", "1"]).succeeded)
        try assertRefused(lab, naming: ["ip6tables-legacy", "mangle"])
    }

    func testBypassIsTheOperatorsExplicitChoice() throws {
        let lab = try Lab(self)
        try nft(lab, "add", "table", "inet", "fw")
        try nft(lab, "add", "chain", "inet", "fw", "forward", "{ type filter hook forward priority 0; }")
        try nft(lab, "add", "rule", "inet", "fw", "forward", "udp", "dport", "5555", "drop")
        let agent = try lab.attach(["p0", "p1", "--bypass-netfilter"])
        XCTAssertTrue(agent.log.contains("bypassing netfilter"), agent.log)
        try lab.send(to: "10.2.0.2", count: 10, port: 5555)
        // The documented consequence: the drop rule is not applied.
        XCTAssertEqual(try lab.stats(when: { try $0.port("p0").forwarded.packets >= 10 }).port("p0").forwarded.packets, 10)
    }

    /// Conntrack in use anywhere in the namespace (here a host firewall on
    /// the input hook, which the forward-path check lets through) makes the
    /// kernel hold fragments, forwarded ones too, until the packet is whole:
    /// fragments then go to the kernel, and return to XDP once it is gone.
    func testFragmentsGoToTheKernelWhileConntrackReassembles() throws {
        let lab = try Lab(self)
        try nft(lab, "add table inet host; add chain inet host in { type filter hook input priority 0; };"
                     + " add rule inet host in ct state established,related accept")
        let agent = try lab.attach(["p0", "p1", "-v"])
        try agent.waitForLog("in step with the kernel")
        XCTAssertTrue(agent.log.contains("conntrack is in use"), agent.log)
        let router = try lab.mac(.rtr, "p0"), source = try lab.mac(.src, "eth0")
        let fragments = [
            RawFrames.fragment4(RawFrames.udp4(ethDst: router, ethSrc: source, src: "10.1.0.2", dst: "10.2.0.2"),
                                offset: 100, more: true),
            RawFrames.fragment6(RawFrames.udp6(ethDst: router, ethSrc: source, src: "fd00:1::2", dst: "fd00:2::2",
                                               nextHeader: 44), offset: 100, more: true),
        ]
        var before = try lab.stats().port("p0")
        for frame in fragments { try lab.inject(frame, count: 5) }
        var after = try lab.stats(when: { try $0.port("p0").passed("stepped-aside") - before.passed("stepped-aside") >= 10 }).port("p0")
        XCTAssertEqual(after.passed("stepped-aside") - before.passed("stepped-aside"), 10)
        XCTAssertEqual(after.forwarded.packets, before.forwarded.packets, "no fragment forwarded in XDP")

        try agent.waitForAnotherLog("fragments forwarded in XDP again") { try nft(lab, "flush", "ruleset") }
        before = try lab.stats().port("p0")
        for frame in fragments { try lab.inject(frame, count: 5) }
        after = try lab.stats(when: { try $0.port("p0").forwarded.packets - before.forwarded.packets >= 10 }).port("p0")
        XCTAssertEqual(after.forwarded.packets - before.forwarded.packets, 10)
        XCTAssertEqual(after.passed("stepped-aside"), before.passed("stepped-aside"))
    }

    /// nftables commits arrive as events: the agent looks at the firewall
    /// when one does, not only at its once-a-second poll.
    func testStepsAsideWhenRulesAppearAndComesBackWhenTheyGo() throws {
        let lab = try Lab(self)
        let agent = try lab.attach(["p0", "p1", "-v"])
        try agent.waitForLog("in step with the kernel")
        // One transaction, so one commit event, after which the rule exists.
        try agent.waitForAnotherLog("nftables ruleset changed: firewall re-read") {
            try nft(lab, "add table inet fw; add chain inet fw forward { type filter hook forward priority 0; };"
                         + " add rule inet fw forward udp dport 5555 counter drop")
        }
        XCTAssertTrue(agent.log.contains("stepped aside"), agent.log)
        XCTAssertTrue(agent.log.contains("udp dport 5555"), agent.log)

        // The kernel forwards, so its firewall applies: 5555 is dropped, the rest delivered.
        let dropped = try lab.capture(on: .dst, count: 10, proto: "udp", dport: 5555, timeout: 1) {
            try lab.send(to: "10.2.0.2", count: 10, port: 5555)
        }
        XCTAssertEqual(dropped.count, 0, "the firewall rule must apply")
        let delivered = try lab.capture(on: .dst, count: 10, proto: "udp", dport: 6666, timeout: 2) {
            try lab.send(to: "10.2.0.2", count: 10, port: 6666)
        }
        XCTAssertEqual(delivered.count, 10)
        var p0 = try lab.stats().port("p0")
        XCTAssertEqual(p0.forwarded.packets, 0)
        // The 20 datagrams, and whatever else src sent meanwhile (ARP, ND).
        XCTAssertGreaterThanOrEqual(p0.passed("stepped-aside"), 20)

        try nft(lab, "flush", "ruleset")
        try agent.background.waitForLine("forwarding again", inStderr: true, timeout: 30)
        try lab.send(to: "10.2.0.2", count: 10, port: 5555)
        p0 = try lab.stats(when: { try $0.port("p0").forwarded.packets >= 10 }).port("p0")
        XCTAssertEqual(p0.forwarded.packets, 10)
    }

    // MARK: - A firewall tool that hangs

    /// A stand-in for nft, bind-mounted over /usr/sbin/nft in a private
    /// mount namespace: the real one, until the file `hang` exists; then a
    /// shell that waits on a child for good (so killing the shell alone
    /// would leave the child, and the pipes, behind).
    struct HangingNft {
        let directory: String
        let sleeper: String
        var hang: String { directory + "/hang" }

        init(_ test: XCTestCase) throws {
            directory = "/tmp/ff-nft-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
            // A duration no other process uses, to find the children later.
            sleeper = "1000.\(UInt32.random(in: 0..<UInt32.max))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "/usr/sbin/nft", toPath: directory + "/nft.real")
            try "#!/bin/sh\nif [ -e \(directory)/hang ]; then sleep \(sleeper); exit 0; fi\nexec \(directory)/nft.real \"$@\"\n"
                .write(toFile: directory + "/nft", atomically: true, encoding: .utf8)
            chmod(directory + "/nft", 0o755)
            let path = directory
            test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        }

        /// `fibfast ARGS` in the lab's router, seeing this nft.
        func command(_ lab: Lab, _ arguments: [String]) -> [String] {
            ["ip", "netns", "exec", lab.namespace(.rtr), "unshare", "-m", "sh", "-c",
             "mount --bind \(directory)/nft /usr/sbin/nft && exec \"$0\" \"$@\"", Command.fibfast] + arguments
        }

        /// Processes still running the stand-in's child.
        func sleepers() throws -> [String] {
            let result = try Command.run(["pgrep", "-f", "sleep \(sleeper)"])
            return result.stdout.split(separator: "\n").map(String.init)
        }
    }

    /// At attach, an nft that never answers is a firewall that cannot be
    /// checked: refused after the tool's deadline, not waited on for good.
    func testAnNftThatHangsIsARefusalNotAHang() throws {
        let lab = try Lab(self, warm: false)
        let nft = try HangingNft(self)
        FileManager.default.createFile(atPath: nft.hang, contents: nil)
        let started = Date()
        let result = try Command.run(["timeout", "-s", "KILL", "60"] + nft.command(lab, ["attach", "p0", "p1"]))
        XCTAssertEqual(result.status, 1, "refused, not killed at the test's deadline: \(result.stderr)")
        XCTAssertTrue(result.stderr.contains("nft -j list ruleset: no answer within 10 s, stopped"), result.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 50)
        XCTAssertEqual(try lab.portsWithXDP(), [])
        XCTAssertEqual(try nft.sleepers(), [], "the tool's child was left running")
    }

    /// While it runs, the agent steps aside when nft stops answering (it
    /// cannot know the firewall), keeps following the kernel meanwhile, and
    /// comes back when nft answers again.
    func testAnNftThatHangsWhileRunningMakesTheAgentStepAside() throws {
        let lab = try Lab(self)
        let nft = try HangingNft(self)
        let agent = try AgentProcess(command: nft.command(lab, ["attach", "p0", "p1"]))
        addTeardownBlock { agent.kill(signal: SIGKILL) }
        try agent.waitForLog("in step with the kernel")

        FileManager.default.createFile(atPath: nft.hang, contents: nil)
        try agent.waitForLog("no answer within 10 s, stopped", timeout: 30)
        try agent.waitForLog("fast path stepped aside")
        let before = try lab.stats().port("p0")
        let seen = try lab.capture(on: .dst, count: 10, proto: "udp", dport: 9999) { try lab.send(to: "10.2.0.2", count: 10) }
        XCTAssertEqual(seen.count, 10, "the kernel forwards")
        let after = try lab.stats().port("p0")
        XCTAssertEqual(after.forwarded.packets, before.forwarded.packets)
        XCTAssertGreaterThanOrEqual(after.passed("stepped-aside") - before.passed("stepped-aside"), 10)

        // Netlink events are handled while a firewall read hangs.
        try lab.ip("route add 10.9.0.0/24 via 10.2.0.2")
        try agent.waitForLog("next hop 10.2.0.2 on p1: ", timeout: 30)

        try FileManager.default.removeItem(atPath: nft.hang)
        try agent.waitForLog("fast path forwarding again", timeout: 30)
        XCTAssertEqual(try nft.sleepers(), [], "a hung tool's child was left running")
        XCTAssertEqual(try agent.stop(), 0)
    }
}
