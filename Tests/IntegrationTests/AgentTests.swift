import Foundation
import XCTest

/// The agent keeps the fast path in step with the kernel: ports, MTU,
/// routes and rules, neighbours. Each test drives the lab's router the way
/// an operator would and checks where packets go and how they got there.
final class AgentTests: XCTestCase {
    // MARK: - Ports

    func testPortDownLeavesTheFastPathAndUpRestoresIt() throws {
        let lab = try Lab(self)
        let agent = try lab.attach()
        try agent.waitForLog("in step with the kernel")
        let p1 = try lab.ifindex("p1")
        XCTAssertTrue(try lab.devmapIfindexes().contains(p1))

        // Carrier loss: the host behind p1 goes away, the route stays.
        try lab.check(lab.exec(.dst, ["ip", "link", "set", "eth0", "down"]))
        try agent.waitForLog("port p1 lost carrier: removed from the fast path, its traffic goes to the kernel")
        XCTAssertFalse(try lab.devmapIfindexes().contains(p1))
        let before = try lab.stats().port("p0")
        try lab.send(to: "10.2.0.2", count: 10)
        let after = try lab.stats(when: { try $0.port("p0").passed.packets - before.passed.packets >= 10 }).port("p0")
        XCTAssertEqual(after.forwarded.packets, before.forwarded.packets, "nothing forwarded to a port without carrier")
        XCTAssertGreaterThanOrEqual(after.passed.packets - before.passed.packets, 10, "all handed to the kernel (ARP and ND count too)")

        try lab.check(lab.exec(.dst, ["ip", "link", "set", "eth0", "up"]))
        // Taking eth0 down removed the host's default route; put it back.
        try lab.check(lab.exec(.dst, ["ip", "route", "replace", "default", "via", "10.2.0.1"]))
        try agent.waitForLog("port p1 up: back in the fast path")
        XCTAssertTrue(try lab.devmapIfindexes().contains(p1))
        try assertForwardedInXDP(lab, to: "10.2.0.2", host: .dst)

        // Administratively down, then up.
        try lab.ip("link set p1 down")
        try agent.waitForLog("port p1 down: removed from the fast path, its traffic goes to the kernel")
        XCTAssertFalse(try lab.devmapIfindexes().contains(p1))
        try lab.ip("link set p1 up")
        try eventually(30, "p1 back in the devmap") { try lab.devmapIfindexes().contains(p1) }
        try assertForwardedInXDP(lab, to: "10.2.0.2", host: .dst)
    }

    func testPortRecreatedUnderTheSameNameIsAttachedAgain() throws {
        let lab = try Lab(self)
        let dst2 = try lab.addHost("dst2", port: "p2", subnet: 3, test: self)
        let agent = try lab.attach(["p0", "p1", "p2"])
        try agent.waitForLog("in step with the kernel")
        let old = try lab.ifindex("p1")

        try lab.ip("link del p1")
        try agent.waitForLog("port p1 deleted: removed from the fast path, attached again if it comes back; still forwarding on p0, p2")
        XCTAssertFalse(try lab.devmapIfindexes().contains(old))
        // The other ports keep forwarding in XDP.
        let forwarded = try lab.forwarded()
        let got = try lab.capture(inNamespaces: [dst2], count: 10, dport: 9999) { try lab.send(to: "10.3.0.2", count: 10) }
        XCTAssertEqual(got.count, 10)
        XCTAssertGreaterThanOrEqual(try lab.forwarded() - forwarded, 9)

        try lab.connect(host: lab.namespace(.dst), port: "p1", subnet: 2)
        let new = try lab.ifindex("p1")
        XCTAssertNotEqual(new, old)
        try agent.waitForLog("port p1 (ifindex \(new)) appeared: attached")
        try eventually(30, "new p1 in the devmap") { try lab.devmapIfindexes().contains(new) }
        try assertForwardedInXDP(lab, to: "10.2.0.2", host: .dst)
        XCTAssertNoThrow(try lab.stats().port("p1"), "the new device counts under the same name")
        XCTAssertTrue(agent.isRunning)
    }

    // MARK: - MTU

    func testMTUChangeTakesEffectForTheNextPacket() throws {
        let lab = try Lab(self)
        // No DF from the source: the router must fragment what is too big.
        try lab.check(lab.exec(.src, ["sysctl", "-q", "-w", "net.ipv4.ip_no_pmtu_disc=1"]))
        let agent = try lab.attach()
        try agent.waitForLog("in step with the kernel")

        try lab.ip("link set p1 mtu 1280")
        try agent.waitForLog("port p1 MTU 1500 -> 1280")
        var before = try lab.stats().port("p0")
        let fragments = try lab.capture(on: .dst, count: 10, proto: "udp") {
            try lab.send(to: "10.2.0.2", count: 5, size: 1400)
        }
        var after = try lab.stats().port("p0")
        XCTAssertEqual(after.passed("mtu") - before.passed("mtu"), 5, "too big for p1: handed to the kernel")
        XCTAssertEqual(fragments.count, 10, "the kernel fragmented each datagram in two")
        XCTAssertTrue(fragments.allSatisfy { $0.len <= 1280 + 14 }, "\(fragments.map(\.len))")

        try lab.ip("link set p1 mtu 1500")
        try agent.waitForLog("port p1 MTU 1280 -> 1500")
        before = after
        let whole = try lab.capture(on: .dst, count: 5, proto: "udp") {
            try lab.send(to: "10.2.0.2", count: 5, size: 1400)
        }
        after = try lab.stats().port("p0")
        XCTAssertEqual(whole.count, 5)
        XCTAssertTrue(whole.allSatisfy { $0.len == 14 + 20 + 8 + 1400 })
        XCTAssertEqual(after.passed("mtu"), before.passed("mtu"))
        XCTAssertEqual(after.forwarded.packets - before.forwarded.packets, 5, "forwarded in XDP again")
    }

    // MARK: - Routes and rules

    func testRouteChangesSwitchTheNextHopForTheNextPacket() throws {
        let lab = try Lab(self)
        let dst = lab.namespace(.dst)
        let dst2 = try lab.addHost("dst2", port: "p2", subnet: 3, test: self)
        try lab.check(lab.exec(.rtr, ["sysctl", "-q", "-w", "net.ipv4.fib_multipath_hash_policy=1"]))
        let agent = try lab.attach(["p0", "p1", "p2"])
        try agent.waitForLog("in step with the kernel")
        let hosts = [dst, dst2]

        try lab.ip("route add 10.9.0.0/24 via 10.2.0.2")
        var forwarded = try lab.forwarded()
        XCTAssertEqual(try lab.arrivals(at: hosts, destination: "10.9.0.5", flows: 4), [4, 0], "route add")
        XCTAssertEqual(try lab.forwarded() - forwarded, 4, "forwarded in XDP")

        try lab.ip("route replace 10.9.0.0/24 via 10.3.0.2")
        XCTAssertEqual(try lab.arrivals(at: hosts, destination: "10.9.0.5", flows: 4), [0, 4], "route replace")

        try lab.ip("route replace 10.9.0.0/24 nexthop via 10.2.0.2 nexthop via 10.3.0.2")
        let spread = try lab.arrivals(at: hosts, destination: "10.9.0.5", flows: 32)
        XCTAssertEqual(spread.reduce(0, +), 32, "multipath")
        XCTAssertGreaterThan(spread[0], 0, "multipath uses both next hops: \(spread)")
        XCTAssertGreaterThan(spread[1], 0, "multipath uses both next hops: \(spread)")

        try lab.ip("route replace 10.9.0.0/24 via 10.2.0.2")
        try lab.ip("route add 10.9.0.0/24 via 10.3.0.2 table 100")
        try lab.ip("rule add to 10.9.0.0/24 lookup 100 pref 100")
        try agent.waitForLog("IPv4 rule priority 100 lookup table 100 added")
        forwarded = try lab.forwarded()
        XCTAssertEqual(try lab.arrivals(at: hosts, destination: "10.9.0.5", flows: 4), [0, 4], "policy rule")
        XCTAssertGreaterThan(try lab.forwarded() - forwarded, 0, "rules are honoured in XDP")
        try lab.ip("rule del to 10.9.0.0/24 lookup 100 pref 100")
        XCTAssertEqual(try lab.arrivals(at: hosts, destination: "10.9.0.5", flows: 4), [4, 0], "rule deleted")

        try lab.ip("route del 10.9.0.0/24")
        XCTAssertEqual(try lab.arrivals(at: hosts, destination: "10.9.0.5", flows: 4), [0, 0], "route deleted")

        try lab.ip("-6 route add fd00:9::/64 via fd00:2::2")
        XCTAssertEqual(try lab.arrivals(at: hosts, destination: "fd00:9::5", flows: 4), [4, 0], "IPv6 route add")
        try lab.ip("-6 route replace fd00:9::/64 via fd00:3::2")
        XCTAssertEqual(try lab.arrivals(at: hosts, destination: "fd00:9::5", flows: 4), [0, 4], "IPv6 route replace")
    }

    // MARK: - Neighbours

    func testNextHopIsResolvedAsSoonAsARoutePointsAtIt() throws {
        let lab = try Lab(self)
        let agent = try lab.attach()
        try agent.waitForLog("in step with the kernel")
        try lab.ip("neigh flush dev p1")
        XCTAssertEqual(try lab.neighbour("10.2.0.2", dev: "p1"), "")

        try lab.ip("route add 10.9.0.0/24 via 10.2.0.2")
        try agent.waitForLog("next hop 10.2.0.2 on p1: managed neighbour entry added")
        try eventually(30, "10.2.0.2 resolved without traffic") {
            let entry = try lab.neighbour("10.2.0.2", dev: "p1")
            return entry.contains("managed") && entry.contains("REACHABLE")
        }
        try lab.ip("-6 route add fd00:9::/64 via fd00:2::2")
        try eventually(30, "fd00:2::2 managed and resolved") {
            let entry = try lab.neighbour("fd00:2::2", dev: "p1")
            return entry.contains("managed") && entry.contains("REACHABLE")
        }
        let before = try lab.stats().port("p0")
        try lab.send(to: "10.9.0.5", count: 10)
        try lab.send(to: "fd00:9::5", count: 10)
        let after = try lab.stats(when: { try $0.port("p0").forwarded.packets - before.forwarded.packets >= 20 }).port("p0")
        XCTAssertEqual(after.passed("no-neighbour"), before.passed("no-neighbour"), "no first packet punted")
        XCTAssertEqual(after.forwarded.packets - before.forwarded.packets, 20)

        try lab.ip("route del 10.9.0.0/24")
        try agent.waitForLog("next hop 10.2.0.2 on p1: no route uses it any more, managed neighbour entry removed")
        try eventually(30, "entry removed") { !(try lab.neighbour("10.2.0.2", dev: "p1").contains("managed")) }

        // On exit the kernel's tables are left as found: nothing managed.
        try agent.stop()
        XCTAssertFalse(try lab.exec(.rtr, ["ip", "-d", "neigh"]).stdout.contains("managed"))
    }

    /// An agent killed with SIGKILL cannot hand back its managed entries;
    /// the next agent recognises them by their mark and does it: at once
    /// for entries no route needs, at its own stop for the others. Both
    /// kinds: entries it created (deleted) and entries that existed before
    /// (set back to unmanaged).
    func testManagedEntriesLeftByAKilledAgentAreHandedBack() throws {
        let lab = try Lab(self)
        // 10.2.0.2 exists (the lab warmed it); 10.2.0.77 is an entry the
        // kernel made for a host that never answered; 10.2.0.99 has none.
        _ = try lab.exec(.rtr, ["ping", "-c", "1", "-W", "1", "10.2.0.77"])
        XCTAssertNotEqual(try lab.neighbour("10.2.0.77", dev: "p1"), "")
        XCTAssertNotEqual(try lab.neighbour("10.2.0.2", dev: "p1"), "")
        try lab.ip("route add 10.9.0.0/24 via 10.2.0.2")
        try lab.ip("route add 10.7.0.0/24 via 10.2.0.77")
        try lab.ip("route add 10.8.0.0/24 via 10.2.0.99")

        let first = try lab.attach()
        try first.waitForLog("in step with the kernel")
        for address in ["10.2.0.2", "10.2.0.77", "10.2.0.99"] {
            XCTAssertTrue(try lab.neighbour(address, dev: "p1").contains("managed"), address)
        }
        first.kill(signal: SIGKILL)
        _ = try first.background.finish(timeout: 10)
        XCTAssertTrue(try lab.neighbour("10.2.0.2", dev: "p1").contains("managed"), "left behind by the kill")

        // While no agent runs, two of the next hops lose their routes.
        try lab.ip("route del 10.7.0.0/24")
        try lab.ip("route del 10.8.0.0/24")
        let second = try lab.attach()
        try second.waitForLog("in step with the kernel")
        XCTAssertTrue(second.log.contains("neighbour 10.2.0.2 on p1: managed entry left by an earlier fibfast agent taken over"),
                      second.log)
        XCTAssertFalse(try lab.neighbour("10.2.0.77", dev: "p1").contains("managed"), "no route needs it: handed back")
        XCTAssertFalse(try lab.neighbour("10.2.0.99", dev: "p1").contains("managed"), "no route needs it: deleted")
        XCTAssertTrue(try lab.neighbour("10.2.0.2", dev: "p1").contains("managed"), "a route needs it: kept")

        try second.stop()
        let table = try lab.exec(.rtr, ["ip", "-d", "neigh"]).stdout
        XCTAssertFalse(table.contains("managed"), table)
        XCTAssertNotEqual(try lab.neighbour("10.2.0.2", dev: "p1"), "", "an entry that existed stays, unmanaged")
    }

    /// A port named like a VLAN device (p1.5) has its settings in one
    /// directory, /proc/sys/net/ipv4/neigh/p1.5: the agent must read its
    /// reachable time there, not under p1/5.
    func testDottedPortNameReadsItsOwnNeighbourSettings() throws {
        let lab = try Lab(self)
        try lab.ip("link set p1 down")
        try lab.ip("link set p1 name p1.5")
        try lab.ip("link set p1.5 up")
        try lab.check(lab.exec(.rtr, ["sysctl", "-q", "-w", "net.ipv4.neigh.p1/5.base_reachable_time_ms=5000"]))
        try lab.ip("route add 10.9.0.0/24 via 10.2.0.2")
        let agent = try lab.attach(["p0", "p1.5", "-v"])
        try agent.waitForLog("next hop 10.2.0.2 on p1.5: ")
        try agent.waitForLog("port p1.5: IPv4 next hops re-confirmed every 2500 ms (half of net.ipv4.neigh.p1/5.base_reachable_time_ms)")
    }

    /// Routes through nexthop objects (ip nexthop, as FRR installs them):
    /// with nexthop_compat_mode 1, the default, the kernel's route messages
    /// also carry the gateway, and a replaced nexthop object re-announces
    /// the routes that use it, so the agent follows both like plain routes.
    func testRoutesThroughNexthopObjects() throws {
        let lab = try Lab(self)
        // -v: the agent logs each route event it applies.
        let agent = try lab.attach(["p0", "p1", "-v"])
        try agent.waitForLog("in step with the kernel")
        XCTAssertFalse(agent.log.contains("nexthop_compat_mode"), agent.log)
        try lab.ip("nexthop add id 5 via 10.2.0.2 dev p1")
        try lab.ip("route add 10.9.0.0/24 nhid 5")
        try lab.ip("-6 nexthop add id 6 via fd00:2::2 dev p1")
        try lab.ip("-6 route add fd00:9::/64 nhid 6")
        try agent.waitForLog("route added: 10.9.0.0/24 via 10.2.0.2 dev p1")
        let before = try lab.forwarded()
        XCTAssertEqual(try lab.arrivals(at: [lab.namespace(.dst)], destination: "10.9.0.5", flows: 4), [4])
        XCTAssertEqual(try lab.arrivals(at: [lab.namespace(.dst)], destination: "fd00:9::5", flows: 4), [4])
        XCTAssertEqual(try lab.forwarded() - before, 8, "forwarded in XDP")

        try lab.ip("nexthop replace id 5 via 10.2.0.99 dev p1")
        try agent.waitForLog("next hop 10.2.0.99 on p1: managed neighbour entry added")
        try agent.stop()

        // Compat mode off: route messages name the object only; the agent says what it cannot do.
        try lab.check(lab.exec(.rtr, ["sysctl", "-q", "-w", "net.ipv4.nexthop_compat_mode=0"]))
        let blind = try lab.attach()
        try blind.waitForLog("in step with the kernel")
        XCTAssertTrue(blind.log.contains("net.ipv4.nexthop_compat_mode is 0"), blind.log)
        try lab.ip("nexthop replace id 5 via 10.2.0.2 dev p1")
        let still = try lab.forwarded()
        XCTAssertEqual(try lab.arrivals(at: [lab.namespace(.dst)], destination: "10.9.0.5", flows: 4), [4])
        XCTAssertGreaterThan(try lab.forwarded() - still, 0, "the FIB lookup follows the nexthop object regardless")
    }

    /// A next hop is replaced by a host with another MAC address that says
    /// nothing (no gratuitous ARP). Traffic must find it at least as fast as
    /// with the kernel alone; the figures go to the log of the test run.
    func testNextHopMACChangeRecovers() throws {
        let lab = try Lab(self)
        // Shorter than the default 30 s so the test takes seconds, the same for both runs.
        try lab.check(lab.exec(.rtr, ["sysctl", "-q", "-w", "net.ipv4.neigh.p1.base_reachable_time_ms=5000"]))
        try lab.ip("route add 10.9.0.0/24 via 10.2.0.2")

        let kernel = try measureMACMove(lab, to: "02:00:00:00:aa:01")
        let agent = try lab.attach(["-v", "p0", "p1"])
        try agent.waitForLog("in step with the kernel")
        let before = try lab.forwarded()
        let fibfast = try measureMACMove(lab, to: "02:00:00:00:aa:02")
        print("next hop MAC change, traffic recovered after: kernel alone \(kernel.map { "\($0) s" } ?? "never"), with fibfast \(fibfast.map { "\($0) s" } ?? "never")")
        XCTAssertNotNil(kernel, "kernel alone recovers")
        XCTAssertNotNil(fibfast, "fibfast recovers")
        XCTAssertGreaterThan(try lab.forwarded() - before, 100, "the stream went through XDP")
        XCTAssertTrue(agent.log.contains("neighbour 10.2.0.2 on p1 moved from"), agent.log)
        if ProcessInfo.processInfo.environment["FIBFAST_SHOW_LOG"] != nil { print(agent.log) }
    }

    /// Seconds from the MAC change until the first datagram reaches the new MAC.
    private func measureMACMove(_ lab: Lab, to mac: String) throws -> Double? {
        // Start from a freshly resolved entry, under the shortened timer.
        // One delete, not `ip neigh flush`: with the agent attached the next
        // hop is managed and comes straight back, and flush, which dumps and
        // deletes until nothing is left, gives up after 10 rounds (it did,
        // in a loaded run). Absent already is as good.
        _ = try lab.exec(.rtr, ["ip", "neigh", "del", "10.2.0.2", "dev", "p1"])
        try lab.check(lab.exec(.rtr, ["ping", "-q", "-c", "1", "-w", "3", "10.2.0.2"]))
        let tool = Command.root.appendingPathComponent("Tests/lab/neighmove.py").path
        let mover = try BackgroundProcess(["ip", "netns", "exec", lab.namespace(.dst), Command.python, tool, "move",
                                           "--iface", "eth0", "--mac", mac, "--dst", "10.9.0.5", "--timeout", "90"])
        try mover.waitForLine("ready", timeout: 60)
        let stream = try BackgroundProcess(["ip", "netns", "exec", lab.namespace(.src), Command.python, tool, "stream",
                                            "--dst", "10.9.0.5", "--seconds", "100", "--pps", "50"])
        defer { stream.kill(signal: SIGKILL); _ = try? stream.finish(timeout: 2) }
        let output = try mover.finish(timeout: 100)
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
              let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else { return nil }
        return json["recovered_after"] as? Double
    }

    // MARK: - helpers

    /// Sends 20 datagrams and checks they all arrive, most through XDP
    /// (the first may wait for the kernel to resolve the neighbour).
    private func assertForwardedInXDP(_ lab: Lab, to address: String, host: Lab.Host,
                                      file: StaticString = #filePath, line: UInt = #line) throws {
        // The first packet to a host whose entry was flushed waits for
        // ARP in the kernel, and so does what follows it in the same burst.
        try lab.check(lab.exec(.src, ["ping", "-q", "-c", "1", "-w", "5", address]))
        let before = try lab.forwarded()
        let got = try lab.capture(on: host, count: 20, dport: 9999) { try lab.send(to: address, count: 20) }
        XCTAssertEqual(got.count, 20, "all arrive", file: file, line: line)
        XCTAssertGreaterThanOrEqual(try lab.forwarded() - before, 19, "through XDP", file: file, line: line)
    }
}
