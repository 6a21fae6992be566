import FibfastCore
import XCTest

/// Before Linux 6.3 the kernel reports no XDP features; fibfast then decides
/// from the device's kind and driver, and for a veth from whether its peer
/// runs XDP (asked in the peer's namespace). The same code runs here on a
/// newer kernel through XDPTransmit.withoutFeatureFlags.
final class XDPTransmitWithoutFeatureFlagsTests: XCTestCase {
    func testAVethCountsOnlyWhileItsPeerRunsXDP() throws {
        let lab = try Lab(self)
        func answer() throws -> XDPTransmit {
            try ThreadInNamespace.run(in: lab.namespace(.dst)) {
                let eth0 = try XCTUnwrap(try Links.all().first { $0.name == "eth0" })
                XCTAssertNotNil(eth0.linkNamespaceID, "the peer, p1, is in the router's namespace")
                return XDPTransmit.withoutFeatureFlags(eth0)
            }
        }
        // dst's eth0 leads to the router's p1: no XDP there yet.
        let before = try answer()
        XCTAssertFalse(before.isSupported, "\(before)")
        XCTAssertTrue("\(before)".contains("--xdp-transmit"), "\(before)")
        _ = try lab.attach()
        XCTAssertEqual(try answer(), .supported(because: "its veth peer runs XDP"))
    }

    func testAMacvlanNeverCounts() throws {
        let lab = try Lab(self)
        try lab.ip("link add link p1 name mv1 type macvlan mode bridge")
        let answer = try ThreadInNamespace.run(in: lab.namespace(.rtr)) {
            XDPTransmit.withoutFeatureFlags(try XCTUnwrap(try Links.all().first { $0.name == "mv1" }))
        }
        XCTAssertEqual(answer, .unsupported(because: "macvlan devices have no XDP transmit path"))
    }
}
