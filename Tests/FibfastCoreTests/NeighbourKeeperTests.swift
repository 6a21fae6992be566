import CNetlink
@testable import FibfastCore
import Logging
import XCTest

/// What the agent does to the kernel's neighbour tables for the next hops of
/// routes through its ports: managed entries while a route needs them, its
/// own entries handed back when none does, other programs' entries left
/// alone. The kernel side is a stand-in that records every change.
final class NeighbourKeeperTests: XCTestCase {
    final class Tables: NeighbourTables {
        var entries: [NeighbourKey: Neighbour] = [:]
        var changes: [String] = []

        func get(_ address: IPAddress, ifindex: UInt32) -> Neighbour? {
            entries[NeighbourKey(address: address, ifindex: ifindex)]
        }
        func makeManaged(_ address: IPAddress, ifindex: UInt32, existing: Neighbour?) throws {
            changes.append("managed \(address)\(existing == nil ? " (new)" : "")")
        }
        func probe(_ neighbour: Neighbour) throws { changes.append("probe \(neighbour.address)") }
        func unmanage(_ neighbour: Neighbour) throws { changes.append("unmanaged \(neighbour.address)") }
        func delete(_ address: IPAddress, ifindex: UInt32) throws { changes.append("deleted \(address)") }
    }

    let port: UInt32 = 7
    let mac: [UInt8] = [2, 0, 0, 0, 0, 1]

    func keeper(_ tables: Tables, enabled: Bool = true) throws -> NeighbourKeeper {
        try NeighbourKeeper(logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
                            portName: { "p\($0)" }, portEnabled: { _ in enabled },
                            control: tables, sysctl: { _ in "30000" })
    }

    func route(_ prefix: String, via gateway: String?, on ifindex: UInt32? = nil) -> Route {
        let parts = prefix.split(separator: "/")
        let destination = IPAddress(String(parts[0]))!
        return Route(family: destination.family, destination: destination, prefixLength: UInt8(parts[1])!,
                     nexthops: [Nexthop(gateway: gateway.flatMap(IPAddress.init), ifindex: ifindex ?? port)])
    }

    func neighbour(_ address: String, _ state: Int32, managed: Bool = false, origin: UInt8 = 0) -> Neighbour {
        Neighbour(address: IPAddress(address)!, ifindex: port, lladdr: mac, state: UInt16(state),
                  managed: managed, origin: origin)
    }

    func testAGatewayGetsAManagedEntryWhileARouteNeedsIt() throws {
        let tables = Tables()
        let keeper = try keeper(tables)
        try keeper.resync(attached: [port], neighbours: []) { _ in }
        keeper.routeChanged(route("10.8.0.0/24", via: "10.2.0.1"), deleted: false)
        keeper.routeChanged(route("10.9.0.0/24", via: "10.2.0.1"), deleted: false)
        XCTAssertEqual(tables.changes, ["managed 10.2.0.1 (new)"], "one entry for the next hop of two routes")
        keeper.routeChanged(route("10.8.0.0/24", via: "10.2.0.1"), deleted: true)
        XCTAssertEqual(tables.changes.count, 1, "still needed by the other route")
        keeper.routeChanged(route("10.9.0.0/24", via: "10.2.0.1"), deleted: true)
        XCTAssertEqual(tables.changes.last, "deleted 10.2.0.1", "the entry it created goes with the last route")
        XCTAssertEqual(keeper.managedCount, 0)
    }

    func testRoutesOutsideTheFastPathAndWithoutGatewayAreIgnored() throws {
        let tables = Tables()
        let keeper = try keeper(tables)
        try keeper.resync(attached: [port], neighbours: []) { _ in }
        keeper.routeChanged(route("10.8.0.0/24", via: "10.3.0.1", on: 99), deleted: false)
        keeper.routeChanged(route("10.2.0.0/24", via: nil), deleted: false)
        XCTAssertEqual(tables.changes, [])
        XCTAssertEqual(keeper.routeCount, 0)
    }

    func testAnExistingEntryIsConvertedAndHandedBack() throws {
        let tables = Tables()
        let keeper = try keeper(tables)
        try keeper.resync(attached: [port], neighbours: [neighbour("10.2.0.1", NUD_REACHABLE)]) { add in
            add(self.route("10.8.0.0/24", via: "10.2.0.1"))
        }
        XCTAssertEqual(tables.changes, ["managed 10.2.0.1"])
        keeper.releaseAll()
        XCTAssertEqual(tables.changes.last, "unmanaged 10.2.0.1", "an entry that existed before is not deleted")
    }

    func testStaticAndForeignEntriesAreLeftAlone() throws {
        let tables = Tables()
        let keeper = try keeper(tables)
        try keeper.resync(attached: [port], neighbours: [
            neighbour("10.2.0.1", NUD_PERMANENT), neighbour("10.2.0.2", NUD_REACHABLE, origin: 186),
        ]) { add in
            add(self.route("10.8.0.0/24", via: "10.2.0.1"))
            add(self.route("10.9.0.0/24", via: "10.2.0.2"))
        }
        keeper.releaseAll()
        XCTAssertEqual(tables.changes, [])
    }

    func testManagedEntriesOfAKilledAgentAreTakenOverAndHandedBack() throws {
        let tables = Tables()
        let keeper = try keeper(tables)
        try keeper.resync(attached: [port], neighbours: [
            neighbour("10.2.0.1", NUD_REACHABLE, managed: true, origin: NeighbourControl.createdOrigin),
            neighbour("10.2.0.2", NUD_REACHABLE, managed: true, origin: NeighbourControl.convertedOrigin),
        ]) { _ in }
        XCTAssertEqual(Set(tables.changes), ["deleted 10.2.0.1", "unmanaged 10.2.0.2"], "no route needs them")
    }

    func testAStaleEntryIsProbedAtOnce() throws {
        let tables = Tables()
        let keeper = try keeper(tables)
        try keeper.resync(attached: [port], neighbours: []) { _ in }
        keeper.neighbourChanged(neighbour("10.2.0.9", NUD_REACHABLE), deleted: false)
        XCTAssertEqual(tables.changes, [])
        keeper.neighbourChanged(neighbour("10.2.0.9", NUD_STALE), deleted: false)
        XCTAssertEqual(tables.changes, ["probe 10.2.0.9"], "XDP traffic never confirms it")
        keeper.neighbourChanged(neighbour("10.2.0.9", NUD_STALE), deleted: false)
        XCTAssertEqual(tables.changes.count, 1, "probed once per change of state")
    }

    func testAManagedEntryRemovedWhileNeededIsMadeAgain() throws {
        let tables = Tables()
        let keeper = try keeper(tables)
        try keeper.resync(attached: [port], neighbours: []) { add in add(self.route("10.8.0.0/24", via: "10.2.0.1")) }
        keeper.neighbourChanged(neighbour("10.2.0.1", NUD_REACHABLE, managed: true, origin: NeighbourControl.createdOrigin),
                                deleted: true)
        XCTAssertEqual(tables.changes, ["managed 10.2.0.1 (new)", "managed 10.2.0.1 (new)"])
    }

    func testNothingIsMadeOnAPortThatIsDown() throws {
        let tables = Tables()
        let keeper = try keeper(tables, enabled: false)
        try keeper.resync(attached: [port], neighbours: []) { add in add(self.route("10.8.0.0/24", via: "10.2.0.1")) }
        XCTAssertEqual(tables.changes, [], "the kernel flushes entries on a port that is down")
        XCTAssertEqual(keeper.nextHopCount, 1, "the next hop is still known, for when it comes up")
    }
}
