import FibfastCore
import Foundation
import XCTest

/// Every way an operator can point fibfast at the wrong thing: a clear
/// message naming it, a non-zero exit, and no XDP program left on any port.
final class BadInputTests: XCTestCase {
    func assertRefused(_ lab: Lab, _ arguments: [String], naming expected: [String],
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let (status, message) = try lab.attachRefused(arguments)
        XCTAssertNotEqual(status, 0, "\(arguments) must fail", file: file, line: line)
        for text in expected {
            XCTAssertTrue(message.contains(text), "\(arguments): message lacks '\(text)': \(message)",
                          file: file, line: line)
        }
        XCTAssertFalse(message.contains("fast path running"), file: file, line: line)
        XCTAssertEqual(try lab.portsWithXDP(), [], "\(arguments) left XDP attached", file: file, line: line)
    }

    func testInterfacesThatCannotBePorts() throws {
        let lab = try Lab(self, warm: false)
        XCTAssertTrue(try lab.exec(.rtr, ["ip", "tuntap", "add", "dev", "tun0", "mode", "tun"]).succeeded)
        XCTAssertTrue(try lab.exec(.rtr, ["ip", "link", "set", "tun0", "up"]).succeeded)

        try assertRefused(lab, ["p0", "nosuch0"], naming: ["nosuch0", "does not exist"])
        // eth0 exists, but in the src namespace: from here it does not.
        try assertRefused(lab, ["p0", "eth0"], naming: ["eth0", "this network namespace"])
        try assertRefused(lab, ["p0", "lo"], naming: ["lo", "loopback"])
        try assertRefused(lab, ["p0", "tun0"], naming: ["tun0", "no Ethernet framing"])
        try assertRefused(lab, ["p0"], naming: ["at least two ports"])
        try assertRefused(lab, ["p0", "p0"], naming: ["p0", "more than once"])
    }

    func testMalformedOptionValues() throws {
        let lab = try Lab(self, warm: false)
        try assertRefused(lab, ["p0", "p1", "--mode", "turbo"], naming: ["--mode", "turbo"])
        try assertRefused(lab, ["p0", "p1", "--no-such-option"], naming: ["--no-such-option"])
    }

    func testADriverWithoutNativeXDPLeavesNoPortHalfAttached() throws {
        let lab = try Lab(self, warm: false)
        // macvlan has no native XDP; p0 (veth) does, and is attached first.
        XCTAssertTrue(try lab.exec(.rtr, ["ip", "link", "add", "mv0", "link", "p1", "type", "macvlan"]).succeeded)
        XCTAssertTrue(try lab.exec(.rtr, ["ip", "link", "set", "mv0", "up"]).succeeded)
        try assertRefused(lab, ["p0", "mv0", "--mode", "native"], naming: ["mv0", "native", "--mode generic"])
    }

    /// Without root, legacy iptables tables cannot be listed: not knowing
    /// the firewall is a reason to refuse, not to attach past it.
    func testAFirewallThatCannotBeReadIsRefused() throws {
        let lab = try Lab(self, warm: false)
        // A legacy filter table in the router's namespace (no rules).
        XCTAssertTrue(try lab.exec(.rtr, ["iptables-legacy", "-L", "-n"]).succeeded)
        let caps = "+net_admin,+bpf,+perfmon,+net_raw"
        // timeout: were the firewall ignored, attach would run until stopped.
        let result = try lab.exec(.rtr, ["timeout", "10", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                         "--inh-caps=\(caps)", "--ambient-caps=\(caps)",
                                         Command.fibfast, "attach", "p0", "p1"])
        XCTAssertNotEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("/proc/net/ip_tables_names"), result.stderr)
        XCTAssertEqual(try lab.portsWithXDP(), [])
    }

    func testTwoAgentsOnTheSamePort() throws {
        let lab = try Lab(self, warm: false)
        let first = try lab.attach()
        let before = try lab.portsWithXDP()
        let (status, message) = try lab.attachRefused(["p1", "p0"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(message.contains("already served by a fibfast agent (pid"), message)
        XCTAssertTrue(first.isRunning, "the first agent must be left alone")
        XCTAssertEqual(try lab.portsWithXDP(), before)
        try first.stop()
        XCTAssertEqual(try lab.portsWithXDP(), [])
    }

    /// The binary loads only its embedded object, so a kernel that rejects
    /// it is shown with a deliberately broken build of the same program,
    /// loaded through the same code path.
    func testAVerifierRejectionShowsTheVerifiersReason() throws {
        try Lab.requireRoot()
        let object = try BPFSource.compile("""
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            SEC("xdp")
            int fibfast_xdp(struct xdp_md *ctx)
            {
                unsigned char *data = (void *)(long)ctx->data;
                /* No bounds check against data_end: the verifier must say no. */
                return data[20] == 1 ? XDP_DROP : XDP_PASS;
            }
            char _license[] SEC("license") = "GPL";
            """, name: "broken", test: self)

        XCTAssertThrowsError(try FastPathProgram.load(object: Array(try Data(contentsOf: URL(fileURLWithPath: object))))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("the kernel refused the fast-path program"), text)
            XCTAssertTrue(text.contains("verifier: ") && text.contains("invalid access to packet"), text)
            XCTAssertTrue(text.contains("keeps forwarding through the kernel"), text)
            print(text)
        }
    }
}
