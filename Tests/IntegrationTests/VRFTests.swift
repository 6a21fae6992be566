import Foundation
import XCTest

/// Ports enslaved to VRF devices: lookups in the VRF's table, sources
/// validated in it, leaks between VRFs, and the agent following ports in and
/// out of VRFs. The VM lane runs these (Debian 12's kernel has the vrf
/// module); on a kernel without it they skip.
final class VRFTests: XCTestCase {
    /// Sends 20 datagrams of each family from src to dst and asserts they
    /// all arrive, forwarded in XDP and never by the router's kernel.
    private func assertBothFamiliesForwardedInXDP(_ lab: Lab, _ what: String,
                                                  file: StaticString = #filePath, line: UInt = #line) throws {
        try lab.warm("10.2.0.2", "fd00:2::2")
        let before = try (lab.stats(), lab.kernelForwarded())
        let got = try lab.capture(on: .dst, count: 40, proto: "udp", dport: 9999) {
            try lab.send(to: "10.2.0.2", count: 20)
            try lab.send(to: "fd00:2::2", count: 20)
        }
        let after = try (lab.stats(), lab.kernelForwarded())
        XCTAssertEqual(got.filter { $0.family == 4 }.count, 20, "\(what): IPv4 arrives", file: file, line: line)
        XCTAssertEqual(got.filter { $0.family == 6 }.count, 20, "\(what): IPv6 arrives", file: file, line: line)
        XCTAssertEqual(try after.0.port("p0").forwarded.packets - before.0.port("p0").forwarded.packets, 40,
                       "\(what): forwarded in XDP", file: file, line: line)
        XCTAssertLessThanOrEqual(try kernelForwardedBesidesICMPErrors(before, after, from: "p1"), 0,
                                 "\(what): the kernel forwarded some", file: file, line: line)
    }

    /// What the router's kernel forwarded between two readings, less the
    /// ICMP errors (port unreachable from the sink, which has no listener)
    /// that came back by `port` and that the fast path leaves to it; the
    /// kernel may drop some of those (its own ICMP rate limits), so at most 0
    /// means it forwarded none of the datagrams.
    private func kernelForwardedBesidesICMPErrors(_ before: (Stats, (v4: Int, v6: Int)), _ after: (Stats, (v4: Int, v6: Int)),
                                                  from port: String) throws -> Int {
        let errors = try after.0.port(port).passed("icmp-error") - before.0.port(port).passed("icmp-error")
        return after.1.v4 + after.1.v6 - before.1.v4 - before.1.v6 - Int(errors)
    }

    /// The main table blackholes dst's subnet, so only a lookup in the
    /// VRF's table forwards; with --direct too (l3mdev_fib_table). The VRF
    /// device itself is no port: frames arrive on and leave by its members.
    func testBothFamiliesAreLookedUpInTheVRFsTableWithAndWithoutDirect() throws {
        let lab = try Lab(self, warm: false)
        try lab.addVRF("red", table: 10, ports: [("p0", 1), ("p1", 2)])
        let refused = try lab.fibfast(["attach", "red", "p1"])
        XCTAssertFalse(refused.succeeded)
        XCTAssertTrue(refused.stderr.contains("port red is a VRF device; name the ports enslaved to it instead (p0 p1)"),
                      refused.stderr)
        try lab.ip("route add blackhole 10.2.0.0/24")
        try lab.ip("-6 route add blackhole fd00:2::/64")
        for options in [[], ["--direct"]] {
            let agent = try lab.attach(["p0", "p1"] + options)
            try assertBothFamiliesForwardedInXDP(lab, options.first ?? "rules")
            try agent.stop()
        }
    }

    /// Two VRFs with the same subnets: each host reaches the 10.2.0.2 of its
    /// own VRF, in XDP.
    func testTwoVRFsWithOverlappingPrefixesKeepTheirTrafficApart() throws {
        let lab = try Lab(self, warm: false)
        try lab.addVRF("red", table: 10, ports: [("p0", 1), ("p1", 2)])
        let src2 = try lab.addHost("s2", port: "p2", subnet: 1, test: self)
        let dst2 = try lab.addHost("d2", port: "p3", subnet: 2, test: self)
        try lab.addVRF("blue", table: 20, ports: [("p2", 1), ("p3", 2)])
        try lab.warm("10.2.0.2")
        try lab.warm(fromNamespace: src2, "10.2.0.2")
        _ = try lab.attach(["p0", "p1", "p2", "p3"])
        let before = try lab.stats()
        let got = try lab.capture(inNamespaces: [lab.namespace(.dst), dst2], count: 40, proto: "udp", dport: 9999) {
            try lab.send(to: "10.2.0.2", count: 20)
            try lab.send(from: src2, to: "10.2.0.2", count: 20)
        }
        let after = try lab.stats()
        XCTAssertEqual(got.filter { $0.netns == lab.namespace(.dst) && $0.src == "10.1.0.2" }.count, 20, "red's traffic stays in red")
        XCTAssertEqual(got.filter { $0.netns == dst2 && $0.src == "10.1.0.2" }.count, 20, "blue's traffic stays in blue")
        XCTAssertEqual(got.count, 40, "\(got.map { ($0.netns ?? "?", $0.src) })")
        XCTAssertEqual(try after.port("p0").forwarded.packets - before.port("p0").forwarded.packets, 20)
        XCTAssertEqual(try after.port("p2").forwarded.packets - before.port("p2").forwarded.packets, 20)
        XCTAssertEqual(try after.port("p1").transmitted.packets - before.port("p1").transmitted.packets, 20)
        XCTAssertEqual(try after.port("p3").transmitted.packets - before.port("p3").transmitted.packets, 20)
    }

    /// rp_filter on VRF ports: sources are validated in the VRF's table, not
    /// main. 198.51.100.0/24 is routed back by p0 in red only; 203.0.113.0/24
    /// is routed in main only; 192.0.2.0/24 is routed back by p1 in red.
    /// Whatever the kernel alone delivers, fibfast delivers.
    func testReversePathFilterValidatesSourcesInTheVRF() throws {
        let lab = try Lab(self, warm: false)
        try lab.addVRF("red", table: 10, ports: [("p0", 1), ("p1", 2)])
        try lab.ip("route add 198.51.100.0/24 via 10.1.0.2 vrf red")
        try lab.ip("route add 192.0.2.0/24 via 10.2.0.2 vrf red")
        try lab.ip("route add 203.0.113.0/24 dev p0")
        try lab.warm("10.2.0.2")
        // The fourth is the router's own address in red: a local route in
        // red's table, a martian for the kernel.
        let sources = ["198.51.100.7", "203.0.113.7", "192.0.2.7", "10.2.0.1"]
        let expected = ["2": [20, 0, 20, 0], "1": [20, 0, 0, 0]]
        let frames = try sources.map { source in
            RawFrames.udp4(ethDst: try lab.mac(.rtr, "p0"), ethSrc: try lab.mac(.src, "eth0"),
                           src: source, dst: "10.2.0.2", dport: 7777)
        }
        // All three sources in one capture: the emulated VM pays for each.
        func delivered() throws -> [Int] {
            let got = try lab.capture(on: .dst, count: 80, proto: "udp", dport: 7777, timeout: 1.5) {
                for frame in frames { try lab.inject(frame, count: 20) }
            }
            return sources.map { source in got.filter { $0.src == source }.count }
        }
        for mode in ["2", "1"] {
            try lab.sysctl(.rtr, "net.ipv4.conf.all.rp_filter=\(mode)")
            XCTAssertEqual(try delivered(), expected[mode], "the kernel alone, rp_filter \(mode)")
        }
        let agent = try lab.attach(["p0", "p1", "-v"])
        try agent.waitForLog("in step with the kernel")
        for mode in ["2", "1"] {
            try agent.waitForAnotherLog("rp_filter (all) changed") {
                try lab.sysctl(.rtr, "net.ipv4.conf.all.rp_filter=\(mode)")
            }
            let before = try lab.stats().port("p0")
            XCTAssertEqual(try delivered(), expected[mode], "with fibfast, rp_filter \(mode)")
            let after = try lab.stats().port("p0")
            let accepted = expected[mode]!.reduce(0, +)
            XCTAssertEqual(after.forwarded.packets - before.forwarded.packets, UInt64(accepted), "rp_filter \(mode): accepted ones in XDP")
            XCTAssertEqual(after.passed("source-check") - before.passed("source-check"), UInt64(80 - accepted),
                           "rp_filter \(mode): refused ones to the kernel")
        }
    }

    /// A route in red's table through a port in blue is forwarded in XDP,
    /// as the kernel forwards it; a route in red through the blue VRF device
    /// itself (`dev blue`) leaves the decision to the kernel.
    func testRoutesLeakedBetweenVRFs() throws {
        let lab = try Lab(self, warm: false)
        try lab.addVRF("red", table: 10, ports: [("p0", 1), ("p1", 2)])
        let leaf = try lab.addHost("l3", port: "p2", subnet: 3, test: self)
        try lab.addVRF("blue", table: 20, ports: [("p2", 3)])
        try lab.ip("route add 10.3.0.0/24 via 10.3.0.2 dev p2 vrf red onlink")
        try lab.ip("route add 10.1.0.0/24 via 10.1.0.2 dev p0 vrf blue onlink")
        try lab.warm("10.3.0.2")
        _ = try lab.attach(["p0", "p1", "p2"])

        var before = try (lab.stats(), lab.kernelForwarded())
        var got = try lab.capture(inNamespaces: [leaf], count: 20, proto: "udp", dport: 9999) {
            try lab.send(to: "10.3.0.2", count: 20)
        }
        var after = try (lab.stats(), lab.kernelForwarded())
        XCTAssertEqual(got.count, 20, "red to blue through p2")
        XCTAssertEqual(try after.0.port("p0").forwarded.packets - before.0.port("p0").forwarded.packets, 20, "in XDP")
        XCTAssertEqual(try after.0.port("p2").transmitted.packets - before.0.port("p2").transmitted.packets, 20)
        XCTAssertLessThanOrEqual(try kernelForwardedBesidesICMPErrors(before, after, from: "p2"), 0, "not by the kernel")

        try lab.ip("route replace 10.3.0.0/24 dev blue vrf red")
        before = try (lab.stats(), lab.kernelForwarded())
        got = try lab.capture(inNamespaces: [leaf], count: 20, proto: "udp", dport: 9999) {
            try lab.send(to: "10.3.0.2", count: 20)
        }
        after = try (lab.stats(), lab.kernelForwarded())
        XCTAssertEqual(got.count, 20, "red to blue through the VRF device, as the kernel does it")
        XCTAssertEqual(try after.0.port("p0").forwarded.packets, try before.0.port("p0").forwarded.packets, "not in XDP")
        XCTAssertGreaterThanOrEqual(after.1.v4 - before.1.v4, 20, "by the kernel")
    }

    /// A route in the main table through a port in red: the kernel validates
    /// the source in red's table (the VRF of the egress port, as no VRF
    /// holds the ingress port), so without a route back in red it drops
    /// the packet under loose rp_filter, although main has one.
    func testALeakFromTheMainTableIntoAVRFIsValidatedInTheVRF() throws {
        let lab = try Lab(self, warm: false)
        try lab.addVRF("red", table: 10, ports: [("p1", 2)])
        try lab.ip("route add 10.2.0.0/24 via 10.2.0.2 dev p1 onlink")
        let back = "10.1.0.0/24 via 10.1.0.2 dev p0 vrf red onlink"
        try lab.ip("route add " + back)
        try lab.warm("10.2.0.2")
        try lab.ip("route del " + back)
        try lab.sysctl(.rtr, "net.ipv4.conf.all.rp_filter=2")
        func delivered() throws -> Int {
            try lab.capture(on: .dst, count: 20, proto: "udp", dport: 9999, timeout: 1.5) {
                try lab.send(to: "10.2.0.2", count: 20)
            }.count
        }
        XCTAssertEqual(try delivered(), 0, "the kernel alone: no route back in red")
        _ = try lab.attach(["p0", "p1"])
        var before = try lab.stats().port("p0")
        XCTAssertEqual(try delivered(), 0, "fibfast forwarded what the kernel drops")
        var after = try lab.stats().port("p0")
        XCTAssertEqual(after.passed("source-check") - before.passed("source-check"), 20)

        try lab.ip("route add " + back)
        before = try lab.stats().port("p0")
        XCTAssertEqual(try delivered(), 20, "a route back in red")
        after = try lab.stats().port("p0")
        XCTAssertEqual(after.forwarded.packets - before.forwarded.packets, 20, "in XDP")
    }

    /// Ports moved into a VRF and out again under a running agent: status
    /// says where each is, and forwarding follows the table it is in.
    func testEnslaveAndReleaseAreFollowed() throws {
        let lab = try Lab(self)
        let agent = try lab.attach(["p0", "p1", "-v"])
        try agent.waitForLog("in step with the kernel")
        try assertBothFamiliesForwardedInXDP(lab, "outside any VRF")

        try agent.waitForAnotherLog("port p1 enslaved to VRF red") {
            try lab.addVRF("red", table: 10, ports: [("p0", 1), ("p1", 2)])
        }
        // Creating the VRF added its l3mdev rule: the kernel now validates
        // every source with a FIB lookup, and so must the fast path.
        try agent.waitForLog("validates IPv4 sources with a full FIB lookup")
        try lab.ip("route add blackhole 10.2.0.0/24")
        try lab.ip("-6 route add blackhole fd00:2::/64")
        XCTAssertEqual(try vrfs(lab), ["p0": "red", "p1": "red"])
        XCTAssertTrue(try lab.fibfast(["status"]).stdout.contains("vrf red"))
        try assertBothFamiliesForwardedInXDP(lab, "in VRF red")

        try lab.ip("route del blackhole 10.2.0.0/24")
        try lab.ip("-6 route del blackhole fd00:2::/64")
        try agent.waitForAnotherLog("port p1 released from VRF red") {
            try lab.enslave("p0", to: nil, subnet: 1)
            try lab.enslave("p1", to: nil, subnet: 2)
        }
        XCTAssertEqual(try vrfs(lab), [:])
        try assertBothFamiliesForwardedInXDP(lab, "released")
    }

    /// Port name: VRF, from `fibfast status --json`.
    private func vrfs(_ lab: Lab) throws -> [String: String] {
        let json = try lab.check(lab.fibfast(["status", "--json"])).stdout
        let report = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let fastPaths = report?["fastPaths"] as? [[String: Any]] ?? []
        var result: [String: String] = [:]
        for port in fastPaths.flatMap({ $0["ports"] as? [[String: Any]] ?? [] }) {
            if let name = port["name"] as? String, let vrf = port["vrf"] as? String { result[name] = vrf }
        }
        return result
    }
}
