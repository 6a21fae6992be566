@testable import FibfastCore
import XCTest

/// The kernel's own route as `lookup` prints it beside the fast path's
/// answer, built from the parts of an RTM_GETROUTE reply.
final class KernelRouteTests: XCTestCase {
    func testAForwardedRouteReadsLikeIPRouteGet() {
        let route = KernelRoute(family: .ipv4, type: 1,
                                firstHop: Nexthop(gateway: IPAddress("10.2.0.1"), ifindex: 3),
                                preferredSource: IPAddress("10.2.0.254"), names: [3: "p1"])
        XCTAssertEqual(route.line, "unicast via 10.2.0.1 dev p1 src 10.2.0.254")
        XCTAssertEqual(route.ifindex, 3)
    }

    func testWhatTheReplyLeavesOutIsLeftOut() {
        let local = KernelRoute(family: .ipv6, type: 2, firstHop: Nexthop(gateway: nil, ifindex: 9),
                                preferredSource: nil, names: [:])
        XCTAssertEqual(local.line, "local dev if9", "a device not among the names is named by number")
        let blackhole = KernelRoute(family: .ipv4, type: 6, firstHop: Nexthop(gateway: nil, ifindex: 0),
                                    preferredSource: nil, names: [:])
        XCTAssertEqual(blackhole.line, "blackhole")
        XCTAssertNil(blackhole.ifindex)
    }

    /// Only addresses of the destination's family are the route's gateway
    /// or source, as before: an IPv4 route through an IPv6 next hop shows
    /// its device alone.
    func testAnAddressOfAnotherFamilyIsNotShown() {
        let route = KernelRoute(family: .ipv4, type: 1, firstHop: Nexthop(gateway: IPAddress("fe80::1"), ifindex: 3),
                                preferredSource: IPAddress("fe80::2"), names: [3: "p1"])
        XCTAssertEqual(route.line, "unicast dev p1")
    }

    func testARefusalIsTheKernelsReason() {
        XCTAssertEqual(KernelRoute(error: "Network is unreachable").line, "error: Network is unreachable")
    }
}
