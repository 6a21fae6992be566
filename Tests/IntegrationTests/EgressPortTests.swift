import CFastPath
import FibfastCore
import XCTest

/// Which egress ports the program redirects to, decided from the flags the
/// agent writes for each port: a redirect that cannot succeed is never made
/// (the frame would be lost), and a port handed to the kernel gets nothing.
/// BPF_PROG_TEST_RUN inside a lab router, so the FIB answers are real.
final class EgressPortTests: XCTestCase {
    func testARedirectIsMadeOnlyWhereTheFrameCanLeave() throws {
        let lab = try Lab(self)
        let p0 = try lab.ifindex("p0"), p1 = try lab.ifindex("p1")
        let p0MAC = try lab.mac(.rtr, "p0")
        let frame = RawFrames.udp4(ethDst: p0MAC, ethSrc: try lab.mac(.src, "eth0"), src: "10.1.0.2", dst: "10.2.0.2")
        let transmit = UInt16(FF_PORT_XDP_TRANSMIT), generic = UInt16(FF_PORT_GENERIC)
        let aside = UInt16(FF_PORT_STEPPED_ASIDE)
        // (ingress flags, egress flags, expected action, the verdict counted on p0)
        let cases: [(UInt16, UInt16, XDPAction, Verdict, String)] = [
            (0, transmit, .redirect, .forwarded, "egress takes XDP redirects"),
            (0, 0, .pass, .noXDPTransmit, "egress has no XDP transmit path, native ingress"),
            (generic, 0, .redirect, .forwarded, "generic ingress sends through the egress port's own transmit"),
            (transmit, 0, .pass, .noXDPTransmit, "the ingress port's own capability does not count"),
            (0, transmit | aside, .pass, .steppedAside, "egress port handed to the kernel (tc)"),
            (aside, transmit, .pass, .steppedAside, "ingress port handed to the kernel (tc)"),
        ]
        try ThreadInNamespace.run(in: lab.namespace(.rtr)) {
            let program = try FastPathProgram.load()
            try program.maps.config.update(0, ff_config())
            for (ingressFlags, egressFlags, action, verdict, what) in cases {
                for (slot, (ifindex, mac, flags)) in [(p0, p0MAC, ingressFlags), (p1, try lab.mac(.rtr, "p1"), egressFlags)].enumerated() {
                    var info = ff_port_info()
                    withUnsafeMutableBytes(of: &info.mac) { $0.copyBytes(from: mac) }
                    info.flags = UInt16(FF_PORT_ENABLED) | flags
                    info.slot = UInt32(slot)
                    try program.maps.setPort(ifindex, info)
                    try program.maps.ports.update(ifindex, ifindex)
                }
                let before = program.maps.readCounters().first { $0.ifindex == p0 }?[verdict].packets ?? 0
                let run = try XDPTestRun.run(programFD: program.programFD, frame: frame, ingressIfindex: p0)
                let after = program.maps.readCounters().first { $0.ifindex == p0 }?[verdict].packets ?? 0
                XCTAssertEqual(run.action, action, what)
                XCTAssertEqual(after - before, 1, "\(what): counted as \(verdict)")
                if action == .pass { XCTAssertEqual(run.frame, frame, "\(what): passed untouched") }
            }
        }
    }
}
