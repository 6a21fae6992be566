import FibfastCore
import Foundation
import XCTest

/// The FIB answer cache is never stale: after a change to routes, rules,
/// nexthop objects or neighbours returns, no packet sent afterwards follows
/// the old state. Where the kernel lets the agent hook the change itself
/// (fexit on Debian 12's 6.1, the neighbour tracepoints everywhere) that holds
/// exactly; where only the agent's netlink events invalidate, the window
/// between the change and the invalidation is measured and printed.
final class FibCacheTests: XCTestCase {
    func testLookupSaysWhetherTheAnswerCameFromTheCache() throws {
        let lab = try Lab(self)
        let agent = try lab.attach(["p0", "p1", "--fib-cache", "on"])
        try agent.waitForLog("in step with the kernel")
        func lookup() throws -> LookupResult {
            let result = try lab.check(lab.fibfast(["lookup", "--json", "10.2.0.2"]))
            return try JSONDecoder().decode(LookupResult.self, from: Data(result.stdout.utf8))
        }
        // lookup probes on one CPU (the first it may run on): the second of
        // two probes finds the first one's answer, unless something
        // invalidated in between. Any neighbour timer in any namespace does,
        // which in the VM lane (seconds per lookup) is nearly every time.
        var quiet = false
        for _ in 1...10 where !quiet {
            let generation = try XCTUnwrap(try lab.stats().fibCache).invalidations
            _ = try lookup()
            let second = try lookup().fibAnswer
            guard try XCTUnwrap(try lab.stats().fibCache).invalidations == generation else { continue }
            quiet = true
            XCTAssertEqual(second, "cache", "nothing invalidated between two probes")
        }
        if !quiet { throw XCTSkip("the cache was invalidated between every two probes (neighbour timers): nothing to tell") }
        let before = try XCTUnwrap(try lab.stats().fibCache)
        try lab.ip("route add 10.9.0.0/24 via 10.2.0.2")
        _ = try lab.stats(when: { ($0.fibCache?.invalidations ?? 0) > before.invalidations })
        let after = try lookup()
        XCTAssertEqual(after.fibAnswer, "fib", "a route change invalidated every answer")
        XCTAssertEqual(after.egress, "p1")
        XCTAssertTrue(try lab.fibfast(["status"]).stdout.contains("fib-cache: on, invalidated by the agent's netlink events"))
    }

    /// Where nothing makes FIB answers depend on ports, one cached answer
    /// serves every flow between two addresses; a rule that selects on a
    /// port takes the ports back into the key before `ip rule add` returns.
    func testPortsLeftOutOfTheKeyUntilARuleSelectsOnThem() throws {
        let lab = try Lab(self)
        _ = try lab.addHost("dst2", port: "p2", subnet: 3, test: self)
        let agent = try lab.attach(["p0", "p1", "p2"])
        try agent.waitForLog("in step with the kernel")
        try lab.ip("route add 10.9.0.0/24 via 10.2.0.2")
        try lab.ip("route add 10.9.0.0/24 via 10.3.0.2 table 100")
        try lab.check(lab.exec(.rtr, ["ping", "-c", "1", "-W", "5", "10.3.0.2"]))
        try lab.check(lab.exec(.rtr, ["ping", "-c", "1", "-W", "5", "10.2.0.2"]))
        func lookup(port: Int) throws -> LookupResult {
            let result = try lab.check(lab.fibfast(["lookup", "--json", "10.9.0.5", "--port", "\(port)"]))
            return try JSONDecoder().decode(LookupResult.self, from: Data(result.stdout.utf8))
        }
        _ = try lab.stats(when: { $0.fibCache?.portsLeftOut == true })

        // The second port finds the first one's answer, unless something
        // invalidated in between (a neighbour timer anywhere).
        var shared = false
        for port in stride(from: 1000, to: 1200, by: 2) where !shared {
            let generation = try XCTUnwrap(try lab.stats().fibCache).invalidations
            _ = try lookup(port: port)
            let second = try lookup(port: port + 1)
            guard try XCTUnwrap(try lab.stats().fibCache).invalidations == generation else { continue }
            shared = true
            XCTAssertEqual(second.fibAnswer, "cache", "another port, the same answer")
        }
        XCTAssertTrue(shared, "100 pairs of lookups, each with an invalidation in between")

        try lab.ip("rule add dport 2000 lookup 100 pref 100")
        // Right after the command returned: each port its own answer.
        XCTAssertEqual(try lookup(port: 2000).egress, "p2", "the rule's port")
        XCTAssertEqual(try lookup(port: 2001).egress, "p1", "another port")
        XCTAssertEqual(try lookup(port: 2000).egress, "p2", "the rule's port, answered again")
        XCTAssertEqual(try XCTUnwrap(try lab.stats().fibCache).portsLeftOut, false)

        try lab.ip("rule del dport 2000 lookup 100 pref 100")
        XCTAssertEqual(try lookup(port: 2000).egress, "p1")
        _ = try lab.stats(when: { $0.fibCache?.portsLeftOut == true })
        XCTAssertEqual(try lookup(port: 2000).egress, "p1")
        XCTAssertEqual(try lookup(port: 2001).egress, "p1")
    }

    /// Destinations sprayed over a table make a CPU skip the cache (its
    /// probes and stores would only cost), every frame still forwarded; a
    /// few destinations again bring it back.
    func testASprayedCPUSkipsTheCacheUntilHitsComeBack() throws {
        let lab = try Lab(self)
        let agent = try lab.attach(["p0", "p1", "--fib-cache", "on"])
        try agent.waitForLog("in step with the kernel")
        try lab.ip("route add 10.9.0.0/16 via 10.2.0.2")
        try lab.check(lab.exec(.rtr, ["ping", "-c", "1", "-W", "5", "10.2.0.2"]))
        // A cold cache misses first: that alone must not switch it off.
        try lab.send(to: "10.9.0.1", count: 300, hosts: 300, cpu: 0)
        let cold = try lab.stats(when: { try $0.port("p0").forwarded.packets >= 300 })
        XCTAssertEqual(cold.fibCache?.bypassed, 0, "300 misses on a cold cache")

        try lab.send(to: "10.9.2.0", count: 4000, hosts: 4000, cpu: 0)
        // Every frame forwarded (else this wait fails): skipping the cache
        // changes no answer.
        let sprayed = try lab.stats(when: { try $0.port("p0").forwarded.packets >= 4300 })
        let bypassed = try XCTUnwrap(sprayed.fibCache).bypassed
        // Credit 0 falls below -512 after 513 net misses; then 255 in 256 skip.
        XCTAssertGreaterThan(bypassed, 3000, "4000 destinations, each once: \(String(describing: sprayed.fibCache))")

        try lab.send(to: "10.9.1.1", count: 4000, cpu: 0)
        let back = try lab.stats(when: { try $0.port("p0").forwarded.packets >= 8300 })
        let hits = try XCTUnwrap(back.fibCache).hits - XCTUnwrap(sprayed.fibCache).hits
        let skipped = try XCTUnwrap(back.fibCache).bypassed - bypassed
        // From about -530, a sampled miss and 3 sampled hits (one frame in
        // 256: about 1,000 frames) lift it above -512; every frame after
        // that hits.
        XCTAssertGreaterThan(hits, 2000, "one destination, 4000 frames; \(skipped) skipped")
    }

    /// Each CPU has its own range of slots in the cache's arrays, which the
    /// loader sizes to the CPUs: a CPU beyond them would never hit.
    func testEveryCPUAnswersFromItsOwnSlots() throws {
        let lab = try Lab(self)
        let agent = try lab.attach(["p0", "p1", "--fib-cache", "on"])
        try agent.waitForLog("in step with the kernel")
        try lab.check(lab.exec(.rtr, ["ping", "-c", "1", "-W", "5", "10.2.0.2"]))
        var forwarded = try lab.stats().port("p0").forwarded.packets
        for cpu in 0..<ProcessInfo.processInfo.activeProcessorCount {
            let before = try XCTUnwrap(try lab.stats().fibCache)
            try lab.send(to: "10.2.0.2", count: 100, cpu: cpu)
            forwarded += 100
            let after = try lab.stats(when: { try $0.port("p0").forwarded.packets >= forwarded })
            let hits = try XCTUnwrap(after.fibCache).hits - before.hits
            // One miss stores the answer; a neighbour timer may kill it once or twice.
            XCTAssertGreaterThan(hits, 90, "100 frames to one destination on CPU \(cpu)")
        }
    }

    func testOffAsksTheFIBForEveryFrame() throws {
        let lab = try Lab(self)
        let agent = try lab.attach(["p0", "p1", "--fib-cache", "off"])
        try agent.waitForLog("in step with the kernel")
        let result = try lab.check(lab.fibfast(["lookup", "--json", "10.2.0.2"]))
        XCTAssertEqual(try JSONDecoder().decode(LookupResult.self, from: Data(result.stdout.utf8)).fibAnswer, "off")
        try lab.send(to: "10.2.0.2", count: 10)
        let stats = try lab.stats(when: { try $0.port("p0").forwarded.packets >= 10 })
        XCTAssertEqual(stats.fibCache?.enabled, false)
        XCTAssertEqual(stats.fibCache?.hits, 0)
        XCTAssertTrue(try lab.fibfast(["stats"]).stdout.contains("FIB cache: off"))
    }

    func testNoPacketSentAfterAChangeReturnsFollowsTheOldState() throws {
        let lab = try Lab(self)
        let dst2 = try lab.addHost("dst2", port: "p2", subnet: 3, test: self)
        let agent = try lab.attach(["p0", "p1", "p2", "--fib-cache", "on"])
        try agent.waitForLog("in step with the kernel")
        let hooks = try XCTUnwrap(try lab.stats().fibCache, "stats reports the cache")
        XCTAssertTrue(hooks.enabled)
        print("fib cache hooks attached: \(hooks.hooks.joined(separator: ", ")); refused: \(hooks.hooksRefused.joined(separator: ", "))")
        XCTAssertTrue(hooks.hooks.contains("tp_btf/neigh_update_done"), "the neighbour tracepoints attach on every kernel: \(hooks)")
        let realMAC = try lab.exec(.dst, ["cat", "/sys/class/net/eth0/address"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // Both next hops resolved, so that every change moves the flow
        // between two forwarded states.
        try lab.ip("route add 10.9.0.0/24 via 10.2.0.2")
        try lab.ip("route add 10.9.0.0/24 via 10.3.0.2 table 100")
        try lab.check(lab.exec(.rtr, ["ping", "-c", "1", "-W", "5", "10.3.0.2"]))
        try lab.check(lab.exec(.rtr, ["ping", "-c", "1", "-W", "5", "10.2.0.2"]))

        // The VM lane (which stretches deadlines) emulates its CPU: each
        // `ip` command there takes a second or more, so it makes fewer changes.
        let rounds = ProcessInfo.processInfo.environment["FIBFAST_TEST_DEADLINE_SCALE"] == nil ? 20 : 4
        // Either hook set invalidates route, rule, nexthop and link changes
        // before the command returns: the FIB functions' (fexit, 6.1), or the
        // netlink pair (tracepoints, 6.4 and later).
        let functionsOrNetlink = ["tp_btf/sock_send_length"]
        func measure(_ kind: String, hook: String, orBy others: [String] = functionsOrNetlink, extra: [String] = []) throws {
            let before = try lab.stats().fibCache
            let result = try Command.run([Command.python, Command.root.appendingPathComponent("Tests/lab/staleness.py").path,
                                          "--src", lab.namespace(.src), "--rtr", lab.namespace(.rtr),
                                          "--old", lab.namespace(.dst), "--new", dst2, "--dst", "10.9.0.5",
                                          "--kind", kind, "--rounds", "\(rounds)"] + extra)
            XCTAssertEqual(result.status, 0, "\(kind): \(result.stderr)")
            struct Outcome: Decodable {
                var changes: Int, stale: Int, stale_changes: Int, lost: Int, lost_changes: Int
                var window_us_p50: Double?, window_us_p99: Double?, window_us_max: Double?
            }
            guard let line = result.stdout.split(separator: "\n").last,
                  let outcome = try? JSONDecoder().decode(Outcome.self, from: Data(line.utf8)) else { return }
            let after = try lab.stats().fibCache
            let synchronous = after.map { cache in ([hook] + others).contains { cache.hooks.contains($0) } } ?? false
            let by = after?.hooks.first { ([hook] + others).contains($0) } ?? hook
            print("fib cache, \(kind) changes: \(outcome.changes), stale packets \(outcome.stale) after \(outcome.stale_changes) of them"
                  + (kind == "mtu" ? ", lost \(outcome.lost) after \(outcome.lost_changes)" : "") + "; "
                  + "window p50 \(outcome.window_us_p50 ?? 0) us, p99 \(outcome.window_us_p99 ?? 0) us, max \(outcome.window_us_max ?? 0) us "
                  + "(\(synchronous ? "invalidated by \(by)" : "invalidated by the agent's netlink events only"))")
            XCTAssertEqual(outcome.changes, 2 * rounds)
            if synchronous {
                XCTAssertEqual(outcome.stale, 0, "\(kind): \(by) invalidates before the command returns")
                XCTAssertEqual(outcome.lost, 0, "\(kind): nothing sent after the command returned was lost to a stale answer")
            }
            if let before, let after {
                XCTAssertGreaterThan(after.hits, before.hits, "\(kind): the flow was answered from the cache")
                XCTAssertGreaterThanOrEqual(after.invalidations - before.invalidations, UInt64(2 * rounds), "\(kind): every change invalidated")
            }
        }

        try measure("route", hook: "fexit/fib_table_insert")
        try measure("rule", hook: "fexit/fib_nl_newrule")
        try lab.ip("nexthop add id 9 via 10.2.0.2 dev p1")
        try lab.ip("route replace 10.9.0.0/24 nhid 9")
        try measure("nexthop", hook: "fexit/rtm_new_nexthop")
        try lab.ip("route replace 10.9.0.0/24 via 10.2.0.2")
        try lab.ip("route add 10.9.0.0/24 via 10.3.0.2 metric 200")
        try measure("link", hook: "fexit/rt_cache_flush")
        try measure("mtu", hook: "fexit/rt_cache_flush")
        try measure("neigh", hook: "tp_btf/neigh_update_done", orBy: [],
                    extra: ["--neigh", "10.2.0.2,p1,\(realMAC),02:00:00:00:00:99"])
    }
}
