import CFastPath
@testable import FibfastCore
import Glibc
import Logging
import XCTest

/// What the fast path knows of each port, as the port table writes it: every
/// entry built whole from the table's own state (link, slot, rp_filter, tc,
/// transmit, attach mode), ports following their devices up, down, deleted
/// and created again, and the devices behind VLAN and bond ports. The kernel
/// side is a stand-in that holds the maps and records attaches.
final class PortTableTests: XCTestCase {
    final class Kernel: PortKernel {
        var entries: [UInt32: ff_port_info] = [:]
        var redirects: Set<UInt32> = []
        /// ff_vlans by "lower/vid", holding the VLAN port's ifindex.
        var vlans: [String: UInt32] = [:]
        var egress: [UInt32: UInt32] = [:]
        /// Programs someone else attached, by ifindex.
        var foreign: [UInt32: XDPAttachment] = [:]
        var attached: [String] = []
        var bonds: [UInt32: Bond] = [:]
        var cannotTransmit: Set<String> = []
        var entryReads = 0

        func portEntry(_ ifindex: UInt32) -> ff_port_info? {
            entryReads += 1
            return entries[ifindex]
        }
        func setPort(_ ifindex: UInt32, _ info: ff_port_info) throws { entries[ifindex] = info }
        func removePort(_ ifindex: UInt32) throws { entries[ifindex] = nil }
        func allowRedirects(to ifindex: UInt32) throws { redirects.insert(ifindex) }
        func refuseRedirects(to ifindex: UInt32) throws { redirects.remove(ifindex) }
        var servesVLANs: Bool { true }
        func setVLAN(_ key: ff_vlan_key, _ arrival: ff_vlan_arrival) throws {
            XCTAssertEqual(key.proto, UInt16(0x8100).bigEndian)
            vlans["\(key.ifindex)/\(key.vid)"] = arrival.ifindex
        }
        func removeVLAN(_ key: ff_vlan_key) throws { vlans["\(key.ifindex)/\(key.vid)"] = nil }
        func setVLANEgress(slot: UInt32, _ word: UInt32) throws { egress[slot] = word }
        func xdpProgram(on ifindex: UInt32) throws -> XDPAttachment? { foreign[ifindex] }
        func attach(port: String, ifindex: UInt32, mode: XDPMode) throws -> XDPLink {
            attached.append(port)
            return PortTableTests.link(port, ifindex, mode)
        }
        func bond(_ port: Link) throws -> Bond {
            guard let bond = bonds[port.ifindex] else { throw Errno(EIO) }
            return bond
        }
        func transmit(_ device: Link, assumed: Bool, assumedSlaves: Set<String>) -> XDPTransmit {
            if assumed { return .supported(because: "--xdp-transmit") }
            return cannotTransmit.contains(device.name) ? .unsupported(because: "test") : .supported(because: "test")
        }
        func checkTagsReachXDP(_ device: Link, links: [Link]) throws {}
        var transmitSource: String { "test" }
        var transmitChangeGroup: (family: UInt16, group: UInt32)? { nil }
    }

    static func link(_ port: String, _ ifindex: UInt32, _ mode: XDPMode) -> XDPLink {
        XDPLink(port: port, ifindex: ifindex, mode: mode == .auto ? .native : mode,
                descriptor: OwnedDescriptor(open("/dev/null", O_RDONLY)))
    }

    func device(_ name: String, _ ifindex: UInt32, up: Bool = true, kind: String? = "veth") -> Link {
        var link = Link(name: name, ifindex: ifindex, mac: [2, 0, 0, 0, 0, UInt8(ifindex)], linkType: 1,
                        flags: up ? UInt32(IFF_UP | IFF_RUNNING) : 0, mtu: 1500)
        link.kind = kind
        return link
    }

    func table(_ names: [String], _ kernel: Kernel, mode: XDPMode = .native,
               assumedTransmit: Set<String> = []) -> PortTable {
        PortTable(names: names, kernel: kernel, mode: mode,
                  logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, assumedTransmit: assumedTransmit)
    }

    /// Attaches as the agent's start does: entries first, then links.
    func start(_ table: PortTable, _ links: [Link], mode: XDPMode = .native) throws {
        try table.configure(links)
        for link in links where table.names.contains(link.name) && link.vlan == nil {
            table.adopt(Self.link(link.name, link.ifindex, mode))
        }
        try table.attachLowers()
    }

    func flags(_ kernel: Kernel, _ ifindex: UInt32) -> UInt16? { kernel.entries[ifindex]?.flags }

    func testEveryPortHasAWholeEntryBeforeAnyIsAttached() throws {
        let kernel = Kernel()
        let table = table(["a", "b", "c"], kernel)
        try table.configure([device("a", 2), device("b", 3, up: false), device("c", 4)])
        XCTAssertEqual(kernel.attached, [], "configure attaches nothing")
        let a = try XCTUnwrap(kernel.entries[2])
        XCTAssertEqual(a.slot, 0)
        XCTAssertEqual(withUnsafeBytes(of: a.mac) { Array($0) }, [2, 0, 0, 0, 0, 2])
        XCTAssertEqual(a.flags, UInt16(FF_PORT_ENABLED | FF_PORT_XDP_TRANSMIT))
        XCTAssertEqual(kernel.entries[3]?.slot, 1)
        XCTAssertEqual(flags(kernel, 3), UInt16(FF_PORT_XDP_TRANSMIT), "a port that is down is listed, not enabled")
        XCTAssertEqual(kernel.entries[4]?.slot, 2)
        XCTAssertEqual(kernel.redirects, [2, 4], "only ports that are up take redirects")
        XCTAssertFalse(table.isEnabled(ifindex: 3))
        XCTAssertEqual(table.name(ifindex: 4), "c")
    }

    /// The agent's decisions (rp_filter, tc, attach mode) all end up in the
    /// one entry, and a rewrite for one reason keeps the others: the table
    /// builds the entry from what it holds, never from what the map says.
    func testEachRewriteCarriesEveryDecisionWithoutReadingTheMap() throws {
        let kernel = Kernel()
        let table = table(["a", "b"], kernel, mode: .generic)
        try start(table, [device("a", 2), device("b", 3)], mode: .generic)
        let reads = kernel.entryReads
        table.setReversePath(ifindex: 2, flags: UInt16(FF_PORT_RPF_STRICT))
        table.setTrafficControl(port: "a", [TrafficControlFinding(port: "a", what: "qdisc tbf (root)")])
        kernel.entries[2]?.flags |= 0x8000  // a bit nobody decided: must not survive
        var renumbered = device("a", 2)
        renumbered.mtu = 9000
        table.update(renumbered)
        XCTAssertEqual(flags(kernel, 2), UInt16(FF_PORT_ENABLED | FF_PORT_XDP_TRANSMIT | FF_PORT_GENERIC
                                                | FF_PORT_RPF_STRICT | FF_PORT_STEPPED_ASIDE))
        table.setTrafficControl(port: "a", [])
        XCTAssertEqual(flags(kernel, 2), UInt16(FF_PORT_ENABLED | FF_PORT_XDP_TRANSMIT | FF_PORT_GENERIC | FF_PORT_RPF_STRICT))
        XCTAssertEqual(kernel.entryReads, reads, "nothing read back after the start")
    }

    /// An adopted fast path (--keep-on-exit) keeps each port's counter row;
    /// new ports take the rows left free.
    func testAnAdoptedFastPathKeepsItsCounterSlots() throws {
        let kernel = Kernel()
        var kept = ff_port_info()
        kept.slot = 0
        kernel.entries[3] = kept
        let table = table(["a", "b"], kernel)
        try table.configure([device("a", 2), device("b", 3)])
        XCTAssertEqual(kernel.entries[3]?.slot, 0, "b keeps its row")
        XCTAssertEqual(kernel.entries[2]?.slot, 1, "a takes the first free one")
    }

    func testAPortGoingDownLeavesTheFastPathAndComesBack() throws {
        let kernel = Kernel()
        let table = table(["a", "b"], kernel)
        try start(table, [device("a", 2), device("b", 3)])
        XCTAssertTrue(table.update(device("b", 3, up: false)), "reachability changed")
        XCTAssertEqual(flags(kernel, 3), UInt16(FF_PORT_XDP_TRANSMIT))
        XCTAssertEqual(kernel.redirects, [2])
        XCTAssertFalse(table.update(device("b", 3, up: false)), "no change, nothing to report")
        XCTAssertTrue(table.update(device("b", 3)))
        XCTAssertEqual(flags(kernel, 3), UInt16(FF_PORT_ENABLED | FF_PORT_XDP_TRANSMIT))
        XCTAssertEqual(kernel.redirects, [2, 3])
    }

    func testAPortThatCannotTransmitIsForwardedToByTheKernel() throws {
        let kernel = Kernel()
        kernel.cannotTransmit = ["a", "b"]
        let table = table(["a", "b"], kernel, assumedTransmit: ["b"])
        try start(table, [device("a", 2), device("b", 3)])
        XCTAssertEqual(flags(kernel, 2), UInt16(FF_PORT_ENABLED))
        XCTAssertEqual(table.transmit(ifindex: 2)?.isSupported, false)
        XCTAssertEqual(flags(kernel, 3), UInt16(FF_PORT_ENABLED | FF_PORT_XDP_TRANSMIT), "--xdp-transmit wins")
        kernel.cannotTransmit = []
        table.recheckTransmit()
        XCTAssertEqual(flags(kernel, 2), UInt16(FF_PORT_ENABLED | FF_PORT_XDP_TRANSMIT))
    }

    /// A port deleted and created again is a new device: attached again,
    /// in its old counter row.
    func testADeletedPortIsAttachedAgainWhenItComesBack() throws {
        let kernel = Kernel()
        let table = table(["a", "b"], kernel)
        try start(table, [device("a", 2), device("b", 3)])
        XCTAssertTrue(table.remove(ifindex: 3))
        XCTAssertNil(kernel.entries[3])
        XCTAssertEqual(kernel.redirects, [2])
        XCTAssertFalse(table.remove(ifindex: 9), "not a port")
        XCTAssertTrue(table.update(device("b", 7)))
        XCTAssertEqual(kernel.attached, ["b"])
        XCTAssertEqual(kernel.entries[7]?.slot, 1)
        XCTAssertEqual(table.attachedIfindexes, [2, 7])
    }

    func testAPortThatComesBackWithAnotherProgramIsLeftAlone() throws {
        let kernel = Kernel()
        let table = table(["a"], kernel)
        try start(table, [device("a", 2)])
        table.remove(ifindex: 2)
        kernel.foreign[8] = XDPAttachment(programID: 99, mode: .native)
        table.update(device("a", 8))
        XCTAssertEqual(kernel.attached, [])
        XCTAssertNil(kernel.entries[8])
        XCTAssertEqual(table.attachedIfindexes, [])
    }

    func testARenamedPortLeavesTheFastPath() throws {
        let kernel = Kernel()
        let table = table(["a"], kernel)
        try start(table, [device("a", 2)])
        XCTAssertTrue(table.update(device("z", 2)))
        XCTAssertNil(kernel.entries[2])
        XCTAssertEqual(kernel.redirects, [])
        XCTAssertEqual(table.attachedIfindexes, [])
    }

    /// A VLAN port's frames arrive on and leave by its lower device: the
    /// program runs there (in a row from the top), the VLAN port's entry
    /// names it and the tag, and the tag lookup exists only while both are up.
    func testAVLANPortRunsOnItsLowerDevice() throws {
        let kernel = Kernel()
        let lower = device("eth0", 2)
        var vlan = device("eth0.100", 5, kind: "vlan")
        vlan.linkIfindex = 2
        vlan.vlan = VLANLink(id: 100, egressPCP: [3: 5])
        let table = table(["eth0.100", "b"], kernel)
        table.lowers.seen([lower, vlan, device("b", 3)])
        try start(table, [vlan, device("b", 3)])
        XCTAssertEqual(kernel.attached, ["eth0"], "the program runs on the lower device, not on the VLAN device")
        let lowerEntry = try XCTUnwrap(kernel.entries[2])
        XCTAssertEqual(lowerEntry.slot, UInt32(FF_SLOT_UNKNOWN) - 1)
        XCTAssertEqual(lowerEntry.flags & UInt16(FF_PORT_ENABLED), 0, "its untagged traffic stays with the kernel")
        XCTAssertTrue(kernel.redirects.contains(2), "tagged frames leave by it")
        let entry = try XCTUnwrap(kernel.entries[5])
        XCTAssertEqual(entry.transmit_ifindex, 2)
        XCTAssertEqual(entry.vlan_id, 100)
        XCTAssertEqual(entry.vlan_proto, UInt16(0x8100).bigEndian)
        XCTAssertEqual(entry.flags & UInt16(FF_PORT_ENABLED), UInt16(FF_PORT_ENABLED))
        XCTAssertEqual(kernel.vlans, ["2/100": 5])
        XCTAssertEqual(kernel.egress[0], vlan.vlan!.egressWord)
        XCTAssertFalse(kernel.redirects.contains(5), "a VLAN device has no devmap entry of its own")

        // The lower device goes down: the VLAN port with it.
        table.update(device("eth0", 2, up: false))
        XCTAssertEqual(flags(kernel, 5).map { $0 & UInt16(FF_PORT_ENABLED) }, 0)
        XCTAssertEqual(kernel.vlans, [:], "a tagged frame of a port that is down goes to the kernel")
        table.update(lower)
        XCTAssertEqual(kernel.vlans, ["2/100": 5])

        // The VLAN port deleted: no VLAN port needs the lower device any more.
        table.remove(ifindex: 5)
        XCTAssertEqual(kernel.vlans, [:])
        XCTAssertNil(kernel.entries[2], "the lower device is let go")
        XCTAssertFalse(kernel.redirects.contains(2))
    }

    /// Native XDP on a bond runs on its members: each gets the bond's row
    /// and says whether the bond delivers what arrives on it.
    func testABondPortsMembersFollowTheBond() throws {
        let kernel = Kernel()
        let bond = device("bond0", 4, kind: "bond")
        kernel.bonds[4] = Bond(mode: 1, members: [
            .init(name: "m1", ifindex: 10, active: true, isRunning: true),
            .init(name: "m2", ifindex: 11, active: false, isRunning: true),
        ])
        let table = table(["a", "bond0"], kernel)
        try start(table, [device("a", 2), bond])
        XCTAssertEqual(kernel.entries[10]?.member_of, 4)
        XCTAssertEqual(kernel.entries[10]?.slot, 1)
        XCTAssertEqual(flags(kernel, 10), UInt16(FF_PORT_ENABLED | FF_PORT_BOND_DELIVERS))
        XCTAssertEqual(flags(kernel, 11), UInt16(FF_PORT_ENABLED), "a backup's frames go to the kernel")

        // m1 fails over to m2, then m1 leaves the bond: the kernel announces
        // both on the member.
        kernel.bonds[4]!.members = [.init(name: "m1", ifindex: 10, active: false, isRunning: false),
                                    .init(name: "m2", ifindex: 11, active: true, isRunning: true)]
        var m1 = device("m1", 10, up: false)
        m1.master = 4
        table.update(m1)
        XCTAssertEqual(flags(kernel, 10), UInt16(FF_PORT_ENABLED))
        XCTAssertEqual(flags(kernel, 11), UInt16(FF_PORT_ENABLED | FF_PORT_BOND_DELIVERS))
        kernel.bonds[4]!.members.removeFirst()
        m1.master = 0
        table.update(m1)
        XCTAssertNil(kernel.entries[10], "a member that left has no entry")

        table.remove(ifindex: 4)
        XCTAssertNil(kernel.entries[11], "the members go with their bond")
    }
}
