import CFastPath
import FibfastCore
import XCTest

/// The XDP program itself, run with BPF_PROG_TEST_RUN on hand-built frames:
/// every check that sends a frame to the kernel, one by one. Needs root
/// (loading BPF) but no lab: frames "arrive" on lo of the test's namespace.
final class FastPathProgramTests: XCTestCase {
    let portMAC: [UInt8] = [2, 0, 0, 0, 0, 1]
    var program: FastPathProgram!

    override func setUpWithError() throws {
        try Lab.requireRoot()
        program = try FastPathProgram.load()
        var config = ff_config()
        config.fib_flags = 0
        try program.maps.config.update(UInt32(0), config)
        var info = ff_port_info()
        withUnsafeMutableBytes(of: &info.mac) { $0.copyBytes(from: portMAC) }
        info.flags = UInt16(FF_PORT_ENABLED)
        info.slot = 0
        try program.maps.portInfo.update(UInt32(1), info)
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
        let arp = Frames.ethernet(dst: portMAC, type: 0x0806) + Array(repeating: 0, count: 28)
        try assertPassed(arp, as: .notIP)
        let vlan = Frames.ethernet(dst: portMAC, type: 0x8100) + Array(repeating: 0, count: 46)
        try assertPassed(vlan, as: .notIP)
    }

    func testFramesForOtherHostsGoToTheKernel() throws {
        try assertPassed(Frames.ipv4(dst: [2, 0, 0, 0, 0, 9]), as: .notForRouter)
        try assertPassed(Frames.ipv4(dst: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), as: .notForRouter)
        try assertPassed(Frames.ipv4(dst: [0x01, 0x00, 0x5e, 0, 0, 1]), as: .notForRouter)
    }

    func testMalformedHeadersGoToTheKernel() throws {
        let good = Frames.ipv4(dst: portMAC)
        try assertPassed(Array(good.prefix(14 + 12)), as: .malformed)            // truncated header
        try assertPassed(Array(good.prefix(good.count - 4)), as: .malformed)     // shorter than tot_len
        try assertPassed(Frames.ipv4(dst: portMAC, breakChecksum: true), as: .malformed)
        var badVersion = good
        badVersion[14] = 0x55
        try assertPassed(badVersion, as: .malformed)
        try assertPassed(Array(Frames.ipv6(dst: portMAC, from: Frames.v6([0xfd00, 1, 0, 0, 0, 0, 0, 2]),
                                           to: Frames.v6([0xfd00, 2, 0, 0, 0, 0, 0, 2])).prefix(50)), as: .malformed)
    }

    func testTTLOfOneOrLessGoesToTheKernel() throws {
        try assertPassed(Frames.ipv4(dst: portMAC, ttl: 1), as: .ttlExpired)
        try assertPassed(Frames.ipv4(dst: portMAC, ttl: 0), as: .ttlExpired)
        try assertPassed(Frames.ipv6(dst: portMAC, from: Frames.v6([0xfd00, 1, 0, 0, 0, 0, 0, 2]),
                                     to: Frames.v6([0xfd00, 2, 0, 0, 0, 0, 0, 2]), hopLimit: 1), as: .ttlExpired)
    }

    func testOptionsAndExtensionHeadersGoToTheKernel() throws {
        // Router alert option (RFC 2113), padded to 4 bytes.
        try assertPassed(Frames.ipv4(dst: portMAC, options: [0x94, 0x04, 0x00, 0x00]), as: .ipOptions)
        for nextHeader: UInt8 in [0, 43, 44, 60] {
            try assertPassed(Frames.ipv6(dst: portMAC, from: Frames.v6([0xfd00, 1, 0, 0, 0, 0, 0, 2]),
                                         to: Frames.v6([0xfd00, 2, 0, 0, 0, 0, 0, 2]), nextHeader: nextHeader),
                             as: .ipOptions)
        }
    }

    func testSpecialAddressesGoToTheKernel() throws {
        for (source, destination) in [([10, 1, 0, 2], [224, 0, 0, 5]), ([10, 1, 0, 2], [255, 255, 255, 255]),
                                      ([127, 0, 0, 1], [10, 2, 0, 2]), ([0, 0, 0, 0], [10, 2, 0, 2]),
                                      ([169, 254, 1, 1], [10, 2, 0, 2]), ([10, 1, 0, 2], [169, 254, 9, 9])] as [([UInt8], [UInt8])] {
            try assertPassed(Frames.ipv4(dst: portMAC, from: source, to: destination), as: .specialAddress)
        }
        let global = Frames.v6([0xfd00, 1, 0, 0, 0, 0, 0, 2])
        for special in [[0xfe80, 0, 0, 0, 0, 0, 0, 1], [0xff02, 0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 1],
                        [0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0002]] as [[UInt16]] {
            try assertPassed(Frames.ipv6(dst: portMAC, from: global, to: Frames.v6(special)), as: .specialAddress)
            try assertPassed(Frames.ipv6(dst: portMAC, from: Frames.v6(special), to: global), as: .specialAddress)
        }
    }

    func testSteppingAsideHandsEverythingToTheKernel() throws {
        var config = ff_config()
        config.flags = UInt32(FF_CONFIG_STEP_ASIDE)
        try program.maps.config.update(UInt32(0), config)
        try assertPassed(Frames.ipv4(dst: portMAC), as: .steppedAside)
    }

    func testUnknownIngressPortIsCountedAndPassed() throws {
        try program.maps.portInfo.delete(UInt32(1))
        let run = try XDPTestRun.run(programFD: program.programFD, frame: Frames.ipv4(dst: portMAC), ingressIfindex: 1)
        XCTAssertEqual(run.action, .pass)
        let unknown = program.maps.readCounters().first { $0.ifindex == 0 }!
        XCTAssertEqual(unknown[.unknownPort].packets, 1)
    }
}
