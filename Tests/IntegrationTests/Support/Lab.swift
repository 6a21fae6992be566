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
    func attach(_ arguments: [String] = ["p0", "p1"]) throws -> AgentProcess {
        let agent = try AgentProcess(namespace: namespace(.rtr), arguments: ["attach"] + arguments + Lab.vouching(arguments))
        agents.append(agent)
        try agent.waitUntilRunning()
        return agent
    }

    /// Sends UDP datagrams from the source host.
    func send(to destination: String, count: Int = 10, ttl: Int = 64, port: Int = 9999) throws {
        let result = try exec(.src, ["python3", Lab.packetTool, "send", "--dst", destination,
                                     "--count", "\(count)", "--ttl", "\(ttl)", "--port", "\(port)"])
        guard result.succeeded else { throw LabError.command("send", result.stderr) }
    }

    /// Captures on a host's eth0 while `during` runs; returns the packets seen.
    func capture(on host: Host, count: Int, proto: String? = nil, dport: Int? = nil, icmpType: Int? = nil,
                 timeout: Double = 3, during: () throws -> Void) throws -> [CapturedPacket] {
        try capture(inNamespace: namespace(host), count: count, proto: proto, dport: dport, icmpType: icmpType,
                    timeout: timeout, during: during)
    }

    /// Captures on eth0 of any namespace (extra hosts too) while `during` runs.
    func capture(inNamespace ns: String, count: Int, proto: String? = nil, dport: Int? = nil, icmpType: Int? = nil,
                 timeout: Double = 3, during: () throws -> Void) throws -> [CapturedPacket] {
        var arguments = ["ip", "netns", "exec", ns, "python3", Lab.packetTool, "capture",
                         "--iface", "eth0", "--count", "\(count)", "--timeout", "\(timeout)"]
        if let proto { arguments += ["--proto", proto] }
        if let dport { arguments += ["--dport", "\(dport)"] }
        if let icmpType { arguments += ["--icmp-type", "\(icmpType)"] }
        let capture = try BackgroundProcess(arguments)
        try capture.waitForLine("ready", timeout: 5)
        try during()
        let output = try capture.finish(timeout: timeout + 5)
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

    enum CodingKeys: String, CodingKey {
        case family, src, dst, ttl, proto, len, dport, icmp_type, icmp_code, eth_src, eth_dst
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
    }
}
