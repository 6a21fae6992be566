import Foundation
import XCTest

/// The fast path forwards what it should, in XDP, and the kernel gets the rest.
final class ForwardingTests: XCTestCase {
    func testIPv4IsForwardedInXDPWithTTLDecremented() throws {
        let lab = try Lab(self)
        _ = try lab.attach()
        let before = try lab.stats()
        let packets = try lab.capture(on: .dst, count: 20, proto: "udp", dport: 9999) {
            try lab.send(to: "10.2.0.2", count: 20, ttl: 64)
        }
        let after = try lab.stats()
        XCTAssertEqual(packets.count, 20)
        XCTAssertTrue(packets.allSatisfy { $0.ttl == 63 }, "TTLs: \(packets.map(\.ttl))")
        XCTAssertEqual(try after.port("p0").forwarded.packets - before.port("p0").forwarded.packets, 20)
        XCTAssertEqual(try after.port("p1").transmitted.packets - before.port("p1").transmitted.packets, 20)
        // The router's egress MAC as source, the sink's as destination.
        let p1MAC = try lab.exec(.rtr, ["cat", "/sys/class/net/p1/address"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let sinkMAC = try lab.exec(.dst, ["cat", "/sys/class/net/eth0/address"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(packets.allSatisfy { $0.eth_src == p1MAC && $0.eth_dst == sinkMAC })
    }

    func testIPv6IsForwardedInXDPWithHopLimitDecremented() throws {
        let lab = try Lab(self)
        _ = try lab.attach()
        let before = try lab.stats()
        let packets = try lab.capture(on: .dst, count: 20, proto: "udp", dport: 9999) {
            try lab.send(to: "fd00:2::2", count: 20, ttl: 64)
        }
        let after = try lab.stats()
        XCTAssertEqual(packets.count, 20)
        XCTAssertTrue(packets.allSatisfy { $0.family == 6 && $0.ttl == 63 }, "hop limits: \(packets.map(\.ttl))")
        XCTAssertEqual(try after.port("p0").forwarded.packets - before.port("p0").forwarded.packets, 20)
    }

    func testPingToTheRouterIsDeliveredByTheKernel() throws {
        let lab = try Lab(self)
        _ = try lab.attach()
        let before = try lab.stats()
        let ping = try lab.exec(.src, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.1.0.1"])
        XCTAssertTrue(ping.succeeded, ping.stdout)
        let after = try lab.stats()
        XCTAssertGreaterThanOrEqual(try after.port("p0").passed("not-forwarded") - before.port("p0").passed("not-forwarded"), 3)
        XCTAssertEqual(try after.port("p0").forwarded.packets, try before.port("p0").forwarded.packets)
    }

    func testNoRouteIsAnsweredByTheKernel() throws {
        let lab = try Lab(self)
        try lab.countEveryICMPError()
        try lab.exec(.rtr, ["ip", "route", "add", "unreachable", "10.98.0.0/16"])
        _ = try lab.attach()
        let before = try lab.stats()
        // 10.99.0.0/16 has no route at all on the router, 10.98.0.0/16 an
        // unreachable one: both are answered by the kernel with ICMP
        // destination unreachable. (ip_error() allows a burst of 5 such
        // errors per sender, a global setting: stay below it.)
        let errors = try lab.capture(on: .src, count: 4, proto: "icmp") {
            try lab.send(to: "10.99.0.1", count: 2)
            try lab.send(to: "10.98.0.1", count: 2)
        }
        let after = try lab.stats()
        XCTAssertEqual(errors.count, 4)
        XCTAssertTrue(errors.allSatisfy { $0.icmp_type == 3 && $0.src == "10.1.0.1" }, "\(errors)")
        let p0 = try (before.port("p0"), after.port("p0"))
        XCTAssertEqual(p0.1.passed("not-forwarded") - p0.0.passed("not-forwarded"), 2)
        XCTAssertEqual(p0.1.passed("unreachable") - p0.0.passed("unreachable"), 2)
        XCTAssertEqual(p0.1.forwarded.packets, p0.0.forwarded.packets)
    }

    func testTTLOneIsAnsweredWithTimeExceededByTheKernel() throws {
        let lab = try Lab(self)
        try lab.countEveryICMPError()
        _ = try lab.attach()
        let before = try lab.stats()
        let v4 = try lab.capture(on: .src, count: 2, proto: "icmp") {
            try lab.send(to: "10.2.0.2", count: 2, ttl: 1)
        }
        // Time exceeded only: multicast listener reports and neighbour
        // probes reach src too.
        let v6 = try lab.capture(on: .src, count: 2, proto: "icmpv6", icmpType: 3) {
            try lab.send(to: "fd00:2::2", count: 2, ttl: 1)
        }
        let after = try lab.stats()
        XCTAssertEqual(v4.filter { $0.icmp_type == 11 }.count, 2, "\(v4)")
        XCTAssertEqual(v6.filter { $0.icmp_type == 3 }.count, 2, "\(v6)")
        XCTAssertEqual(try after.port("p0").passed("ttl-expired") - before.port("p0").passed("ttl-expired"), 4)
        XCTAssertEqual(try after.port("p0").forwarded.packets, try before.port("p0").forwarded.packets)
    }

    func testGenericModeAndDirectLookupForward() throws {
        let lab = try Lab(self)
        let agent = try lab.attach(["p0", "p1", "--mode", "generic", "--direct"])
        XCTAssertTrue(agent.log.contains("attached in generic mode"), agent.log)
        XCTAssertTrue(agent.log.contains("direct FIB lookup"), agent.log)
        let show = try lab.exec(.rtr, ["ip", "-d", "link", "show", "p0"]).stdout
        XCTAssertTrue(show.contains("xdpgeneric"), show)
        let before = try lab.stats()
        let packets = try lab.capture(on: .dst, count: 10, proto: "udp", dport: 9999) {
            try lab.send(to: "10.2.0.2", count: 10, ttl: 30)
        }
        let after = try lab.stats()
        XCTAssertEqual(packets.count, 10)
        XCTAssertTrue(packets.allSatisfy { $0.ttl == 29 })
        XCTAssertEqual(try after.port("p0").forwarded.packets - before.port("p0").forwarded.packets, 10)
    }

    /// Not just frames on the wire: datagrams forwarded in XDP reach a UDP
    /// socket on the sink, so every checksum the router touched is right.
    func testForwardedDatagramsReachASocketOnTheSink() throws {
        let lab = try Lab(self)
        _ = try lab.attach()
        for (destination, port) in [("10.2.0.2", 9101), ("fd00:2::2", 9102)] {
            let sink = try Sink.start(inNamespace: lab.namespace(.dst), port: port, count: 50)
            let before = try lab.stats().port("p0").forwarded.packets
            try lab.send(to: destination, count: 50, port: port)
            let report = try sink.finish()
            XCTAssertEqual(report.received, 50, "\(destination): \(report)")
            XCTAssertEqual(try lab.stats().port("p0").forwarded.packets - before, 50, destination)
        }
    }
}
