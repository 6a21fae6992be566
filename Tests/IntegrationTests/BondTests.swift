import Foundation
import XCTest

/// Bonds as fast-path ports (Tests/lab/bond.sh): frames arriving on a
/// bond's slaves are routed as the bond's, frames routed to a bond leave by
/// the slave the kernel's own bond would pick, and what the bond would not
/// deliver stays the kernel's. Needs the bonding driver: runs in the Debian
/// 12 VM (make test-vm); skipped on a kernel without it.
final class BondTests: XCTestCase {
    override func setUpWithError() throws {
        try Lab.requireBonding()
    }

    /// Per flow, the slave the kernel alone picks, then the one picked
    /// with the fast path forwarding; the kernel forwards nothing itself
    /// the second time.
    private func assertSlaveChoiceIsTheKernels(mode: String, hash: String?, p0Mode: String? = nil,
                                               file: StaticString = #filePath, line: UInt = #line) throws -> Lab {
        let lab = try Lab(self)
        if let p0Mode { try lab.makeBond("p0", mode: p0Mode) }
        try lab.makeBond("p1", mode: mode, hash: hash)
        let destinations = ["10.2.0.2", "fd00:2::2"]
        let kernel = try destinations.map { try lab.slaveChoice(destination: $0) }
        _ = try lab.attach(bonds: p0Mode == nil ? ["p1"] : ["p0", "p1"])
        let kernelBefore = try lab.kernelForwarded()
        func total(_ f: (v4: Int, v6: Int)) -> Int { f.v4 + f.v6 }
        let forwardedBefore = try lab.forwarded()
        let fast = try destinations.map { try lab.slaveChoice(destination: $0) }
        for (index, destination) in destinations.enumerated() {
            XCTAssertEqual(kernel[index].count, 16, "\(mode) \(destination): kernel alone delivered \(kernel[index])", file: file, line: line)
            XCTAssertEqual(fast[index], kernel[index], "\(mode) \(hash ?? "") \(destination): slave per destination port", file: file, line: line)
        }
        let stats = try lab.stats(when: { try $0.port("p0").forwarded.packets - forwardedBefore >= 32 })
        XCTAssertEqual(try stats.port("p0").forwarded.packets - forwardedBefore, 32, "forwarded in XDP", file: file, line: line)
        XCTAssertGreaterThanOrEqual(try stats.port("p1").transmitted.packets, 32, "transmitted by the bond", file: file, line: line)
        XCTAssertEqual(total(try lab.kernelForwarded()) - total(kernelBefore), 0, "the router's kernel forwarded some", file: file, line: line)
        return lab
    }

    /// Into an active-backup bond and out of a balance-xor layer3+4 bond,
    /// both families, in XDP; status names the bonds' modes and slaves.
    func testForwardsIntoAndOutOfBondsInXDPBothFamilies() throws {
        let lab = try assertSlaveChoiceIsTheKernels(mode: "balance-xor", hash: "layer3+4", p0Mode: "active-backup")
        let status = try lab.fibfast(["status"]).stdout
        XCTAssertTrue(status.contains("bond active-backup, slaves p0s0 (active), p0s1 (backup)"), status)
        XCTAssertTrue(status.contains("bond balance-xor layer3+4, slaves p1s0 (active), p1s1 (active)"), status)
        struct Status: Decodable {
            struct FastPath: Decodable { var ports: [Port] }
            struct Port: Decodable { var name: String; var bond: Bond? }
            struct Bond: Decodable { var mode: String; var hashPolicy: String?; var slaves: [Slave] }
            struct Slave: Decodable { var name: String; var state: String; var up: Bool }
            var fastPaths: [FastPath]
        }
        let json = try JSONDecoder().decode(Status.self, from: Data(try lab.fibfast(["status", "--json"]).stdout.utf8))
        let p0 = try XCTUnwrap(json.fastPaths.first?.ports.first { $0.name == "p0" }?.bond)
        XCTAssertEqual(p0.mode, "active-backup")
        XCTAssertNil(p0.hashPolicy)
        XCTAssertEqual(p0.slaves.map(\.name), ["p0s0", "p0s1"])
        XCTAssertEqual(p0.slaves.map(\.state), ["active", "backup"])
        XCTAssertEqual(json.fastPaths.first?.ports.map(\.name).sorted(), ["p0", "p1"], "slaves are no ports of their own")
    }

    func testLayer2HashPicksTheKernelsSlave() throws {
        _ = try assertSlaveChoiceIsTheKernels(mode: "balance-xor", hash: "layer2")
    }

    func testIEEE8023adPicksTheKernelsSlave() throws {
        _ = try assertSlaveChoiceIsTheKernels(mode: "802.3ad", hash: "layer3+4")
    }

    /// Active-backup sends by the active slave, also once another is made active.
    func testActiveBackupSendsByTheActiveSlave() throws {
        let lab = try assertSlaveChoiceIsTheKernels(mode: "active-backup", hash: nil)
        try lab.ip("link set p1 type bond active_slave p1s1")
        let choice = try lab.slaveChoice(destination: "10.2.0.2")
        XCTAssertEqual(Set(choice.values), ["eth0s1"], "\(choice)")
    }

    /// A frame arriving on a backup slave is not routed by the kernel (the
    /// bond hands it to exact-match handlers only); the fast path leaves it
    /// to the kernel, which drops it as it would alone.
    func testFramesOnABackupSlaveGoToTheKernel() throws {
        let lab = try Lab(self)
        try lab.makeBond("p0", mode: "active-backup")
        let frame = RawFrames.udp4(ethDst: try lab.mac(.rtr, "p0"), ethSrc: try lab.mac(.src, "eth0"),
                                   src: "10.1.0.2", dst: "10.2.0.2", dport: 9311)
        func arrivals() throws -> Int {
            try lab.capture(on: .dst, count: 1, proto: "udp", dport: 9311, timeout: 1) {
                try lab.injectOnSlave(frame, count: 20)
            }.count
        }
        XCTAssertEqual(try arrivals(), 0, "the kernel alone routes frames from a backup slave")
        // Native mode runs on the slaves: the program sees the frames, on
        // the slave's ifindex, and hands them up.
        let native = try lab.attach(bonds: ["p0"])
        let before = try lab.stats().port("p0")
        XCTAssertEqual(try arrivals(), 0)
        let after = try lab.stats(when: { try $0.port("p0").passed("inactive-member") - before.passed("inactive-member") >= 20 })
        XCTAssertEqual(try after.port("p0").passed("inactive-member") - before.passed("inactive-member"), 20)
        XCTAssertEqual(try after.port("p0").forwarded.packets, before.forwarded.packets)
        try native.stop()

        // Generic mode runs on the bond itself, after the bond's receive
        // handler: the program never sees them, and sees the rest as the
        // bond's (ingress ifindex: the bond).
        _ = try lab.attach(bonds: ["p0"], extra: ["--mode", "generic"])
        XCTAssertEqual(try arrivals(), 0)
        let generic = try lab.stats().port("p0")
        XCTAssertEqual(generic.passed("inactive-member"), 0)
        XCTAssertEqual(generic.passed("unknown-port"), 0)
        let got = try lab.capture(on: .dst, count: 10, proto: "udp", dport: 9312) {
            try lab.send(to: "10.2.0.2", count: 10, port: 9312)
        }
        XCTAssertEqual(got.count, 10)
        XCTAssertEqual(try lab.stats(when: { try $0.port("p0").forwarded.packets >= 10 }).port("p0").forwarded.packets, 10)
    }

    /// Modes the kernel runs no XDP in, and a hash XDP cannot compute, are
    /// refused with the mode named and what to do.
    func testUnservableBondsAreRefused() throws {
        let lab = try Lab(self, warm: false)
        try lab.makeBond("p1", mode: "balance-alb", carries: false)
        let alb = try lab.attachRefused(["p0", "p1"])
        XCTAssertNotEqual(alb.status, 0)
        XCTAssertTrue(alb.message.contains("port p1 is a bond in mode balance-alb that the fast path cannot serve as the kernel would: the kernel has no XDP for mode balance-alb (only balance-rr, active-backup, balance-xor and 802.3ad): change the mode"), alb.message)
        try lab.makeBond("p0", mode: "balance-xor", hash: "vlan+srcmac", carries: false)
        let hash = try lab.attachRefused(["p0", "p1"])
        XCTAssertNotEqual(hash.status, 0)
        XCTAssertTrue(hash.message.contains("port p0 is a bond in mode balance-xor that the fast path cannot serve as the kernel would: its xmit_hash_policy vlan+srcmac cannot be computed in XDP"), hash.message)
        let slave = try lab.attachRefused(["p0s0", "p1s0"])
        XCTAssertTrue(slave.message.contains("port p0s0 is a slave of bond p0: the kernel routes its frames as the bond's; name p0 instead"), slave.message)
        XCTAssertEqual(try lab.portsWithXDP(), [])
    }
}

extension Lab {
    /// Writes a raw frame out of src's second slave (eth0s1): the router's
    /// p0s1, a backup in active-backup.
    func injectOnSlave(_ frame: [UInt8], count: Int) throws {
        let result = try exec(.src, [Command.python, Lab.packetTool, "frame", "--iface", "eth0s1",
                                     "--hex", RawFrames.hex(frame), "--count", "\(count)"])
        guard result.succeeded else { throw LabError.command("frame", result.stderr) }
    }
}
