import Foundation
import XCTest

/// A three-namespace lab (Tests/lab/lab.sh): src (10.1.0.2, fd00:1::2) —
/// p0 rtr p1 — dst (10.2.0.2, fd00:2::2). Unique names per lab; torn down
/// by the test's teardown, also when the test fails.
final class Lab: @unchecked Sendable {
    enum Host: String { case src, rtr, dst }

    static let script = Command.root.appendingPathComponent("Tests/lab/lab.sh").path
    static let packetTool = Command.root.appendingPathComponent("Tests/lab/pkt.py").path

    let name: String
    private var agents: [AgentProcess] = []

    /// Builds the lab and registers its removal with the test case.
    init(_ test: XCTestCase, warm: Bool = true) throws {
        try Lab.requireRoot()
        name = try LabScript.up(Lab.script, prefix: "ff", options: warm ? [] : ["--no-warm"])
        test.addTeardownBlock { [self] in self.tearDown() }
    }

    func tearDown() {
        for agent in agents { agent.kill(signal: SIGKILL) }
        _ = try? Command.run([Lab.script, "down", name])
    }

    func namespace(_ host: Host) -> String { "\(name)-\(host.rawValue)" }

    /// Runs a command inside one of the lab's namespaces.
    @discardableResult
    func exec(_ host: Host, _ arguments: [String]) throws -> CommandResult {
        try Command.run(["ip", "netns", "exec", namespace(host)] + arguments)
    }

    /// Runs fibfast inside the router namespace.
    @discardableResult
    func fibfast(_ arguments: [String]) throws -> CommandResult {
        try exec(.rtr, [Command.fibfast] + arguments)
    }

    /// Starts `fibfast attach` in the router and waits until it runs.
    /// `vouch`: pass --xdp-transmit for the veth ports where the kernel
    /// cannot tell (see Lab.vouching).
    func attach(_ arguments: [String] = ["p0", "p1"], vouch: Bool = true, timeout: Double = 10) throws -> AgentProcess {
        let agent = try AgentProcess(namespace: namespace(.rtr),
                                     arguments: ["attach"] + arguments + (vouch ? Lab.vouching(arguments) : []))
        agents.append(agent)
        try agent.waitUntilRunning(timeout: timeout)
        return agent
    }

    /// Sends UDP datagrams from the source host, from one process however
    /// many: `ports` spreads them over that many destination ports from
    /// `port` on, a flow each for a hash on ports; `hosts` over that many
    /// addresses from `destination` on. `cpu` pins the sender, and with it
    /// the router's work on its frames (a veth hands them over on the
    /// sender's CPU), to one CPU.
    func send(to destination: String, count: Int = 10, ttl: Int = 64, size: Int = 32, port: Int = 9999,
              ports: Int = 1, hosts: Int = 1, cpu: Int? = nil) throws {
        let pin = cpu.map { ["taskset", "-c", "\($0)"] } ?? []
        let result = try exec(.src, pin + [Command.python, Lab.packetTool, "send", "--dst", destination,
                                           "--count", "\(count)", "--ttl", "\(ttl)", "--size", "\(size)",
                                           "--port", "\(port)", "--ports", "\(ports)", "--hosts", "\(hosts)"])
        guard result.succeeded else { throw LabError.command("send", result.stderr) }
    }

    /// Captures on a host's eth0 while `during` sends; returns the packets seen.
    func capture(on host: Host, count: Int, proto: String? = nil, dport: Int? = nil, icmpType: Int? = nil,
                 timeout: Double = 3, during: () throws -> Void) throws -> [CapturedPacket] {
        try capture(inNamespaces: [namespace(host)], count: count, proto: proto, dport: dport, icmpType: icmpType,
                    timeout: timeout, during: during)
    }

    /// Captures on eth0 of these namespaces at once (extra hosts too) while
    /// `during` sends, until `count` packets have arrived in all. `timeout`
    /// is how long the rest have once `during` has returned, so a slow
    /// sender takes nothing from it. Each packet names its namespace.
    func capture(inNamespaces namespaces: [String], count: Int, destination: String? = nil, proto: String? = nil,
                 dport: Int? = nil, icmpType: Int? = nil, timeout: Double = 3,
                 during: () throws -> Void) throws -> [CapturedPacket] {
        var filters: [String] = []
        if let destination { filters += ["--dst", destination] }
        if let proto { filters += ["--proto", proto] }
        if let dport { filters += ["--dport", "\(dport)"] }
        if let icmpType { filters += ["--icmp-type", "\(icmpType)"] }
        return try capture(namespaces, count: count, filters: filters, timeout: timeout) { try during(); return nil }
    }

    /// Captures a stream whose length is known once it has stopped: `during`
    /// returns how many packets were sent, and the capture waits for as many.
    func captureStream(on host: Host, proto: String, dport: Int, timeout: Double = 3,
                       during: () throws -> Int) throws -> [CapturedPacket] {
        try capture([namespace(host)], count: Int(Int32.max), filters: ["--proto", proto, "--dport", "\(dport)"],
                    timeout: timeout, during: during)
    }

    /// `interfaces`: where to capture in each namespace, comma-separated.
    func capture(_ namespaces: [String], interfaces: String = "eth0", count: Int, filters: [String], timeout: Double,
                 during: () throws -> Int?) throws -> [CapturedPacket] {
        let capture = try BackgroundProcess([Command.python, Lab.packetTool, "capture", "--iface", interfaces,
                                             "--count", "\(count)", "--timeout", "\(Deadline.seconds(timeout))", "--done-on-stdin"]
                                            + namespaces.flatMap { ["--netns", $0] } + filters, input: true)
        defer { capture.kill(signal: SIGKILL) }
        try capture.waitForLine("ready", timeout: 30)
        if let sent = try during() { capture.say("\(sent)") }
        capture.closeInput()
        // Bounded by the capture itself (`timeout` after the input closes); the
        // margin is only for a capture that hangs.
        let output = try capture.finish(timeout: timeout + 30)
        return output.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("{") else { return nil }
            return try? JSONDecoder().decode(CapturedPacket.self, from: Data(line.utf8))
        }
    }

    /// The kernel rate-limits ICMP errors per destination; tests that count
    /// them switch the limits off on the router. For IPv4 by taking every
    /// type out of icmp_ratemask, not by icmp_ratelimit=0: up to 6.1 at least,
    /// a zero limit empties the per-sender token bucket that ip_error() draws
    /// on too, so the router answers one unroutable packet a second or so.
    func countEveryICMPError() throws {
        for setting in ["net.ipv4.icmp_ratemask=0", "net.ipv6.icmp.ratelimit=0",
                        "net.ipv4.icmp_msgs_per_sec=100000"] {
            let result = try exec(.rtr, ["sysctl", "-qw", setting])
            guard result.succeeded else { throw LabError.command("sysctl \(setting)", result.stderr) }
        }
    }

    /// The fast path's counters, from `fibfast stats --json`.
    func stats() throws -> Stats {
        let result = try fibfast(["stats", "--json"])
        guard result.succeeded else { throw LabError.command("stats", result.stderr) }
        return try JSONDecoder().decode(Stats.self, from: Data(result.stdout.utf8))
    }

    static func requireRoot() throws {
        if getuid() != 0 {
            if ProcessInfo.processInfo.environment["CI"] != nil {
                throw LabError.setup("integration tests need root; CI runs them as root")
            }
            throw XCTSkip("integration tests need root and network namespaces")
        }
    }
}

enum LabError: Error, CustomStringConvertible {
    case setup(String)
    case command(String, String)
    case timeout(String)

    var description: String {
        switch self {
        case .setup(let text): return "lab setup failed: \(text)"
        case .command(let what, let text): return "\(what) failed: \(text)"
        case .timeout(let what): return "timed out waiting for \(what)"
        }
    }
}

/// One packet as Tests/lab/pkt.py capture prints it.
struct CapturedPacket: Decodable {
    var family: Int
    var src: String
    var dst: String
    var ttl: Int
    var proto: String?
    var len: Int
    var dport: Int?
    var icmp_type: Int?
    var icmp_code: Int?
    var eth_src: String
    var eth_dst: String
    /// Where it was captured, when the capture was in several namespaces.
    var netns: String?
    /// The VLAN tag it arrived with (TCI, TPID), nil untagged.
    var vlan_tci: Int?
    var vlan_tpid: Int?
    /// The frame as the socket got it (a tag the kernel took off is in vlan_tci).
    var hex: String?
    /// The interface it arrived on.
    var iface: String?

    enum CodingKeys: String, CodingKey {
        case family, src, dst, ttl, proto, len, dport, icmp_type, icmp_code, eth_src, eth_dst, netns, vlan_tci, vlan_tpid, hex, iface
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        family = try c.decode(Int.self, forKey: .family)
        src = try c.decode(String.self, forKey: .src)
        dst = try c.decode(String.self, forKey: .dst)
        ttl = try c.decode(Int.self, forKey: .ttl)
        // pkt.py prints unknown protocols as numbers.
        proto = (try? c.decode(String.self, forKey: .proto)) ?? (try? c.decode(Int.self, forKey: .proto)).map(String.init)
        len = try c.decode(Int.self, forKey: .len)
        dport = try c.decodeIfPresent(Int.self, forKey: .dport)
        icmp_type = try c.decodeIfPresent(Int.self, forKey: .icmp_type)
        icmp_code = try c.decodeIfPresent(Int.self, forKey: .icmp_code)
        eth_src = try c.decode(String.self, forKey: .eth_src)
        eth_dst = try c.decode(String.self, forKey: .eth_dst)
        netns = try c.decodeIfPresent(String.self, forKey: .netns)
        vlan_tci = try c.decodeIfPresent(Int.self, forKey: .vlan_tci)
        vlan_tpid = try c.decodeIfPresent(Int.self, forKey: .vlan_tpid)
        iface = try c.decodeIfPresent(String.self, forKey: .iface)
    }
}
