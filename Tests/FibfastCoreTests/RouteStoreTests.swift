@testable import FibfastCore
import XCTest

/// The routes' next hops as the neighbour keeper counts them: a next hop is
/// gained with its first route and lost with its last, however many routes
/// share its set.
final class RouteStoreTests: XCTestCase {
    func hop(_ text: String, _ ifindex: UInt32 = 7) -> NeighbourKey { NeighbourKey(address: IPAddress(text)!, ifindex: ifindex) }

    func key(_ text: String, _ length: UInt8 = 24, table: UInt32 = 254) -> RouteStore.Key {
        let destination = IPAddress(text)!
        return RouteStore.Key(Route(family: destination.family, destination: destination, prefixLength: length,
                                    table: table, nexthops: []))
    }

    func testNextHopsAreGainedOnceAndLostWithTheirLastRoute() {
        var store = RouteStore()
        let a = hop("10.2.0.1"), b = hop("10.2.0.2")
        XCTAssertEqual(store.set(key("10.8.0.0"), [a]).gained, [a])
        XCTAssertEqual(store.set(key("10.9.0.0"), [a]).gained, [], "a set shared by two routes")
        XCTAssertEqual(store.set(key("10.10.0.0"), [b, a]).gained, [b], "a's users count per set")
        XCTAssertEqual(store.count, 3)
        XCTAssertEqual(store.remove(key("10.8.0.0")), [])
        XCTAssertEqual(store.remove(key("10.9.0.0")), [], "a is still in the ECMP set")
        XCTAssertEqual(Set(store.remove(key("10.10.0.0"))), [a, b])
        XCTAssertTrue(store.gateways.isEmpty)
    }

    func testAReplacedRouteMovesItsNextHop() {
        var store = RouteStore()
        let a = hop("10.2.0.1"), b = hop("10.2.0.2")
        _ = store.set(key("10.8.0.0"), [a])
        let change = store.set(key("10.8.0.0"), [b])
        XCTAssertEqual(change.gained, [b])
        XCTAssertEqual(change.lost, [a])
        XCTAssertEqual(store.set(key("10.8.0.0"), [b]).gained, [], "the same next hops again change nothing")
        XCTAssertEqual(store.set(key("10.8.0.0"), []).lost, [b], "no next hop: the route is forgotten")
        XCTAssertEqual(store.count, 0)
    }

    func testRoutesDifferingOnlyInTableOrLengthAreDistinct() {
        var store = RouteStore()
        let a = hop("fd00:2::1")
        _ = store.set(key("fd00:8::", 64), [a])
        _ = store.set(key("fd00:8::", 48), [a])
        _ = store.set(key("fd00:8::", 64, table: 10), [a])
        XCTAssertEqual(store.count, 3)
        XCTAssertEqual(store.gatewayUsers[a], 1, "one set, three routes")
    }
}
