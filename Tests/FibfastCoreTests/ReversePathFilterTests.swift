import CFastPath
import FibfastCore
import XCTest

final class ReversePathFilterTests: XCTestCase {
    func testEffectiveValueIsTheLargerOfAllAndPort() {
        XCTAssertEqual(ReversePathFilter.effective(all: "0", port: "0"), .off)
        XCTAssertEqual(ReversePathFilter.effective(all: "1", port: "0"), .strict)
        XCTAssertEqual(ReversePathFilter.effective(all: "0", port: "1"), .strict)
        XCTAssertEqual(ReversePathFilter.effective(all: "2", port: "1"), .loose)
        XCTAssertEqual(ReversePathFilter.effective(all: "1", port: "2"), .loose)
    }

    func testUnreadableValuesAreCheckedNotIgnored() {
        XCTAssertEqual(ReversePathFilter.effective(all: nil, port: "0"), .loose)
        XCTAssertEqual(ReversePathFilter.effective(all: "0", port: "7"), .loose)
    }

    func testPortFlags() {
        XCTAssertEqual(ReversePathFilter.off.portFlags(portHasIPv4Address: true), 0)
        XCTAssertEqual(ReversePathFilter.strict.portFlags(portHasIPv4Address: true), UInt16(FF_PORT_RPF_STRICT))
        XCTAssertEqual(ReversePathFilter.loose.portFlags(portHasIPv4Address: true), UInt16(FF_PORT_RPF_LOOSE))
        // Without an IPv4 address the kernel's loose check becomes strict.
        XCTAssertEqual(ReversePathFilter.loose.portFlags(portHasIPv4Address: false), UInt16(FF_PORT_RPF_STRICT))
    }
}

extension ReversePathFilterTests {
    /// The port's own setting and conf.all, read by sysctl name: a VLAN
    /// port's dot is part of its directory, not a level.
    func testReadsThePortsSettingAndAll() {
        let settings = ["net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.eth0/100.rp_filter": "1",
                        "net.ipv4.conf.eth1.rp_filter": "0"]
        XCTAssertEqual(ReversePathFilter.current(port: "eth0.100") { settings[$0] }, .strict)
        XCTAssertEqual(ReversePathFilter.current(port: "eth1") { settings[$0] }, .off)
        XCTAssertEqual(ReversePathFilter.current(port: "gone") { settings[$0] }, .loose, "unreadable: checked")
    }
}
