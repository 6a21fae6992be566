import Foundation
import XCTest

/// `attach --metrics` where it runs for real: under exactly the systemd
/// unit's capabilities, next to local clients that misbehave, and with an
/// address that is taken. The endpoint lives inside the agent, so whatever
/// a client does must leave the agent running and forwarding.
final class MetricsTests: XCTestCase {
    static let client = Command.root.appendingPathComponent("Tests/lab/metrics_client.py").path
    /// MetricsServer.connectionLimit
    static let connectionLimit = 16

    struct Page {
        var status: Int
        var body: String

        func value(_ series: String) -> UInt64? {
            body.split(separator: "\n").first { $0.hasPrefix(series + " ") }
                .flatMap { UInt64($0.split(separator: " ").last!) }
        }
    }

    func client(_ lab: Lab, _ arguments: [String]) throws -> CommandResult {
        try lab.exec(.rtr, [Command.python, Self.client] + arguments)
    }

    /// A client process that holds something open until the test ends.
    func holding(_ lab: Lab, _ arguments: [String]) throws -> BackgroundProcess {
        let process = try BackgroundProcess(["ip", "netns", "exec", lab.namespace(.rtr), Command.python,
                                             Self.client] + arguments)
        addTeardownBlock { process.kill(signal: SIGKILL) }
        try process.waitForLine("ready", timeout: 10)
        return process
    }

    func scrape(_ lab: Lab, port: Int, pad: Int = 0) throws -> Page {
        let result = try client(lab, ["scrape", "--port", "\(port)", "--pad", "\(pad)"])
        guard result.succeeded else { throw LabError.command("scrape of port \(port)", result.stderr) }
        let parts = result.stdout.components(separatedBy: "\r\n\r\n")
        let status = parts[0].split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return Page(status: status, body: parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// The agent with metrics on a port of its own, once it serves them.
    func attachWithMetrics(_ lab: Lab) throws -> (AgentProcess, Int) {
        let port = Int.random(in: 20000..<30000)
        let agent = try lab.attach(["p0", "p1", "--metrics", "\(port)"])
        try agent.waitForLog("metrics at http://127.0.0.1:\(port)/metrics")
        return (agent, port)
    }

    func testAClientThatResetsMidRequestLeavesTheAgentRunning() throws {
        let lab = try Lab(self)
        let (agent, port) = try attachWithMetrics(lab)
        // A request line, no blank line, then a reset: answering it used to
        // raise SIGPIPE, and the agent died of it (status 141).
        let reset = try client(lab, ["reset", "--port", "\(port)"])
        XCTAssertTrue(reset.succeeded, reset.stderr)
        try lab.send(to: "10.2.0.2", count: 7)
        _ = try lab.stats(when: { try $0.port("p0").forwarded.packets >= 7 })
        let page = try scrape(lab, port: port)
        XCTAssertEqual(page.status, 200, page.body)
        XCTAssertEqual(page.value("fibfast_forwarded_packets_total{port=\"p0\"}"), 7, "forwarded in XDP after the reset")
        XCTAssertTrue(agent.isRunning, agent.log)
    }

    func testIdleClientsNeitherStallAScrapeNorPileUpInTheAgent() throws {
        let lab = try Lab(self)
        let (agent, port) = try attachWithMetrics(lab)
        // Three times as many as may be open: one serving thread blocked on
        // the first of them used to keep a scrape waiting 5 s per client.
        _ = try holding(lab, ["idle", "--port", "\(port)", "--count", "\(3 * Self.connectionLimit)"])
        try lab.send(to: "10.2.0.2", count: 5)
        _ = try lab.stats(when: { try $0.port("p0").forwarded.packets >= 5 })
        let page = try scrape(lab, port: port)
        XCTAssertEqual(page.status, 200, page.body)
        XCTAssertEqual(page.value("fibfast_forwarded_packets_total{port=\"p0\"}"), 5)

        // The agent holds a few client sockets at most, none of which a tool
        // it spawns (nft, iptables-legacy-save) may inherit.
        struct Look: Decodable { var found: Bool; var cloexec: Bool; var held: Int }
        var look = Look(found: false, cloexec: false, held: 0)
        try eventually(30, "the agent's socket for a new connection") {
            let result = try client(lab, ["inspect", "--port", "\(port)",
                                          "--pid", "\(agent.pid)"])
            guard result.succeeded else { throw LabError.command("inspect", result.stderr) }
            look = try JSONDecoder().decode(Look.self, from: Data(result.stdout.utf8))
            return look.found
        }
        XCTAssertTrue(look.cloexec, "a client socket the agent holds is inherited across exec")
        XCTAssertLessThanOrEqual(look.held, Self.connectionLimit)
        XCTAssertTrue(agent.isRunning, agent.log)
    }

    func testATricklingClientIsCutOffAtItsDeadline() throws {
        let lab = try Lab(self)
        let (agent, port) = try attachWithMetrics(lab)
        // 100 bytes at 10 a second: each read used to get its own 5 s, so the
        // client kept the only serving thread for as long as it trickled.
        let result = try client(lab, ["trickle", "--port", "\(port)", "--bytes", "100"])
        XCTAssertTrue(result.succeeded, result.stderr)
        struct Trickle: Decodable { var sent: Int; var closed: Bool }
        let trickle = try JSONDecoder().decode(Trickle.self, from: Data(result.stdout.utf8))
        XCTAssertTrue(trickle.closed, "the agent let a client trickle \(trickle.sent) bytes")
        XCTAssertLessThan(trickle.sent, 100)
        XCTAssertEqual(try scrape(lab, port: port).status, 200)
        XCTAssertTrue(agent.isRunning, agent.log)
    }

    func testAnOversizedRequestIsRefused() throws {
        let lab = try Lab(self)
        let (agent, port) = try attachWithMetrics(lab)
        let refused = try scrape(lab, port: port, pad: 32 * 1024)
        XCTAssertEqual(refused.status, 431, String(refused.body.prefix(300)))
        let page = try scrape(lab, port: port)
        XCTAssertEqual(page.status, 200, page.body)
        XCTAssertTrue(agent.isRunning, agent.log)
    }

    func testATakenAddressFailsBeforeAnyPortIsTouched() throws {
        let lab = try Lab(self)
        let port = Int.random(in: 20000..<30000)
        _ = try holding(lab, ["occupy", "--port", "\(port)"])
        // Forwarding off, so that --enable-forwarding would change it: a
        // failed attach must leave it off, as it leaves the ports alone.
        try lab.sysctl(.rtr, "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0")
        let (status, message) = try lab.attachRefused(["p0", "p1", "--enable-forwarding", "--metrics", "\(port)"])
        XCTAssertNotEqual(status, 0, message)
        XCTAssertTrue(message.contains("cannot serve metrics on 127.0.0.1:\(port)"), message)
        XCTAssertFalse(message.contains("attached in"), message)
        XCTAssertEqual(try lab.portsWithXDP(), [])
        for setting in ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"] {
            XCTAssertEqual(try lab.exec(.rtr, ["sysctl", "-n", setting]).stdout, "0\n", setting)
        }
    }

    // MARK: under the systemd unit

    /// The capabilities dist/fibfast@.service.in grants, as the unit spells them.
    func unitCapabilities() throws -> [String] {
        let unit = try String(contentsOf: Command.root.appendingPathComponent("dist/fibfast@.service.in"), encoding: .utf8)
        func setting(_ key: String) -> [String] {
            unit.split(separator: "\n").first { $0.hasPrefix(key + "=") }
                .map { $0.dropFirst(key.count + 1).split(separator: " ").map(String.init) } ?? []
        }
        let ambient = setting("AmbientCapabilities")
        XCTAssertEqual(ambient, setting("CapabilityBoundingSet"), "the unit's ambient and bounding sets differ")
        XCTAssertFalse(ambient.isEmpty)
        return ambient
    }

    func testMetricsAnswerUnderExactlyTheUnitsCapabilities() throws {
        let lab = try Lab(self)
        let capabilities = try unitCapabilities()
        let numbers = ["CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_ADMIN": 21, "CAP_PERFMON": 38, "CAP_BPF": 39]
        let mask = try capabilities.reduce(UInt64(0)) { mask, name in
            guard let bit = numbers[name] else { throw LabError.setup("capability \(name) unknown to this test") }
            return mask | 1 << bit
        }
        // setpriv spells them "-all,+net_admin,+bpf"; uid stays 0, as in the unit.
        let list = "-all" + capabilities.map { ",+" + $0.dropFirst(4).lowercased() }.joined()
        let port = Int.random(in: 20000..<30000)
        let agent = try BackgroundProcess(["ip", "netns", "exec", lab.namespace(.rtr), "setpriv",
                                           "--inh-caps=\(list)", "--ambient-caps=\(list)", "--bounding-set=\(list)",
                                           Command.fibfast, "attach", "p0", "p1", "--metrics", "\(port)"]
                                          + Lab.vouching(["p0", "p1"]))
        addTeardownBlock { agent.kill(signal: SIGKILL) }
        try agent.waitForLine("metrics at http://127.0.0.1:\(port)/metrics", inStderr: true, timeout: 10)
        let status = try String(contentsOfFile: "/proc/\(agent.pid)/status", encoding: .utf8)
        XCTAssertTrue(status.contains(String(format: "CapEff:\t%016llx\n", mask)), status)
        XCTAssertTrue(status.contains("Uid:\t0\t0\t0\t0\n"), status)

        try lab.send(to: "10.2.0.2", count: 9)
        _ = try lab.stats(when: { try $0.port("p0").forwarded.packets >= 9 })
        let page = try scrape(lab, port: port)
        XCTAssertEqual(page.status, 200, page.body)
        XCTAssertEqual(page.value("fibfast_forwarded_packets_total{port=\"p0\"}"), 9)
        XCTAssertEqual(page.value("fibfast_transmitted_packets_total{port=\"p1\"}"), 9)
        XCTAssertEqual(page.value("fibfast_failure_tracing"), 1)
    }
}
