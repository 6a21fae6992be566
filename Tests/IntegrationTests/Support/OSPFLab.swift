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
    func rxPackets(_ node: Node, _ port: String) throws -> UInt64 {
        try receivedPackets(inNamespace: namespace(node), port)
    }

    /// Sends UDP datagrams a -> b, from one process.
    func send(count: Int, sport: Int, flows: Int = 1) throws {
        try must(.a, [Command.python, Lab.packetTool, "send", "--dst", "10.0.2.2", "--count", "\(count)",
                      "--sport", "\(sport)", "--flows", "\(flows)"])
    }

    /// Sends datagrams a -> b and waits until they are all at b (or were
    /// given `timeout` to get there): neighbours on the path are resolved,
    /// and nothing of them is still on the way to move a counter.
    @discardableResult
    func probe(count: Int, sport: Int, flows: Int = 1, timeout: Double = 3) throws -> SinkReport {
        let sink = try startSink(count: count, timeout: timeout)
        try send(count: count, sport: sport, flows: flows)
        return try sink.finish()
    }

    /// Starts the sink on b; `finish()` returns its report.
    func startSink(count: Int, timeout: Double = 3) throws -> Sink {
        let sink = try Sink.start(inNamespace: namespace(.b), count: count, timeout: timeout)
        background.append(sink.process)
        return sink
    }

    /// Starts a paced stream a -> b, running until stopped.
    func startStream(sport: Int, interval: Double) throws -> Stream {
        let stream = try Stream.start(inNamespace: namespace(.a), to: "10.0.2.2", port: 9999, sport: sport,
                                      interval: interval)
        background.append(stream.process)
        return stream
    }

    /// Starts `ip -ts monitor route` in a router, to learn when its FIB
    /// changed; returns once it listens.
    func monitorRoutes(_ router: Node) throws -> BackgroundProcess {
        let process = try BackgroundProcess(["ip", "netns", "exec", namespace(router), "ip", "-ts", "monitor", "route"])
        background.append(process)
        // ip prints nothing when it has subscribed: look for its netlink socket
        // with groups joined (ip netns exec execs ip, so the pid is ip's).
        let pid = process.pid
        try eventually(30, "ip monitor subscribed to route changes") {
            let sockets = Set(((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).compactMap {
                try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
            }.filter { $0.hasPrefix("socket:[") }.map { String($0.dropFirst(8).dropLast()) })
            let table = (try? String(contentsOfFile: "/proc/\(pid)/net/netlink", encoding: .utf8)) ?? ""
            // Columns: sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode.
            return table.split(separator: "\n").dropFirst().contains { line in
                let column = line.split(separator: " ", omittingEmptySubsequences: true)
                return column.count >= 10 && sockets.contains(String(column[9])) && column[3] != "00000000"
            }
        }
        return process
    }
}
