import Foundation
import XCTest

/// VLAN sub-interfaces as ports (Support/VLANLab.swift): tagged frames are
/// looked up as arriving on their VLAN device, frames routed to a VLAN
/// device leave its lower device with the kernel's tag, in XDP. Needs 8021q:
/// runs in the VM lane.
final class VLANTests: XCTestCase {
    private static let vid100 = 100

    func testPlainAndVLANPortsForwardBothFamiliesBothWaysInXDP() throws {
        let lab = try Lab(self)
        let v200 = try lab.addVLANs(self)
        try lab.warmVLANs(v200)
        let agent = try lab.attach(["p0", "p1.100"])
        XCTAssertTrue(agent.log.contains("p1 (ifindex"), agent.log)
        let mac = try lab.exec(.rtr, ["cat", "/sys/class/net/p1.100/address"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let sinks = [lab.namespace(.src), lab.namespace(.dst)]
        let kernelBefore = try lab.kernelForwarding(sinks: sinks)
        let before = try lab.stats()

        // Untagged in on p0, tagged out of p1 as VLAN 100.
        let out = try lab.capture(on: .dst, count: 40, proto: "udp", dport: 9999) {
            try lab.send(to: "10.3.0.2", count: 20)
            try lab.send(to: "fd00:3::2", count: 20)
        }
        XCTAssertEqual(out.count, 40)
        XCTAssertTrue(out.allSatisfy { $0.vlan_tci == Self.vid100 && $0.ttl == 63 && $0.eth_src == mac }, "\(out.prefix(3))")
        // Tagged in on p1 (VLAN 100), untagged out of p0.
        let back = try lab.capture(on: .src, count: 40, proto: "udp", dport: 9998) {
            try lab.send(from: lab.namespace(.dst), to: "10.1.0.2", count: 20, port: 9998)
            try lab.send(from: lab.namespace(.dst), to: "fd00:1::2", count: 20, port: 9998)
        }
        XCTAssertEqual(back.count, 40)
        XCTAssertTrue(back.allSatisfy { $0.vlan_tci == nil && $0.ttl == 63 }, "\(back.prefix(3))")

        let after = try lab.stats { try $0.port("p1.100").forwarded.packets - before.port("p1.100").forwarded.packets >= 40 }
        XCTAssertEqual(try after.port("p0").forwarded.packets - before.port("p0").forwarded.packets, 40)
        XCTAssertEqual(try after.port("p1.100").transmitted.packets - before.port("p1.100").transmitted.packets, 40)
        XCTAssertEqual(try after.port("p1.100").forwarded.packets - before.port("p1.100").forwarded.packets, 40)
        XCTAssertEqual(try after.port("p0").transmitted.packets - before.port("p0").transmitted.packets, 40)
        XCTAssertEqual(try lab.kernelForwarded(since: kernelBefore, sinks: sinks, expected: 0), 0,
                       "the router's kernel forwarded some of them")

        // status names the VLAN port's lower device and VID, in both forms.
        let text = try lab.check(lab.fibfast(["status"])).stdout
        XCTAssertTrue(text.contains("p1.100: ifindex ") && text.contains(" vlan 100 (802.1Q) on p1 prog "), text)
        let json = try lab.check(lab.fibfast(["status", "--json"])).stdout
        let status = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let ports = try XCTUnwrap(((status["fastPaths"] as? [[String: Any]])?.first?["ports"]) as? [[String: Any]])
        let vlan = try XCTUnwrap(ports.first { $0["name"] as? String == "p1.100" }?["vlan"] as? [String: Any], json)
        XCTAssertEqual(vlan["lower"] as? String, "p1")
        XCTAssertEqual(vlan["id"] as? Int, Self.vid100)
        XCTAssertEqual(vlan["proto"] as? String, "802.1Q")
    }

    /// In and out of the same device on two VLANs, with an egress-qos-map:
    /// the same frames as the kernel alone sends, priority bits included.
    func testRouterOnAStickMatchesTheKernelTagAndPriority() throws {
        let lab = try Lab(self)
        let v200 = try lab.addVLANs(self, egressQoS200: "0:5 2:3")
        try lab.warmVLANs(v200)
        func run() throws -> [CapturedPacket] {
            try lab.capture(on: .dst, count: 20, proto: "udp", dport: 9997) {
                try lab.send(from: lab.namespace(.dst), to: "10.4.0.2", count: 10, port: 9997)
                try lab.send(from: lab.namespace(.dst), to: "fd00:4::2", count: 10, port: 9997)
            }.filter { $0.dst == "10.4.0.2" || $0.dst == "fd00:4::2" }
        }
        let kernelBefore = try lab.kernelForwarding(sinks: [v200])
        let kernel = try run()
        XCTAssertEqual(try lab.kernelForwarded(since: kernelBefore, sinks: [v200], expected: 20), 20)
        _ = try lab.attach(["p1.100", "p1.200"])
        let before = try lab.stats()
        let kernelMid = try lab.kernelForwarding(sinks: [v200])
        let fast = try run()
        let after = try lab.stats { try $0.port("p1.100").forwarded.packets - before.port("p1.100").forwarded.packets >= 20 }
        XCTAssertEqual(try after.port("p1.100").forwarded.packets - before.port("p1.100").forwarded.packets, 20)
        XCTAssertEqual(try after.port("p1.200").transmitted.packets - before.port("p1.200").transmitted.packets, 20)
        XCTAssertEqual(try lab.kernelForwarded(since: kernelMid, sinks: [v200], expected: 0), 0,
                       "the router's kernel forwarded some of them")
        func key(_ p: CapturedPacket) -> String { "\(p.family) \(p.ttl) \(p.len) \(p.eth_src) \(p.eth_dst) \(p.vlan_tci ?? -1)" }
        XCTAssertEqual(kernel.count, 20)
        XCTAssertEqual(fast.map(key).sorted(), kernel.map(key).sorted())
        // PCP 5 for priority 0 (IPv4 TOS 0; IPv6 arriving on a VLAN without ingress-qos-map).
        XCTAssertTrue(fast.allSatisfy { $0.vlan_tci == (5 << 13) | 200 }, "\(fast.prefix(2))")
    }

    /// Crafted tagged frames, router on a stick from VLAN 100 to VLAN 200,
    /// with both priority maps in play: IPv4 TOS classes (rt_tos2priority),
    /// IPv6 PCPs through an ingress-qos-map, one to priority 9, which no
    /// egress map entry of the fast path's covers (the kernel forwards it,
    /// from the very bytes that arrived). Every frame out is the kernel's,
    /// byte for byte, tag included.
    func testTaggedFramesLeaveByteIdenticalToTheKernel() throws {
        let lab = try Lab(self)
        let v200 = try lab.addVLANs(self, egressQoS200: "0:5 2:3 4:1 6:7")
        try lab.ip("link set p1.100 type vlan ingress-qos-map 1:2 3:6 5:9")
        try lab.warmVLANs(v200)
        let routerMAC = try RawFrames.mac(lab.exec(.rtr, ["cat", "/sys/class/net/p1.100/address"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let hostMAC = try RawFrames.mac(lab.exec(.dst, ["cat", "/sys/class/net/eth0/address"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        func tagged(_ frame: [UInt8], pcp: UInt16) -> [UInt8] {
            Array(frame[0..<12]) + RawFrames.be16(0x8100) + RawFrames.be16(pcp << 13 | UInt16(Self.vid100)) + Array(frame[12...])
        }
        var frames: [[UInt8]] = []
        for (i, tos) in [0x00, 0x08, 0x10, 0x18].enumerated() {
            frames.append(tagged(RawFrames.udp4(ethDst: routerMAC, ethSrc: hostMAC, src: "10.3.0.2", dst: "10.4.0.2",
                                                dport: 9995, payload: Array("fibfast \(i)".utf8), id: UInt16(i + 1), tos: UInt8(tos)), pcp: UInt16(i)))
        }
        for pcp in [0, 1, 3, 5] {
            frames.append(tagged(RawFrames.udp6(ethDst: routerMAC, ethSrc: hostMAC, src: "fd00:3::2", dst: "fd00:4::2",
                                                dport: 9995, payload: Array("fibfast \(pcp)".utf8)), pcp: UInt16(pcp)))
        }
        func run() throws -> [String] {
            try lab.capture(on: .dst, count: frames.count, proto: "udp", dport: 9995) {
                try lab.check(lab.exec(.dst, [Command.python, Lab.packetTool, "frame", "--iface", "eth0"]
                                       + frames.flatMap { ["--hex", RawFrames.hex($0)] }))
            }.map { "\($0.vlan_tpid ?? -1) \($0.vlan_tci ?? -1) \($0.hex ?? "")" }.sorted()
        }
        let kernel = try run()
        XCTAssertEqual(kernel.count, frames.count)
        let agent = try lab.attach(["p1.100", "p1.200"])
        let before = try lab.stats()
        let kernelBefore = try lab.kernelForwarding(sinks: [v200])
        let fast = try run()
        XCTAssertEqual(fast, kernel)
        let after = try lab.stats { try $0.port("p1.100").passed("vlan") - before.port("p1.100").passed("vlan") >= 1 }
        XCTAssertEqual(try after.port("p1.100").forwarded.packets - before.port("p1.100").forwarded.packets, 7, agent.log)
        XCTAssertEqual(try after.port("p1.200").transmitted.packets - before.port("p1.200").transmitted.packets, 7)
        XCTAssertEqual(try after.port("p1.100").passed("vlan") - before.port("p1.100").passed("vlan"), 1)
        XCTAssertEqual(try lab.kernelForwarded(since: kernelBefore, sinks: [v200], expected: 1), 1,
                       "the priority-9 frame is the kernel's")
        // PCPs: egress-qos-map of priorities 0, 2, 6, 4 (IPv4) and 0, 2, 6, 9 (IPv6).
        let pcps = fast.map { Int($0.split(separator: " ")[1])! >> 13 }.sorted()
        XCTAssertEqual(pcps, [0, 1, 3, 3, 5, 5, 7, 7], "\(fast)")
    }

    func testFollowsVLANPortDownUpDeleteAndRecreate() throws {
        let lab = try Lab(self)
        let v200 = try lab.addVLANs(self)
        try lab.warmVLANs(v200)
        let agent = try lab.attach(["p0", "p1.100"])
        try agent.waitForAnotherLog("port p1.100 down") { try lab.ip("link set p1.100 down") }
        try agent.waitForAnotherLog("port p1.100 up: back in the fast path") { try lab.ip("link set p1.100 up") }
        try agent.waitForAnotherLog("port p1.100 lost carrier") { try lab.ip("link set p1 down") }
        try agent.waitForAnotherLog("port p1.100 up: back in the fast path") { try lab.ip("link set p1 up") }
        try agent.waitForAnotherLog("port p1.100 deleted") { try lab.ip("link del p1.100") }
        try agent.waitForAnotherLog("VLAN port p1.100") {
            try lab.ip("link add link p1 name p1.100 type vlan id 100")
            try lab.ip("addr add 10.3.0.1/24 dev p1.100")
            try lab.ip("link set p1.100 up")
        }
        try lab.check(lab.exec(.src, ["ping", "-q", "-n", "-c", "1", "-w", "5", "10.3.0.2"]))
        let before = try lab.stats()
        let out = try lab.capture(on: .dst, count: 20, proto: "udp", dport: 9999) { try lab.send(to: "10.3.0.2", count: 20) }
        XCTAssertEqual(out.count, 20)
        let after = try lab.stats { try $0.port("p0").forwarded.packets - before.port("p0").forwarded.packets >= 20 }
        XCTAssertEqual(try after.port("p0").forwarded.packets - before.port("p0").forwarded.packets, 20, agent.log)
    }

    /// A veth peer sending through a VLAN device with tx-vlan offload on
    /// hands the tag over beside the frame: XDP sees it untagged. On a lower
    /// device that is not a port such frames go to the kernel, which reads
    /// the tag and forwards them; the agent names the peer's fix.
    func testTagHandedOverBesideTheFrameIsLeftToTheKernel() throws {
        let lab = try Lab(self)
        let v200 = try lab.addVLANs(self)
        try lab.warmVLANs(v200)
        let agent = try lab.attach(["p0", "p1.100"])
        XCTAssertTrue(agent.log.contains("ethtool -K PEER txvlan off"), agent.log)
        try lab.check(lab.exec(.dst, ["ethtool", "-K", "eth0", "txvlan", "on"]))
        let before = try lab.stats()
        let back = try lab.capture(on: .src, count: 20, proto: "udp", dport: 9996) {
            try lab.send(from: lab.namespace(.dst), to: "10.1.0.2", count: 20, port: 9996)
        }
        XCTAssertEqual(back.count, 20)
        let after = try lab.stats { try $0.port("p1").passed.packets - before.port("p1").passed.packets >= 20 }
        XCTAssertEqual(try after.port("p1.100").forwarded.packets, try before.port("p1.100").forwarded.packets)
        XCTAssertGreaterThanOrEqual(try after.port("p1").passed("unknown-port") - before.port("p1").passed("unknown-port"), 20)
    }
}
