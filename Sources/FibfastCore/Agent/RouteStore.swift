/// Which next hops the routes through fast-path ports use, kept compactly:
/// one 28-byte key and a 4-byte id per route; the routes that share a set
/// of next hops (usually nearly all of them) share one entry of `sets`.
///
/// Only routes with a gateway on a fast-path port are stored: they are the
/// ones whose neighbours the agent keeps resolved. The kernel's FIB stays
/// the only authority on where packets go.
struct RouteStore {
    struct Key: Hashable {
        var high: UInt64
        var low: UInt64
        var table: UInt32
        var priority: UInt32
        /// family << 16 | prefix length << 8 | tos
        var meta: UInt32

        init(_ route: Route) {
            high = route.destination?.high ?? 0
            low = route.destination?.low ?? 0
            table = route.table
            priority = route.priority
            meta = UInt32(route.family == .ipv4 ? 0 : 1) << 16 | UInt32(route.prefixLength) << 8 | UInt32(route.tos)
        }
    }

    private var routes: [Key: UInt32] = [:]
    private var sets: [[NeighbourKey]] = []
    private var setUsers: [UInt32] = []
    private var setIDs: [[NeighbourKey]: UInt32] = [:]
    private var freeIDs: [UInt32] = []
    /// For each next hop, how many next-hop sets in use contain it.
    private(set) var gatewayUsers: [NeighbourKey: Int] = [:]

    var count: Int { routes.count }
    var gateways: Set<NeighbourKey> { Set(gatewayUsers.keys) }

    /// Records the route's next hops (replacing what it had). Returns the
    /// next hops that gained their first route and those that lost their last.
    mutating func set(_ key: Key, _ hops: [NeighbourKey]) -> (gained: [NeighbourKey], lost: [NeighbourKey]) {
        if hops.isEmpty { return ([], remove(key)) }
        let canonical = hops.count > 1 ? Array(Set(hops)).sorted() : hops
        var lost: [NeighbourKey] = []
        if let old = routes[key] {
            if sets[Int(old)] == canonical { return ([], []) }
            lost = release(old)
        }
        let id: UInt32
        var gained: [NeighbourKey] = []
        if let existing = setIDs[canonical] {
            id = existing
            setUsers[Int(id)] += 1
        } else {
            if let free = freeIDs.popLast() {
                id = free
                sets[Int(id)] = canonical
                setUsers[Int(id)] = 1
            } else {
                id = UInt32(sets.count)
                sets.append(canonical)
                setUsers.append(1)
            }
            setIDs[canonical] = id
            for hop in canonical {
                gatewayUsers[hop, default: 0] += 1
                if gatewayUsers[hop] == 1 { gained.append(hop) }
            }
        }
        routes[key] = id
        // A next hop that moved from the old set to the new one is neither.
        let gainedSet = Set(gained)
        return (gained.filter { !lost.contains($0) }, lost.filter { !gainedSet.contains($0) && gatewayUsers[$0] == nil })
    }

    mutating func remove(_ key: Key) -> [NeighbourKey] {
        guard let id = routes.removeValue(forKey: key) else { return [] }
        return release(id)
    }

    /// Forgets everything, keeping the storage for the refill.
    mutating func removeAll() {
        routes.removeAll(keepingCapacity: true)
        sets.removeAll()
        setUsers.removeAll()
        setIDs.removeAll()
        freeIDs.removeAll()
        gatewayUsers.removeAll()
    }

    /// Counts next-hop users per set (not per route): a set's next hops
    /// count once however many routes share it.
    private mutating func release(_ id: UInt32) -> [NeighbourKey] {
        setUsers[Int(id)] -= 1
        guard setUsers[Int(id)] == 0 else { return [] }
        let hops = sets[Int(id)]
        setIDs.removeValue(forKey: hops)
        sets[Int(id)] = []
        freeIDs.append(id)
        var lost: [NeighbourKey] = []
        for hop in hops {
            let users = (gatewayUsers[hop] ?? 1) - 1
            if users == 0 {
                gatewayUsers.removeValue(forKey: hop)
                lost.append(hop)
            } else {
                gatewayUsers[hop] = users
            }
        }
        return lost
    }
}

/// A neighbour entry's identity: an address on an interface.
public struct NeighbourKey: Hashable, Comparable, Sendable {
    public var address: IPAddress
    public var ifindex: UInt32

    public static func < (a: NeighbourKey, b: NeighbourKey) -> Bool {
        (a.ifindex, a.address) < (b.ifindex, b.address)
    }
}

extension NeighbourKey {
    /// A port and an address family: neighbour settings are per both.
    struct Port: Hashable {
        var ifindex: UInt32
        var family: AddressFamily
    }
    var port: Port { Port(ifindex: ifindex, family: address.family) }
}
