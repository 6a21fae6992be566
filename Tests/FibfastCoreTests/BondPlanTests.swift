import FibfastCore
import XCTest

/// Which bonds attach: the modes the kernel runs XDP in (bond_xdp_check),
/// without vlan+srcmac hashing and the ARP monitor; never a bond's slave.
final class BondPlanTests: XCTestCase {
    let root = Privileges(effective: ~0)

    func links(bondMaster: UInt32 = 0) -> [Link] {
        var bond = Link(name: "bond0", ifindex: 2, mac: [2, 0, 0, 0, 0, 1], linkType: 1, flags: 0x1043, mtu: 1500)
        bond.kind = "bond"
        var slave = Link(name: "eth2", ifindex: 3, mac: [2, 0, 0, 0, 0, 1], linkType: 1, flags: 0x1843, mtu: 1500)
        slave.master = 2
        let eth1 = Link(name: "eth1", ifindex: 4, mac: [2, 0, 0, 0, 0, 2], linkType: 1, flags: 0x1043, mtu: 1500)
        return [bond, slave, eth1]
    }

    func plan(_ ports: [String], bond: Bond, xdpTransmit: [String] = []) throws(FibfastError) -> AttachPlan {
        try AttachPlan.make(AttachRequest(ports: ports, xdpTransmit: xdpTransmit), privileges: root, links: links(),
                            addresses: [], sysctl: { _ in "1" }, bond: { link, _ in link.kind == "bond" ? bond : nil })
    }

    func testServableModesAttach() throws {
        for (mode, hash) in [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2), (4, 1), (4, 0)] as [(UInt8, UInt8)] {
            XCTAssertNoThrow(try plan(["bond0", "eth1"], bond: Bond(mode: mode, hashPolicy: hash)), "mode \(mode) hash \(hash)")
        }
        // A slave may be vouched for, as redirects to the bond leave by it.
        XCTAssertNoThrow(try plan(["bond0", "eth1"], bond: Bond(mode: 1), xdpTransmit: ["eth2"]))
    }

    func testModesWithoutXDPAreRefusedNamingTheMode() {
        for (mode, name) in [(3, "broadcast"), (5, "balance-tlb"), (6, "balance-alb")] as [(UInt8, String)] {
            do {
                _ = try plan(["bond0", "eth1"], bond: Bond(mode: mode))
                XCTFail("\(name) accepted")
            } catch {
                guard case .bondNotServable(let port, let named, let reason) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(port, "bond0")
                XCTAssertEqual(named, name)
                XCTAssertTrue(reason.contains("change the mode"), reason)
            }
        }
    }

    func testVLANSourceMACHashAndARPMonitoringAreRefused() {
        XCTAssertThrowsError(try plan(["bond0", "eth1"], bond: Bond(mode: 4, hashPolicy: 5)))
        XCTAssertThrowsError(try plan(["bond0", "eth1"], bond: Bond(mode: 1, arpInterval: 100)))
        // Round robin and active-backup do not hash: the policy does not matter there.
        XCTAssertNoThrow(try plan(["bond0", "eth1"], bond: Bond(mode: 1, hashPolicy: 5)))
    }

    func testASlaveIsNoPort() {
        XCTAssertThrowsError(try plan(["eth2", "eth1"], bond: Bond(mode: 1))) { error in
            XCTAssertEqual(error as? FibfastError, .bondMember(port: "eth2", bond: "bond0"))
        }
    }
}
