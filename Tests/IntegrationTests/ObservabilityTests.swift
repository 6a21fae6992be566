import Foundation
import XCTest

/// status, stats, top, lookup and metrics against a live fast path in the
/// three-namespace lab. Every figure asserted is one the test caused.
final class ObservabilityTests: XCTestCase {
    // MARK: JSON as the commands print it (docs/json.md)

    struct Status: Decodable {
        struct PortStatus: Decodable { var name: String; var ifindex: UInt32; var mode: String?; var programID: UInt32 }
        struct Agent: Decodable { var pid: Int32; var started: UInt64; var uptimeSeconds: UInt64 }
        struct FastPath: Decodable {
            var programID: UInt32
            var tag: String
            var tagMatches: Bool?
            var ports: [PortStatus]
            var agent: Agent?
            var failureTracepoints: [String]
        }
        var embeddedTag: String?
        var fastPaths: [FastPath]
    }
    struct KernelRoute: Decodable { var type: String?; var device: String?; var error: String? }
    struct LookupResult: Decodable {
        var ingress: String
        var source: String
        var action: String
        var verdict: String?
        var egress: String?
        var nextHopMAC: String?
        var sourceMAC: String?
        var ttlOut: Int?
        var kernel: KernelRoute
        var countedRuns: Int
    }

    func decode<T: Decodable>(_ type: T.Type, _ result: CommandResult, file: StaticString = #filePath,
                              line: UInt = #line) throws -> T {
        XCTAssertTrue(result.succeeded, "exit \(result.status): \(result.stderr)", file: file, line: line)
        return try JSONDecoder().decode(T.self, from: Data(result.stdout.utf8))
    }

    func stats(_ lab: Lab) throws -> Stats { try decode(Stats.self, try lab.fibfast(["stats", "--json"])) }

    func lookup(_ lab: Lab, _ arguments: [String]) throws -> LookupResult {
        try decode(LookupResult.self, try lab.fibfast(["lookup", "--json"] + arguments))
    }

    // MARK: nothing attached

    func testEveryCommandSaysWhenNothingIsAttached() throws {
        let lab = try Lab(self)
        let status = try lab.fibfast(["status"])
        XCTAssertTrue(status.succeeded, status.stderr)
        XCTAssertTrue(status.stdout.contains("not attached"), status.stdout)
        XCTAssertEqual(try decode(Status.self, try lab.fibfast(["status", "--json"])).fastPaths.count, 0)
        for command in [["stats"], ["stats", "--interval", "0.2", "--count", "1"], ["top", "--count", "1"],
                        ["lookup", "10.2.0.2"]] {
            let result = try lab.fibfast(command)
            XCTAssertFalse(result.succeeded, "\(command)")
            XCTAssertTrue(result.stderr.contains("not attached"), "\(command): \(result.stderr)")
        }
    }

    // MARK: status

    func testStatusShowsPortsAgentAndTheEmbeddedTag() throws {
        let lab = try Lab(self)
        let agent = try lab.attach()
        let status = try decode(Status.self, try lab.fibfast(["status", "--json"]))
        let fastPath = try XCTUnwrap(status.fastPaths.first)
        XCTAssertEqual(status.fastPaths.count, 1)
        XCTAssertEqual(fastPath.ports.map(\.name), ["p0", "p1"])
        XCTAssertEqual(Set(fastPath.ports.map(\.programID)), [fastPath.programID])
        XCTAssertEqual(Set(fastPath.ports.compactMap(\.mode)), ["native"], "veth attaches natively")
        XCTAssertEqual(fastPath.agent?.pid, agent.background.pid)
        XCTAssertLessThan(fastPath.agent?.uptimeSeconds ?? .max, 60)
        XCTAssertEqual(fastPath.tagMatches, true, "the agent runs this binary's program")
        XCTAssertEqual(fastPath.tag, status.embeddedTag)
        XCTAssertEqual(fastPath.failureTracepoints, ["ff_devmap_xmit", "ff_exception", "ff_redirect_err"])

        let text = try lab.fibfast(["status"])
        XCTAssertTrue(text.stdout.contains("p0: ifindex \(fastPath.ports[0].ifindex) xdp native prog \(fastPath.programID)"), text.stdout)
        XCTAssertTrue(text.stdout.contains("(this binary's)"), text.stdout)
        XCTAssertTrue(text.stdout.contains("agent: pid \(agent.background.pid) up "), text.stdout)
        XCTAssertFalse(text.stderr.contains("warning"), text.stderr)
    }

    // MARK: stats

    func testCountersMatchTheTrafficSent() throws {
        let lab = try Lab(self)
        _ = try lab.attach()
        let before = try stats(lab)
        let delivered = try lab.capture(on: .dst, count: 50, proto: "udp", dport: 9999) {
            try lab.send(to: "10.2.0.2", count: 30, port: 9999)
            try lab.send(to: "fd00:2::2", count: 20, port: 9999)
            try lab.send(to: "10.2.0.2", count: 7, ttl: 1, port: 9999)
        }
        XCTAssertEqual(delivered.count, 50)
        let after = try stats(lab)
        let p0 = try after.port("p0"), p0Before = try before.port("p0")
        XCTAssertEqual(p0.forwarded.packets - p0Before.forwarded.packets, 50)
        XCTAssertEqual(p0.passed("ttl-expired") - p0Before.passed("ttl-expired"), 7)
        let p1 = try after.port("p1"), p1Before = try before.port("p1")
        XCTAssertEqual(p1.transmitted.packets - p1Before.transmitted.packets, 50)
        // The bytes forwarded are the frames as received: 30 IPv4 and 20 IPv6
        // UDP datagrams with 32-byte payloads.
        let ipv4Frame: UInt64 = 14 + 20 + 8 + 32, ipv6Frame: UInt64 = 14 + 40 + 8 + 32
        let expectedBytes = 30 * ipv4Frame + 20 * ipv6Frame
        XCTAssertEqual(p0.forwarded.bytes - p0Before.forwarded.bytes, expectedBytes)
        XCTAssertEqual(after.total.failed, 0, "every frame was delivered")
        XCTAssertEqual(after.total.forwarded.packets, after.ports.reduce(0) { $0 + $1.forwarded.packets })
    }

    /// Runs `fibfast ARGUMENTS` in the router until stopped, sending `send` between two of its
    /// reports (`marker` starts a line of each): after the first, so its baseline is behind it,
    /// and before two more, the second of which was read after the counters had every packet.
    func sampling(_ lab: Lab, _ arguments: [String], marker: String, packets: UInt64,
                  send: () throws -> Void) throws -> BackgroundProcess {
        let sampler = try BackgroundProcess(["ip", "netns", "exec", lab.namespace(.rtr), Command.fibfast] + arguments)
        defer { sampler.kill(signal: SIGKILL) }
        try sampler.waitForLines(1, startingWith: marker, timeout: 30)
        try send()
        _ = try lab.stats(when: { try $0.port("p0").forwarded.packets >= packets })
        try sampler.waitForLines(sampler.lines(startingWith: marker) + 2, startingWith: marker, timeout: 30)
        sampler.kill(signal: SIGINT)
        _ = try sampler.finish(timeout: 10)
        return sampler
    }

    func testRatesAddUpToThePacketsSent() throws {
        let lab = try Lab(self)
        _ = try lab.attach()
        let sampler = try sampling(lab, ["stats", "--json", "--interval", "1"], marker: "{", packets: 120) {
            try lab.send(to: "10.2.0.2", count: 120, port: 9999)
        }
        let samples = try sampler.stdout.split(separator: "\n").map { try JSONDecoder().decode(Stats.self, from: Data($0.utf8)) }
        XCTAssertGreaterThanOrEqual(samples.count, 3, sampler.stderr)
        var forwarded = 0.0, transmitted = 0.0
        for sample in samples {
            let interval = try XCTUnwrap(sample.interval)
            XCTAssertEqual(interval, 1, accuracy: 0.5)
            forwarded += try XCTUnwrap(sample.port("p0").rates).forwardedPackets * interval
            transmitted += try XCTUnwrap(sample.port("p1").rates).transmittedPackets * interval
        }
        XCTAssertEqual(forwarded, 120, accuracy: 0.01)
        XCTAssertEqual(transmitted, 120, accuracy: 0.01)
    }

    // MARK: top

    func testTopPrintsPlainLinesWhenNotATerminal() throws {
        let lab = try Lab(self)
        _ = try lab.attach()
        // The last row of each table starts with "total".
        let top = try sampling(lab, ["top", "--interval", "1"], marker: "total", packets: 60) {
            try lab.send(to: "10.2.0.2", count: 60, port: 9999)
        }
        let output = top.stdout
        XCTAssertEqual(top.exitStatus, 0, "SIGINT ends top cleanly: \(top.stderr)")
        XCTAssertFalse(output.contains("\u{1B}"), "no terminal escapes in a pipe")
        let tables = output.components(separatedBy: "\n\n").filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        XCTAssertGreaterThanOrEqual(tables.count, 3, output)
        for table in tables {
            let rows = table.split(separator: "\n")
            XCTAssertEqual(rows.map { $0.split(separator: " ").first.map(String.init) ?? "" }, ["PORT", "p0", "p1", "total"])
        }
        // The forwarded rates of both refreshes add up to what was sent.
        let p0Rates = tables.compactMap { table in
            table.split(separator: "\n").first { $0.hasPrefix("p0") }.flatMap { Double($0.split(separator: " ")[1]) }
        }
        XCTAssertEqual(p0Rates.count, tables.count)
        XCTAssertEqual(p0Rates.reduce(0, +), 60, accuracy: 3, "rates are per second over ~1 s intervals: \(output)")
    }

    // MARK: lookup

    /// Lookup's verdict, then one real packet of the same kind: the counter
    /// lookup names must move by exactly two (its own test run and the packet).
    func assertLookupMatchesAPacket(_ lab: Lab, destination: String, ttl: Int = 64, verdict expected: String,
                                    file: StaticString = #filePath, line: UInt = #line) throws -> LookupResult {
        let before = try stats(lab)
        let result = try lookup(lab, [destination, "--ttl", "\(ttl)", "--port", "9999"])
        XCTAssertEqual(result.verdict, expected, file: file, line: line)
        XCTAssertEqual(result.ingress, "p0", file: file, line: line)
        XCTAssertEqual(result.countedRuns, 1, file: file, line: line)
        try lab.send(to: destination, count: 1, ttl: ttl, port: 9999)
        func moved(_ after: Stats) throws -> UInt64 {
            let p0 = try after.port("p0"), p0Before = try before.port("p0")
            return expected == "forwarded"
                ? p0.forwarded.packets - p0Before.forwarded.packets
                : p0.passed(expected) - p0Before.passed(expected)
        }
        let after = try lab.stats(when: { try moved($0) >= 2 })
        XCTAssertEqual(try moved(after), 2, "\(expected): lookup and the real packet", file: file, line: line)
        return result
    }

    func testLookupMatchesWhatHappensToRealPackets() throws {
        let lab = try Lab(self)
        _ = try lab.attach()
        let dstMAC = try lab.exec(.dst, ["cat", "/sys/class/net/eth0/address"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let p1MAC = try lab.exec(.rtr, ["cat", "/sys/class/net/p1/address"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)

        // A forwarded destination: same port, same MACs, same TTL as the real packet gets.
        var forwarded: LookupResult?
        let delivered = try lab.capture(on: .dst, count: 1, proto: "udp", dport: 9999) {
            forwarded = try assertLookupMatchesAPacket(lab, destination: "10.2.0.2", verdict: "forwarded")
        }
        let result = try XCTUnwrap(forwarded)
        XCTAssertEqual(result.action, "redirect")
        XCTAssertEqual(result.egress, "p1")
        XCTAssertEqual(result.nextHopMAC, dstMAC)
        XCTAssertEqual(result.sourceMAC, p1MAC)
        XCTAssertEqual(result.ttlOut, 63)
        XCTAssertEqual(result.source, "10.1.0.2", "a neighbour on p0's subnet")
        XCTAssertEqual(result.kernel.type, "unicast")
        XCTAssertEqual(result.kernel.device, "p1")
        let packet = try XCTUnwrap(delivered.first)
        XCTAssertEqual(packet.eth_dst, result.nextHopMAC)
        XCTAssertEqual(packet.eth_src, result.sourceMAC)
        XCTAssertEqual(packet.ttl, result.ttlOut)

        // The router's own address: not a forwarding route, the kernel delivers it locally.
        let local = try assertLookupMatchesAPacket(lab, destination: "10.2.0.1", verdict: "not-forwarded")
        XCTAssertEqual(local.action, "pass")
        XCTAssertEqual(local.kernel.type, "local")

        // TTL 1: the kernel must send time exceeded.
        let expired = try assertLookupMatchesAPacket(lab, destination: "10.2.0.2", ttl: 1, verdict: "ttl-expired")
        XCTAssertEqual(expired.action, "pass")

        // On the subnet, but nobody answers ARP there.
        let unresolved = try assertLookupMatchesAPacket(lab, destination: "10.2.0.99", verdict: "no-neighbour")
        XCTAssertEqual(unresolved.kernel.device, "p1")

        // IPv6 and the other direction, with the ingress named.
        let back = try lookup(lab, ["fd00:1::2", "--from", "p1", "--proto", "tcp", "--port", "443"])
        XCTAssertEqual(back.verdict, "forwarded")
        XCTAssertEqual(back.egress, "p0")
        XCTAssertEqual(back.source, "fd00:2::2")
    }

    func testLookupRefusesWhatItCannotAnswer() throws {
        let lab = try Lab(self)
        _ = try lab.attach()
        let notAPort = try lab.fibfast(["lookup", "10.2.0.2", "--from", "lo"])
        XCTAssertFalse(notAPort.succeeded)
        XCTAssertTrue(notAPort.stderr.contains("port lo is not a fast-path port"), notAPort.stderr)
        let mixed = try lab.fibfast(["lookup", "10.2.0.2", "--source", "fd00:1::2"])
        XCTAssertFalse(mixed.succeeded)
        XCTAssertTrue(mixed.stderr.contains("different address families"), mixed.stderr)
        let text = try lab.fibfast(["lookup", "10.2.0.2", "--ttl", "1"])
        XCTAssertTrue(text.stdout.contains("ttl-expired"), text.stdout)
        XCTAssertTrue(text.stdout.contains("kernel:    unicast dev p1"), text.stdout)
        XCTAssertTrue(text.stdout.contains("counted in the live counters"), text.stdout)
    }

    // MARK: metrics

    func scrape(_ lab: Lab, _ url: String) throws -> CommandResult {
        try lab.exec(.rtr, [Command.python, "-c", """
            import sys, urllib.request
            with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
                sys.stdout.write(r.headers.get("Content-Type") + "\\n" + r.read().decode())
            """, url])
    }

    func testMetricsEndpointAnswersWithTheCounters() throws {
        let lab = try Lab(self)
        let port = Int.random(in: 20000..<30000)
        let agent = try lab.attach(["p0", "p1", "--metrics", "\(port)"])
        // The endpoint is logged once it listens, just after the fast path starts.
        try agent.background.waitForLine("metrics at http://127.0.0.1:\(port)/metrics", inStderr: true, timeout: 5)
        try lab.send(to: "10.2.0.2", count: 33, port: 9999)
        try lab.send(to: "10.2.0.2", count: 4, ttl: 1, port: 9999)
        let statsNow = try lab.stats(when: {
            try $0.port("p0").forwarded.packets >= 33 && $0.port("p0").passed("ttl-expired") >= 4
        })
        let response = try scrape(lab, "http://127.0.0.1:\(port)/metrics")
        XCTAssertTrue(response.succeeded, response.stderr)
        let text = response.stdout
        XCTAssertTrue(text.hasPrefix("text/plain; version=0.0.4"), text)
        func value(_ series: String) -> UInt64? {
            text.split(separator: "\n").first { $0.hasPrefix(series + " ") }
                .flatMap { UInt64($0.split(separator: " ").last!) }
        }
        XCTAssertEqual(value("fibfast_forwarded_packets_total{port=\"p0\"}"), 33)
        XCTAssertEqual(value("fibfast_forwarded_packets_total{port=\"p0\"}"), try statsNow.port("p0").forwarded.packets)
        XCTAssertEqual(value("fibfast_transmitted_packets_total{port=\"p1\"}"), 33)
        XCTAssertEqual(value("fibfast_passed_packets_total{port=\"p0\",reason=\"ttl-expired\"}"), 4)
        XCTAssertEqual(value("fibfast_failed_packets_total{port=\"p1\",reason=\"redirect\"}"), 0)
        XCTAssertEqual(value("fibfast_failure_tracing"), 1)

        // Read on each scrape, not cached.
        try lab.send(to: "10.2.0.2", count: 5, port: 9999)
        _ = try lab.stats(when: { try $0.port("p0").forwarded.packets >= 38 })
        let again = try scrape(lab, "http://127.0.0.1:\(port)/metrics").stdout
        XCTAssertTrue(again.contains("fibfast_forwarded_packets_total{port=\"p0\"} 38\n"), again)

        // Bound to localhost only: the router's port address does not answer.
        let outside = try scrape(lab, "http://10.1.0.1:\(port)/metrics")
        XCTAssertFalse(outside.succeeded)
    }

    func testMetricsAreOffByDefault() throws {
        let lab = try Lab(self)
        let agent = try lab.attach()
        XCTAssertFalse(agent.log.contains("metrics"), agent.log)
        let listening = try lab.exec(.rtr, ["ss", "-Htln"]).stdout
        XCTAssertTrue(listening.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, listening)
    }
}
