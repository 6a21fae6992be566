import CFastPath
import FibfastCore
import XCTest

/// The XDP program itself, run with BPF_PROG_TEST_RUN on hand-built frames:
/// every check that sends a frame to the kernel, one by one. Needs root
/// (loading BPF) but no lab: frames "arrive" on lo of the test's namespace.
final class FastPathProgramTests: XCTestCase {
    let portMAC: [UInt8] = [2, 0, 0, 0, 0, 1]
    let hostMAC: [UInt8] = [2, 0, 0, 0, 0, 0xaa]
    var program: FastPathProgram!

    func v4(ethDst mac: [UInt8]? = nil, from source: String = "10.1.0.2", to destination: String = "10.2.0.2",
            ttl: UInt8 = 64, options: [UInt8] = []) -> [UInt8] {
        RawFrames.udp4(ethDst: mac ?? portMAC, ethSrc: hostMAC, src: source, dst: destination, ttl: ttl, options: options)
    }

    func v6(from source: String = "fd00:1::2", to destination: String = "fd00:2::2",
            hopLimit: UInt8 = 64, nextHeader: UInt8 = 17) -> [UInt8] {
        RawFrames.udp6(ethDst: portMAC, ethSrc: hostMAC, src: source, dst: destination, hopLimit: hopLimit,
                       nextHeader: nextHeader)
    }

    override func setUpWithError() throws {
        try Lab.requireRoot()
        program = try FastPathProgram.load()
        var config = ff_config()
        config.fib_flags = 0
        try program.maps.config.update(0, config)
        var info = ff_port_info()
        withUnsafeMutableBytes(of: &info.mac) { $0.copyBytes(from: portMAC) }
        info.flags = UInt16(FF_PORT_ENABLED)
        info.slot = 0
        try program.maps.setPort(UInt32(1), info)
    }

    /// Runs one frame; returns the action and the verdict it was counted as.
    func verdict(of frame: [UInt8]) throws -> (XDPAction, Verdict?) {
        let before = program.maps.readCounters().first { $0.ifindex == 1 }!
        let run = try XDPTestRun.run(programFD: program.programFD, frame: frame, ingressIfindex: 1)
        let after = program.maps.readCounters().first { $0.ifindex == 1 }!
        let moved = Verdict.allCases.filter { after[$0].packets != before[$0].packets }
        XCTAssertLessThanOrEqual(moved.count, 1, "one frame, one verdict: \(moved)")
        XCTAssertEqual(run.frame, frame, "a frame passed to the kernel must be untouched")
        return (run.action, moved.first)
    }

    func assertPassed(_ frame: [UInt8], as expected: Verdict, file: StaticString = #filePath, line: UInt = #line) throws {
        let (action, verdict) = try self.verdict(of: frame)
        XCTAssertEqual(action, .pass, file: file, line: line)
        XCTAssertEqual(verdict, expected, file: file, line: line)
    }

    func testNonIPFramesGoToTheKernel() throws {
        let arp = portMAC + hostMAC + RawFrames.be16(0x0806) + Array(repeating: 0, count: 28)
        try assertPassed(arp, as: .notIP)
        // A priority tag (VID 0): the kernel takes it off itself.
        let vlan = portMAC + hostMAC + RawFrames.be16(0x8100) + Array(repeating: 0, count: 46)
        try assertPassed(vlan, as: .vlan)
    }

    func testFramesForOtherHostsGoToTheKernel() throws {
        try assertPassed(v4(ethDst: [2, 0, 0, 0, 0, 9]), as: .notForRouter)
        try assertPassed(v4(ethDst: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), as: .notForRouter)
        try assertPassed(v4(ethDst: [0x01, 0x00, 0x5e, 0, 0, 1]), as: .notForRouter)
    }

    func testMalformedHeadersGoToTheKernel() throws {
        let good = v4()
        try assertPassed(Array(good.prefix(14 + 12)), as: .malformed)            // truncated header
        try assertPassed(Array(good.prefix(good.count - 4)), as: .malformed)     // shorter than tot_len
        var badChecksum = good
        badChecksum[25] ^= 0x55
        try assertPassed(badChecksum, as: .malformed)
        var badVersion = good
        badVersion[14] = 0x55
        try assertPassed(badVersion, as: .malformed)
        try assertPassed(Array(v6().prefix(50)), as: .malformed)
    }

    func testTTLOfOneOrLessGoesToTheKernel() throws {
        try assertPassed(v4(ttl: 1), as: .ttlExpired)
        try assertPassed(v4(ttl: 0), as: .ttlExpired)
        try assertPassed(v6(hopLimit: 1), as: .ttlExpired)
    }

    func testOptionsAndExtensionHeadersGoToTheKernel() throws {
        // Router alert option (RFC 2113), padded to 4 bytes.
        try assertPassed(v4(options: [0x94, 0x04, 0x00, 0x00]), as: .ipOptions)
        for nextHeader: UInt8 in [0, 43, 60] {
            try assertPassed(v6(nextHeader: nextHeader), as: .ipOptions)
        }
        // A Fragment header followed by another extension header.
        for behind: UInt8 in [0, 43, 44, 60] {
            try assertPassed(fragment(behind: behind), as: .ipOptions)
        }
    }

    /// The UDP datagram of v6() behind a Fragment header.
    func fragment(behind nextHeader: UInt8 = 17, offset: UInt16 = 0, more: Bool = false,
                  hopLimit: UInt8 = 64) -> [UInt8] {
        RawFrames.fragment6(v6(hopLimit: hopLimit, nextHeader: 44), nextHeader: nextHeader, offset: offset, more: more)
    }

    /// Lone Fragment headers get past every check to the FIB, which answers
    /// from lo here (forwarding off, or no route): first, middle, last and
    /// atomic fragments, and an ICMPv6 error in a fragment (its multipath
    /// hash is the outer header's, so it needs no inner flow).
    func testFragmentsReachTheFIB() throws {
        let fib: Set<Verdict> = [.forwardingOff, .notForwarded]
        for frame in [fragment(offset: 0, more: true), fragment(offset: 100, more: true), fragment(offset: 200),
                      fragment(), fragment(behind: 58), fragment(behind: 6, offset: 3, more: true)] {
            let (action, verdict) = try self.verdict(of: frame)
            XCTAssertEqual(action, .pass)
            XCTAssertTrue(verdict.map(fib.contains) ?? false, "\(String(describing: verdict))")
        }
    }

    func testFragmentsTheKernelMustSeeGoToIt() throws {
        try assertPassed(fragment(hopLimit: 1), as: .ttlExpired)
        try assertPassed(fragment(offset: 100, hopLimit: 0), as: .ttlExpired)
        // The Fragment header cut short: by the frame, by the payload length.
        let whole = fragment()
        try assertPassed(Array(whole.prefix(14 + 40 + 4)), as: .malformed)
        var short = Array(whole.prefix(14 + 40 + 4)) + [0, 0, 0, 0]
        short[18...19] = RawFrames.be16(4)[...]
        try assertPassed(short, as: .malformed)
    }

    func testSpecialAddressesGoToTheKernel() throws {
        for (source, destination) in [("10.1.0.2", "224.0.0.5"), ("10.1.0.2", "255.255.255.255"),
                                      ("127.0.0.1", "10.2.0.2"), ("0.0.0.0", "10.2.0.2"),
                                      ("169.254.1.1", "10.2.0.2"), ("10.1.0.2", "169.254.9.9")] {
            try assertPassed(v4(from: source, to: destination), as: .specialAddress)
        }
        let global = "fd00:1::2"
        for special in ["fe80::1", "ff02::1", "::1", "::ffff:10.1.0.2"] {
            try assertPassed(v6(from: global, to: special), as: .specialAddress)
            try assertPassed(v6(from: special, to: global), as: .specialAddress)
        }
    }

    func testFragmentsGoToTheKernelWhileConntrackReassembles() throws {
        var config = ff_config()
        config.flags = UInt32(FF_CONFIG_FRAGMENTS_TO_KERNEL)
        try program.maps.config.update(0, config)
        try assertPassed(fragment(offset: 100, more: true), as: .steppedAside)
        try assertPassed(RawFrames.fragment4(v4(), offset: 100, more: true), as: .steppedAside)
        try assertPassed(RawFrames.fragment4(v4(), offset: 0, more: true), as: .steppedAside)
        // Whole packets are not the kernel's for that.
        try assertPassed(v6(from: "fe80::1"), as: .specialAddress)
        try assertPassed(v4(ttl: 1), as: .ttlExpired)
    }

    func testSteppingAsideHandsEverythingToTheKernel() throws {
        var config = ff_config()
        config.flags = UInt32(FF_CONFIG_STEP_ASIDE)
        try program.maps.config.update(0, config)
        try assertPassed(v4(), as: .steppedAside)
    }

    func testUnknownIngressPortIsCountedAndPassed() throws {
        try program.maps.removePort(UInt32(1))
        let run = try XDPTestRun.run(programFD: program.programFD, frame: v4(), ingressIfindex: 1)
        XCTAssertEqual(run.action, .pass)
        let unknown = program.maps.readCounters().first { $0.ifindex == 0 }!
        XCTAssertEqual(unknown[.unknownPort].packets, 1)
    }
}
