import CFastPath
import Foundation
import XCTest

/// bpf_fib_lookup does no source validation: the fast path must refuse
/// whatever sources the kernel's fib_validate_source refuses, and hand them
/// to the kernel (which drops them) rather than forward them.
final class ReversePathTests: XCTestCase {
    /// Spoofed UDP frames from src, to dst, with the given source address.
    func spoofed(_ lab: Lab, source: String) throws -> [UInt8] {
        RawFrames.udp4(ethDst: try lab.mac(.rtr, "p0"), ethSrc: try lab.mac(.src, "eth0"),
                    src: source, dst: "10.2.0.2", dport: 7777)
    }

    /// How many frames with this source reach dst, with and without fibfast.
    func delivered(_ lab: Lab, source: String, count: Int = 20) throws -> Int {
        let frame = try spoofed(lab, source: source)
        let seen = try lab.capture(on: .dst, count: count, proto: "udp", dport: 7777, timeout: 1.5) {
            try lab.inject(frame, count: count)
        }
        return seen.filter { $0.src == source }.count
    }

    func testStrictModeSpoofedSourcesAreNeverForwardedInXDP() throws {
        let lab = try Lab(self)
        try lab.sysctl(.rtr, "net.ipv4.conf.all.rp_filter=1")
        // 10.2.0.99 lives behind p1; arriving on p0 it fails the strict check.
        XCTAssertEqual(try delivered(lab, source: "10.2.0.99"), 0, "the kernel alone must drop it")
        XCTAssertEqual(try delivered(lab, source: "10.1.0.2"), 20, "the genuine source passes")

        _ = try lab.attach()
        XCTAssertEqual(try delivered(lab, source: "10.2.0.99"), 0, "fibfast forwarded a spoofed source")
        XCTAssertEqual(try delivered(lab, source: "10.1.0.2"), 20)
        let p0 = try lab.stats().port("p0")
        XCTAssertEqual(p0.passed("source-check"), 20, "spoofed frames are handed to the kernel")
        XCTAssertGreaterThanOrEqual(p0.forwarded.packets, 20, "genuine ones are forwarded in XDP")
    }

    func testLooseModeNeedsSomeRouteBack() throws {
        let lab = try Lab(self)
        try lab.sysctl(.rtr, "net.ipv4.conf.all.rp_filter=2")
        _ = try lab.attach()
        // Loose: a source routed by another port is fine, one with no route is not.
        XCTAssertEqual(try delivered(lab, source: "10.2.0.99"), 20)
        XCTAssertEqual(try delivered(lab, source: "192.0.2.1"), 0)
        let p0 = try lab.stats().port("p0")
        XCTAssertEqual(p0.passed("source-check"), 20)
        XCTAssertEqual(p0.forwarded.packets, 20)
    }

    /// Changes arrive as netconf events and take effect before the agent
    /// says so; the once-a-second poll is only their backstop.
    func testSettingChangesWhileRunningAreFollowed() throws {
        let lab = try Lab(self)
        let agent = try lab.attach(["p0", "p1", "-v"])
        try agent.waitForLog("in step with the kernel")
        // rp_filter off: unroutable sources are forwarded (as the kernel does).
        XCTAssertEqual(try delivered(lab, source: "192.0.2.1"), 20)
        let changed = "changed: source checks re-read from the netconf event"
        try agent.waitForAnotherLog("rp_filter (ifindex \(try lab.ifindex("p0"))) \(changed)") {
            try lab.sysctl(.rtr, "net.ipv4.conf.p0.rp_filter=1")
        }
        XCTAssertEqual(try delivered(lab, source: "10.2.0.99"), 0)
        XCTAssertEqual(try lab.stats().port("p0").passed("source-check"), 20)

        // `all` counts too: the effective setting is max(all, port).
        try agent.waitForAnotherLog(changed) { try lab.sysctl(.rtr, "net.ipv4.conf.p0.rp_filter=0") }
        try agent.waitForAnotherLog("rp_filter (all) \(changed)") { try lab.sysctl(.rtr, "net.ipv4.conf.all.rp_filter=2") }
        XCTAssertEqual(try delivered(lab, source: "192.0.2.1"), 0, "loose: no route back")
        XCTAssertEqual(try delivered(lab, source: "10.2.0.99"), 20, "loose: a route back by another port")
    }

    func testTheRoutersOwnAddressIsAMartianEvenWithoutRPFilter() throws {
        let lab = try Lab(self)
        XCTAssertEqual(try delivered(lab, source: "10.2.0.1"), 0, "the kernel alone drops it")
        _ = try lab.attach()
        XCTAssertEqual(try delivered(lab, source: "10.2.0.1"), 0, "fibfast forwarded a martian")
        XCTAssertEqual(try lab.stats().port("p0").passed("source-check"), 20)
    }

    /// With rp_filter off the fast path answers "is this one of my
    /// addresses?" from a table the agent keeps; an address added while it
    /// runs must be refused at once, and a policy rule must switch it to the
    /// kernel's full check.
    func testOwnAddressesAddedWhileRunningAndPolicyRules() throws {
        let lab = try Lab(self)
        // -v: the agent logs each address event it applies.
        let agent = try lab.attach(["p0", "p1", "-v"])
        XCTAssertTrue(try lab.exec(.rtr, ["ip", "addr", "add", "10.7.7.7/32", "dev", "lo"]).succeeded)
        try agent.background.waitForLine("address [10, 7, 7, 7] added", inStderr: true, timeout: 30)
        let before = try lab.stats().port("p0").passed("source-check")
        XCTAssertEqual(try delivered(lab, source: "10.7.7.7"), 0, "fibfast forwarded a source that is the router's own")
        XCTAssertEqual(try lab.stats().port("p0").passed("source-check") - before, 20)
        XCTAssertEqual(try delivered(lab, source: "10.1.0.77"), 20, "an ordinary foreign source is forwarded")

        XCTAssertFalse(agent.log.contains("validates IPv4 sources with a full FIB lookup"), agent.log)
        XCTAssertTrue(try lab.exec(.rtr, ["ip", "rule", "add", "from", "10.9.0.0/16", "lookup", "main", "pref", "100"]).succeeded)
        try agent.background.waitForLine("validates IPv4 sources with a full FIB lookup", inStderr: true, timeout: 30)
        XCTAssertEqual(try delivered(lab, source: "10.1.0.2"), 20)
        XCTAssertEqual(try delivered(lab, source: "10.7.7.7"), 0)
    }

    /// The own-address filter in front of the table (fastpath_abi.h) only
    /// saves lookups: a foreign source in the same bucket as an own address
    /// is still forwarded, and an address removed is forwarded again.
    func testOwnAddressFilterDecidesNothingAlone() throws {
        let lab = try Lab(self)
        let foreign = "10.1.0.77"
        let twin = try XCTUnwrap(Self.address(inBucketOf: foreign), "no address shares \(foreign)'s bucket")
        try lab.check(lab.exec(.rtr, ["ip", "addr", "add", "\(twin)/32", "dev", "lo"]))
        let agent = try lab.attach(["p0", "p1", "-v"])
        try agent.waitForLog("in step with the kernel")

        var before = try lab.stats().port("p0")
        XCTAssertEqual(try delivered(lab, source: foreign), 20, "shares a bucket with \(twin), the router's own")
        var after = try lab.stats().port("p0")
        XCTAssertEqual(after.forwarded.packets - before.forwarded.packets, 20, "forwarded in XDP")
        XCTAssertEqual(after.passed("source-check"), before.passed("source-check"))
        XCTAssertEqual(try delivered(lab, source: twin), 0, "the router's own address as a source")

        try lab.check(lab.exec(.rtr, ["ip", "addr", "del", "\(twin)/32", "dev", "lo"]))
        try agent.background.waitForLine("address \(Self.bytes(twin)) removed", inStderr: true, timeout: 5)
        before = try lab.stats().port("p0")
        XCTAssertEqual(try delivered(lab, source: twin), 20, "no longer the router's")
        after = try lab.stats().port("p0")
        XCTAssertEqual(after.forwarded.packets - before.forwarded.packets, 20, "forwarded in XDP")
    }

    static func bytes(_ address: String) -> [UInt8] { address.split(separator: ".").map { UInt8($0)! } }

    /// Another address in 10.200.0.0/16 whose filter bucket is `address`'s.
    static func address(inBucketOf address: String) -> String? {
        func bucket(_ bytes: [UInt8]) -> UInt32 {
            ff_local_v4_bucket(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
        }
        let target = bucket(bytes(address))
        for third in 0...255 {
            for fourth in 1...254 where bucket([10, 200, UInt8(third), UInt8(fourth)]) == target {
                return "10.200.\(third).\(fourth)"
            }
        }
        return nil
    }
}
