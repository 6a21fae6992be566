import Foundation
import XCTest

/// The routed lab of Tests/lab/ospf-lab.sh: hosts a (10.0.1.2) and b (10.0.2.2), routers r1..r4
/// in a diamond running BIRD 2 (OSPFv2), so r1 and r4 each have an ECMP pair through r2 and r3.
/// The birds are started with the lab and killed with it, in the test's teardown, also when the
/// test fails.
final class OSPFLab: @unchecked Sendable {
    enum Node: String, CaseIterable { case a, r1, r2, r3, r4, b }

    static let script = Command.root.appendingPathComponent("Tests/lab/ospf-lab.sh").path

    /// Each router's ports, as fibfast attaches to them.
    static let ports: [Node: [String]] = [
        .r1: ["ha", "r2", "r3"], .r2: ["r1", "r4"], .r3: ["r1", "r4"], .r4: ["r2", "r3", "hb"],
    ]
    static let routers: [Node] = [.r1, .r2, .r3, .r4]

    let name: String
    private var agents: [AgentProcess] = []
    private var background: [BackgroundProcess] = []

    init(_ test: XCTestCase) throws {
        try Lab.requireRoot()
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/bird") else {
            throw LabError.setup("bird is not installed (scripts/install-deps.sh installs bird2)")
        }
        name = try LabScript.up(OSPFLab.script, prefix: "fo")
        test.addTeardownBlock { [self] in self.tearDown() }
    }

    func tearDown() {
        for agent in agents { agent.kill(signal: SIGKILL) }
        for process in background { process.kill(signal: SIGKILL) }
        _ = try? Command.run([OSPFLab.script, "down", name])
    }

    func namespace(_ node: Node) -> String { "\(name)-\(node.rawValue)" }

    @discardableResult
    func exec(_ node: Node, _ arguments: [String]) throws -> CommandResult {
        try Command.run(["ip", "netns", "exec", namespace(node)] + arguments)
    }

    func must(_ node: Node, _ arguments: [String]) throws {
        let result = try exec(node, arguments)
        guard result.succeeded else { throw LabError.command(arguments.joined(separator: " "), result.stderr) }
    }

    /// Waits until r1 and r4 both have their ECMP pair: OSPF has converged.
    func waitConverged(timeout: Int = 30) throws {
        let result = try Command.run([OSPFLab.script, "wait", name, "\(timeout)"])
        guard result.succeeded else { throw LabError.timeout("OSPF convergence: \(result.stderr)") }
    }

    /// `ip route show PREFIX proto bird` in a router.
    func birdRoute(_ node: Node, _ prefix: String) throws -> String {
        try exec(node, ["ip", "route", "show", prefix, "proto", "bird"]).stdout
    }

    /// Starts `fibfast attach` on every port of every router.
    func attachEverywhere() throws {
        for router in OSPFLab.routers {
            let agent = try AgentProcess(namespace: namespace(router), arguments: ["attach"] + OSPFLab.ports[router]!)
            agents.append(agent)
        }
        for agent in agents { try agent.waitUntilRunning() }
    }

    /// Stops every agent: the routers forward through the kernel alone.
    func detachEverywhere() throws {
        for agent in agents { try agent.stop(signal: SIGTERM) }
        agents = []
    }

    func stats(_ router: Node) throws -> Stats {
        let result = try exec(router, [Command.fibfast, "stats", "--json"])
        guard result.succeeded else { throw LabError.command("stats in \(router)", result.stderr) }
        return try JSONDecoder().decode(Stats.self, from: Data(result.stdout.utf8))
    }

    /// Packets received on a router's port (kernel counter: counts XDP and kernel paths alike).
    func rxPackets(_ router: Node, _ port: String) throws -> UInt64 {
        let text = try exec(router, ["cat", "/sys/class/net/\(port)/statistics/rx_packets"]).stdout
        return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// Sends UDP datagrams a -> b.
    func send(count: Int, sport: Int, flows: Int = 1, interval: Double = 0) throws {
        var arguments = ["python3", Lab.packetTool, "send", "--dst", "10.0.2.2", "--count", "\(count)",
                         "--sport", "\(sport)", "--flows", "\(flows)"]
        if interval > 0 { arguments += ["--interval", "\(interval)"] }
        let result = try exec(.a, arguments)
        guard result.succeeded else { throw LabError.command("send", result.stderr) }
    }

    /// Starts the sink on b; `finish()` returns its report.
    func startSink(count: Int, timeout: Double) throws -> Sink {
        let process = try BackgroundProcess(["ip", "netns", "exec", namespace(.b), "python3", Lab.packetTool,
                                             "sink", "--count", "\(count)", "--timeout", "\(timeout)"])
        background.append(process)
        try process.waitForLine("ready", timeout: 5)
        return Sink(process: process, timeout: timeout)
    }

    struct Sink {
        let process: BackgroundProcess
        let timeout: Double
        func finish() throws -> SinkReport {
            let output = try process.finish(timeout: timeout + 5)
            guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
                throw LabError.command("sink", process.stderr)
            }
            return try JSONDecoder().decode(SinkReport.self, from: Data(line.utf8))
        }
    }

    /// Starts `ip -ts monitor route` in a router, to learn when its FIB changed.
    func monitorRoutes(_ router: Node) throws -> BackgroundProcess {
        let process = try BackgroundProcess(["ip", "netns", "exec", namespace(router), "ip", "-ts", "monitor", "route"])
        background.append(process)
        usleep(200_000)  // ip subscribes after starting; let it
        return process
    }
}

/// What `pkt.py sink` prints.
struct SinkReport: Decodable {
    var received: Int
    var missing: Int
    var max_gap_ms: Double?
    var gap_start: Double?
    var gap_end: Double?
}
