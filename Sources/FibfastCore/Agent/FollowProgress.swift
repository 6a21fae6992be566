import Foundation

/// How far the agent has followed the kernel, for those who must know when
/// it is in step after a large change (a routing daemon installing a full
/// table): what it tracks, and when it last took in a netlink event. Read
/// from other threads (the metrics server) while the agent writes it.
public final class FollowProgress: @unchecked Sendable {
    public struct Snapshot: Sendable, Equatable {
        /// Routes with a gateway on a fast-path port.
        public var routes: Int
        public var nextHops: Int
        public var events: UInt64
        /// Unix time of the last event taken in; 0 before the first.
        public var lastEvent: Double
        /// Unix time of the last route event: neighbour events go on
        /// (the agent keeps next hops confirmed) when routes are quiet.
        public var lastRouteEvent: Double
    }

    private let lock = NSLock()
    private var current = Snapshot(routes: 0, nextHops: 0, events: 0, lastEvent: 0, lastRouteEvent: 0)

    public init() {}

    public var snapshot: Snapshot { lock.withLock { current } }

    func eventHandled(routes: Int, nextHops: Int, route: Bool) {
        let now = Date().timeIntervalSince1970
        lock.withLock {
            current.routes = routes
            current.nextHops = nextHops
            current.events += 1
            current.lastEvent = now
            if route { current.lastRouteEvent = now }
        }
    }

    func resynced(routes: Int, nextHops: Int) {
        lock.withLock {
            current.routes = routes
            current.nextHops = nextHops
        }
    }
}
