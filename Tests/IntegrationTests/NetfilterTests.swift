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
        Thread.sleep(forTimeInterval: 0.3)
        // The documented consequence: the drop rule is not applied.
        XCTAssertEqual(try lab.stats().port("p0").forwarded.packets, 10)
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
        try agent.background.waitForLine("forwarding again", inStderr: true, timeout: 5)
        try lab.send(to: "10.2.0.2", count: 10, port: 5555)
        Thread.sleep(forTimeInterval: 0.3)
        p0 = try lab.stats().port("p0")
        XCTAssertEqual(p0.forwarded.packets, 10)
    }
}
