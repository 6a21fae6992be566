import FibfastCore
import XCTest

/// The decision on kernels without XDP feature flags (before 6.3), from a
/// device's kind and driver: only what is known to transmit counts.
final class XDPTransmitDecisionTests: XCTestCase {
    func testOnlyKnownTransmittersCount() {
        XCTAssertEqual(XDPTransmit.decide(kind: nil, driver: "ixgbe", vethPeerRunsXDP: nil),
                       .supported(because: "driver ixgbe"))
        XCTAssertEqual(XDPTransmit.decide(kind: nil, driver: "virtio_net", vethPeerRunsXDP: nil),
                       .supported(because: "driver virtio_net"))
        for (kind, driver) in [("vlan", "802.1Q VLAN Support"), ("macvlan", "macvlan"), ("bridge", "bridge"),
                               ("bond", "bonding"), ("vxlan", "vxlan")] {
            XCTAssertEqual(XDPTransmit.decide(kind: kind, driver: driver, vethPeerRunsXDP: nil),
                           .unsupported(because: "\(kind) devices have no XDP transmit path"))
        }
        let unknown = XDPTransmit.decide(kind: nil, driver: "r8169", vethPeerRunsXDP: nil)
        XCTAssertFalse(unknown.isSupported)
        XCTAssertTrue("\(unknown)".contains("driver r8169 is not known") && "\(unknown)".contains("--xdp-transmit PORT"))
    }

    func testAVethCountsOnlyWithAnXDPPeer() {
        XCTAssertEqual(XDPTransmit.decide(kind: "veth", driver: "veth", vethPeerRunsXDP: true),
                       .supported(because: "its veth peer runs XDP"))
        XCTAssertFalse(XDPTransmit.decide(kind: "veth", driver: "veth", vethPeerRunsXDP: false).isSupported)
        XCTAssertFalse(XDPTransmit.decide(kind: "veth", driver: "veth", vethPeerRunsXDP: nil).isSupported)
    }
}
