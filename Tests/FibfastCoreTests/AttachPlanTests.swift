import FibfastCore
import XCTest

final class AttachPlanTests: XCTestCase {
    let root = Privileges(effective: ~0)
    let links = [
        Link(name: "lo", ifindex: 1, mac: [0, 0, 0, 0, 0, 0], linkType: 772, flags: 0x49, mtu: 65536),
        Link(name: "eth0", ifindex: 2, mac: [2, 0, 0, 0, 0, 1], linkType: 1, flags: 0x1043, mtu: 1500),
        Link(name: "eth1", ifindex: 3, mac: [2, 0, 0, 0, 0, 2], linkType: 1, flags: 0x1043, mtu: 1500),
        Link(name: "tun0", ifindex: 4, mac: [], linkType: 65534, flags: 0x1043, mtu: 1500),
    ]
    let v4 = [InterfaceAddress(ifindex: 2, family: .ipv4, bytes: [10, 0, 0, 1], prefixLength: 24)]
    let v6LinkLocal = [InterfaceAddress(ifindex: 2, family: .ipv6, bytes: [0xfe, 0x80] + Array(repeating: 0, count: 13) + [1], prefixLength: 64)]

    func plan(_ ports: [String], privileges: Privileges? = nil, addresses: [InterfaceAddress]? = nil,
              enable: Bool = false, sysctls: [String: String] = [:]) throws(FibfastError) -> AttachPlan {
        try AttachPlan.make(AttachRequest(ports: ports, enableForwarding: enable),
                            privileges: privileges ?? root, links: links,
                            addresses: addresses ?? v4, sysctl: { sysctls[$0] ?? "1" })
    }

    func assertRefused(_ expected: FibfastError, _ body: () throws(FibfastError) -> AttachPlan,
                       file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("accepted, expected \(expected)", file: file, line: line)
        } catch {
            XCTAssertEqual(error, expected, file: file, line: line)
        }
    }

    func testAcceptsTwoEthernetPorts() throws {
        let result = try plan(["eth0", "eth1"])
        XCTAssertEqual(result.ports.map(\.ifindex), [2, 3])
        XCTAssertEqual(result.forwardingToEnable, [])
    }

    func testRefusesKernelsOlderThanTheMinimum() throws {
        func plan(kernel release: String) throws(FibfastError) -> AttachPlan {
            try AttachPlan.make(AttachRequest(ports: ["eth0", "eth1"]), privileges: root, links: links,
                                addresses: v4, sysctl: { _ in "1" }, kernel: KernelVersion(release: release))
        }
        assertRefused(.kernelTooOld(running: "5.15.0-91-generic", minimum: "5.16")) { () throws(FibfastError) in
            try plan(kernel: "5.15.0-91-generic")
        }
        assertRefused(.kernelTooOld(running: "4.19.0-27-amd64", minimum: "5.16")) { () throws(FibfastError) in
            try plan(kernel: "4.19.0-27-amd64")
        }
        XCTAssertNoThrow(try plan(kernel: "5.16.0"))
        XCTAssertNoThrow(try plan(kernel: "6.1.0-28-amd64"))
        XCTAssertNoThrow(try plan(kernel: "6.18.44-fc-v1098"))
        XCTAssertNil(KernelVersion(release: "unknown"))
        XCTAssertEqual(FibfastError.kernelTooOld(running: "5.10.0", minimum: "5.16").description,
                       "this kernel (5.10.0) is older than fibfast needs (Linux 5.16: managed neighbour entries); the router keeps forwarding through the kernel")
    }

    func testRefusesBadPortLists() {
        assertRefused(.tooFewPorts(given: 1)) { () throws(FibfastError) in try plan(["eth0"]) }
        assertRefused(.duplicatePort("eth0")) { () throws(FibfastError) in try plan(["eth0", "eth0"]) }
        assertRefused(.unknownPort("eth9")) { () throws(FibfastError) in try plan(["eth0", "eth9"]) }
        assertRefused(.loopbackPort("lo")) { () throws(FibfastError) in try plan(["eth0", "lo"]) }
        assertRefused(.notEthernet(port: "tun0", linkType: 65534)) { () throws(FibfastError) in try plan(["eth0", "tun0"]) }
    }

    /// Slot 255 is the "unknown port" counter row: a 256th port would
    /// count there, and a 257th would not fit the port maps at all.
    func testRefusesMorePortsThanCounterRows() throws {
        func ports(_ count: Int) -> [Link] {
            (0..<count).map { i in
                Link(name: "sw\(i)", ifindex: UInt32(10 + i), mac: [2, 0, 0, 0, UInt8(i >> 8), UInt8(i & 0xff)],
                     linkType: 1, flags: 0x1043, mtu: 1500)
            }
        }
        func plan(_ count: Int) throws(FibfastError) -> AttachPlan {
            let links = ports(count)
            return try AttachPlan.make(AttachRequest(ports: links.map(\.name)), privileges: root, links: links,
                                       addresses: [], sysctl: { _ in "1" })
        }
        XCTAssertEqual(AttachPlan.maxPorts, 255)
        XCTAssertEqual(try plan(255).ports.count, 255)
        for count in [256, 257, 300] {
            assertRefused(.tooManyPorts(given: count, limit: 255)) { () throws(FibfastError) in try plan(count) }
        }
        let text = FibfastError.tooManyPorts(given: 256, limit: 255).description
        XCTAssertTrue(text.contains("at most 255 ports") && text.contains("256 given"), text)
    }

    func testRefusesWithoutCapabilities() {
        assertRefused(.notPrivileged(missing: ["CAP_NET_ADMIN", "CAP_BPF", "CAP_PERFMON"])) { () throws(FibfastError) in
            try plan(["eth0", "eth1"], privileges: Privileges(effective: 0))
        }
        // The verifier refuses the program to a loader with CAP_BPF alone.
        assertRefused(.notPrivileged(missing: ["CAP_PERFMON"])) { () throws(FibfastError) in
            try plan(["eth0", "eth1"], privileges: Privileges(effective: (1 << 12) | (1 << 39)))
        }
        // CAP_NET_ADMIN + CAP_BPF + CAP_PERFMON is enough without root (the systemd unit's set).
        let unitSet = Privileges(effective: (1 << 12) | (1 << 39) | (1 << 38))
        XCTAssertNoThrow(try plan(["eth0", "eth1"], privileges: unitSet))
        // CAP_SYS_ADMIN covers CAP_BPF and CAP_PERFMON.
        XCTAssertNoThrow(try plan(["eth0", "eth1"], privileges: Privileges(effective: (1 << 12) | (1 << 21))))
    }

    func testForwardingMustBeOnForFamiliesInUse() throws {
        assertRefused(.forwardingDisabled(family: .ipv4, sysctl: "net.ipv4.ip_forward")) { () throws(FibfastError) in
            try plan(["eth0", "eth1"], sysctls: ["net.ipv4.ip_forward": "0"])
        }
        // IPv6 off does not matter when no port has a routable IPv6 address.
        XCTAssertNoThrow(try plan(["eth0", "eth1"], addresses: v4 + v6LinkLocal,
                                  sysctls: ["net.ipv6.conf.all.forwarding": "0"]))
        let enabled = try plan(["eth0", "eth1"], enable: true, sysctls: ["net.ipv4.ip_forward": "0"])
        XCTAssertEqual(enabled.forwardingToEnable, [.ipv4])
    }

    func testErrorsTellTheOperatorWhatToDo() {
        XCTAssertTrue(FibfastError.forwardingDisabled(family: .ipv4, sysctl: "net.ipv4.ip_forward")
            .description.contains("--enable-forwarding"))
        XCTAssertTrue(FibfastError.portBusy(port: "eth0", program: "xdp_pass", id: 7)
            .description.contains("--force"))
        XCTAssertTrue(FibfastError.unknownPort("eth9").description.contains("eth9"))
    }
}

extension AttachPlanTests {
    /// A VRF device looks like an Ethernet port (it has a MAC address), but
    /// no frame arrives on it or leaves by it: its members are the ports.
    func testRefusesAVRFDeviceAndNamesItsMembers() {
        var vrf = Link(name: "red", ifindex: 5, mac: [2, 0, 0, 0, 0, 5], linkType: 1, flags: 0x1043, mtu: 65575)
        vrf.kind = "vrf"
        var member = links[1]
        member.master = 5
        member.masterKind = "vrf"
        let all = [links[0], member, links[2], vrf]
        XCTAssertEqual(member.vrf, 5)
        XCTAssertEqual(links[2].vrf, 0)
        for (ports, members) in [(["red", "eth1"], ["eth0"]), (["eth1", "red"], ["eth0"])] {
            do {
                _ = try AttachPlan.make(AttachRequest(ports: ports), privileges: root, links: all,
                                        addresses: v4, sysctl: { _ in "1" }, kernel: nil)
                XCTFail("accepted a VRF device as a port")
            } catch {
                XCTAssertEqual(error, .vrfDevicePort("red", members: members))
                XCTAssertEqual(error.description, "port red is a VRF device; name the ports enslaved to it instead (eth0), whose lookups fibfast makes in red's table")
            }
        }
        // A bond's member is enslaved too, but to no VRF.
        member.masterKind = "bond"
        XCTAssertEqual(member.vrf, 0)
    }
}
