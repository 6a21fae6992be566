import CFastPath
import CNetlink

/// The routes whose egress is a fast-path port, and for each next hop
/// whether the fast path serves it right now, in the shape
/// `fibfast routes --json` prints (documented in docs/json.md).
public struct RouteReport: Sendable, Codable, Equatable {
    public struct NextHop: Sendable, Codable, Equatable {
        /// nil for a directly connected network.
        public var gateway: String?
        public var dev: String
        /// "fast" (forwarded in XDP) or "punted" (handed to the kernel).
        public var status: String
        /// The gateway's neighbour state (reachable, stale, delay, probe,
        /// permanent, noarp, incomplete, failed, none); "per-host" for a
        /// connected network, whose hosts each have their own entry.
        public var neighbour: String
        /// Whether the kernel keeps the neighbour resolved (managed entry).
        public var managed: Bool
        /// Why packets are punted; nil when fast.
        public var reason: String?
    }

    public struct Entry: Sendable, Codable, Equatable {
        public var destination: String
        public var family: AddressFamily
        public var table: String
        public var metric: UInt32
        /// "fast", "punted", or "partial" (some next hops of a multipath
        /// route are punted).
        public var status: String
        public var nexthops: [NextHop]
    }

    public var routes: [Entry]

    /// Builds the report from this namespace's routes and neighbours and
    /// the fast path running here.
    public static func current() throws -> RouteReport {
        let running = try RunningFastPath.discover()
        guard !running.isEmpty else { throw FibfastError.notAttached }
        var ports: [UInt32: (name: String, enabled: Bool)] = [:]
        for fastPath in running {
            for port in fastPath.ports {
                let info = fastPath.maps.port(port.ifindex)
                let enabled = (info?.flags ?? 0) & UInt16(FF_PORT_ENABLED) != 0
                ports[port.ifindex] = (port.name, enabled)
            }
        }
        var neighbours: [NeighbourKey: Neighbour] = [:]
        try Dump.neighbours(restart: { neighbours.removeAll() }) { entry in
            guard ports[entry.ifindex] != nil else { return }
            neighbours[NeighbourKey(address: entry.address, ifindex: entry.ifindex)] = entry
        }
        var entries: [Entry] = []
        try Dump.routes(restart: { entries.removeAll() }) { route in
            if let entry = entry(route, ports: ports, neighbours: neighbours) { entries.append(entry) }
        }
        return RouteReport(routes: entries)
    }

    static func entry(_ route: Route, ports: [UInt32: (name: String, enabled: Bool)],
                      neighbours: [NeighbourKey: Neighbour]) -> Entry? {
        guard route.type == Route.unicast, route.table != 255,
              route.nexthops.contains(where: { ports[$0.ifindex] != nil })
        else { return nil }
        let hops = route.nexthops.map { hop -> NextHop in
            let dev = ports[hop.ifindex]?.name ?? Interfaces.name(hop.ifindex)
            guard let port = ports[hop.ifindex] else {
                return NextHop(gateway: hop.gateway?.description, dev: dev, status: "punted", neighbour: "none",
                               managed: false, reason: "egress \(dev) is not a fast-path port")
            }
            guard let gateway = hop.gateway else {
                return NextHop(gateway: nil, dev: dev, status: port.enabled ? "fast" : "punted", neighbour: "per-host",
                               managed: false, reason: port.enabled ? nil : "port \(dev) is down")
            }
            let entry = neighbours[NeighbourKey(address: gateway, ifindex: hop.ifindex)]
            let state = entry?.stateName ?? "none"
            var reason: String?
            if !port.enabled {
                reason = "port \(dev) is down"
            } else if entry == nil {
                reason = "no neighbour entry for the next hop: the kernel resolves it on the first packet"
            } else if !(entry!.isValid) {
                reason = entry!.state == UInt16(NUD_FAILED)
                    ? "next hop unreachable (neighbour failed)" : "next hop being resolved (\(state))"
            }
            return NextHop(gateway: gateway.description, dev: dev, status: reason == nil ? "fast" : "punted",
                           neighbour: state, managed: entry?.managed ?? false, reason: reason)
        }
        let fast = hops.filter { $0.status == "fast" }.count
        let status = fast == hops.count ? "fast" : fast == 0 ? "punted" : "partial"
        return Entry(destination: route.prefix, family: route.family, table: Route.tableName(route.table),
                     metric: route.priority, status: status, nexthops: hops)
    }
}
