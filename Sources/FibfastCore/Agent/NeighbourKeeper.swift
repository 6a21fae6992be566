import CNetlink
import Logging

/// The kernel's neighbour tables as NeighbourKeeper changes them
/// (NeighbourControl), or a stand-in in unit tests.
protocol NeighbourTables: AnyObject {
    /// The kernel's entry right now.
    func get(_ address: IPAddress, ifindex: UInt32) -> Neighbour?
    /// Creates a managed entry, or makes `existing` managed, with fibfast's mark.
    func makeManaged(_ address: IPAddress, ifindex: UInt32, existing: Neighbour?) throws
    /// Puts the entry into PROBE.
    func probe(_ neighbour: Neighbour) throws
    /// Hands a converted entry back: no longer managed.
    func unmanage(_ neighbour: Neighbour) throws
    func delete(_ address: IPAddress, ifindex: UInt32) throws
}

extension NeighbourControl: NeighbourTables {}

/// Keeps the neighbours behind the fast path's next hops resolved and true.
///
/// Traffic forwarded in XDP never confirms a neighbour entry, so without
/// help an entry goes STALE and stays so; bpf_fib_lookup accepts STALE
/// entries, and a next hop whose MAC address changed would be sent frames
/// it drops for as long as that entry lives. Two kernel mechanisms fix it:
///
/// - Gateways of routes through fast-path ports get managed neighbour
///   entries (NTF_EXT_MANAGED, kernel >= 5.16): the kernel resolves them as
///   soon as they are created, so a new route's first packets find their
///   next hop, and re-resolves them when they fail.
/// - Those gateways are also re-confirmed (put into PROBE) every half
///   base_reachable_time of their port, the shortest reachable time the
///   kernel can draw: a managed entry that times out goes to DELAY without
///   a notification and waits 5 s before probing, so without this the
///   fast path would only be as quick as the kernel alone.
/// - Any entry on a fast-path port that goes STALE (gateway or directly
///   connected host) is put into PROBE at once: unicast probes confirm it,
///   or fail it after ucast_probes * retrans_time, after which the next
///   packet goes to the kernel and is resolved afresh. The kernel alone
///   would first wait delay_first_probe_time (5 s) in DELAY.
///
/// Entries fibfast creates carry NDA_PROTOCOL 251; they are deleted when
/// no route needs them and when the agent stops. Entries that existed
/// before are only made managed, marked 252, and returned to unmanaged
/// afterwards (the mark stays: the kernel cannot clear it). A managed entry
/// with either mark that no agent owns was left by one that was killed:
/// the next agent takes it over, and hands it back the same way.
/// Permanent (static) entries, and entries another program marked as its
/// own, are never touched.
final class NeighbourKeeper {
    enum Ownership {
        case created, converted

        /// Whose a managed entry is, by its mark: fibfast's, or nil.
        init?(mark origin: UInt8) {
            switch origin {
            case NeighbourControl.createdOrigin: self = .created
            case NeighbourControl.convertedOrigin: self = .converted
            default: return nil
            }
        }
    }

    private var store = RouteStore()
    /// Neighbour entries on fast-path ports, as the kernel last reported them.
    private var neighbours: [NeighbourKey: Neighbour] = [:]
    private var owned: [NeighbourKey: Ownership] = [:]
    /// The last MAC address seen for each entry (INCOMPLETE and FAILED
    /// reports carry none), to tell the operator when a next hop moved.
    private var lastMAC: [NeighbourKey: [UInt8]] = [:]
    /// When each next hop's entry was last seen confirmed (REACHABLE).
    private var confirmed: [NeighbourKey: ContinuousClock.Instant] = [:]
    /// Half of each port's base_reachable_time, per family.
    private var refreshIntervals: [NeighbourKey.Port: Duration] = [:]
    private(set) var attached: Set<UInt32> = []
    private let control: NeighbourTables
    /// Reads a sysctl (base_reachable_time_ms).
    private let sysctl: SysctlReader
    private let logger: Logger
    private let portName: (UInt32) -> String
    /// Whether a port is up and in the fast path: entries on a port that
    /// is down are flushed by the kernel and made again when it comes up.
    private let portEnabled: (UInt32) -> Bool

    init(logger: Logger, portName: @escaping (UInt32) -> String, portEnabled: @escaping (UInt32) -> Bool,
         control: NeighbourTables? = nil, sysctl: @escaping SysctlReader = Sysctl.read) throws {
        self.control = try control ?? NeighbourControl()
        self.sysctl = sysctl
        self.logger = logger
        self.portName = portName
        self.portEnabled = portEnabled
    }

    var routeCount: Int { store.count }
    var nextHopCount: Int { store.gatewayUsers.count }
    var managedCount: Int { owned.count }

    func describe(_ key: NeighbourKey) -> String { "\(key.address) on \(portName(key.ifindex))" }

    // MARK: - Routes

    func routeChanged(_ route: Route, deleted: Bool) {
        let key = RouteStore.Key(route)
        let change = deleted ? (gained: [], lost: store.remove(key)) : store.set(key, hops(of: route))
        for hop in change.gained { ensure(hop) }
        for hop in change.lost { release(hop) }
    }

    private func hops(of route: Route) -> [NeighbourKey] {
        guard route.type == Route.unicast else { return [] }
        return route.nexthops.compactMap { hop in
            guard let gateway = hop.gateway, attached.contains(hop.ifindex) else { return nil }
            return NeighbourKey(address: gateway, ifindex: hop.ifindex)
        }
    }

    /// Rebuilds the route view from a full dump, then settles the managed
    /// entries: new next hops get one, next hops no route uses lose theirs.
    func resync(attached ports: Set<UInt32>, neighbours entries: [Neighbour], routes: (( Route) -> Void) throws -> Void) rethrows {
        attached = ports
        neighbours = [:]
        refreshIntervals = [:]
        confirmed = confirmed.filter { ports.contains($0.key.ifindex) }
        lastMAC = lastMAC.filter { ports.contains($0.key.ifindex) }
        for entry in entries where ports.contains(entry.ifindex) {
            neighbours[NeighbourKey(address: entry.address, ifindex: entry.ifindex)] = entry
        }
        let before = store.gateways
        store.removeAll()
        try routes { route in _ = store.set(RouteStore.Key(route), hops(of: route)) }
        let after = store.gateways
        // Managed entries a killed agent left behind are ours to settle.
        for (key, entry) in neighbours where entry.managed && owned[key] == nil {
            guard let ownership = Ownership(mark: entry.origin) else { continue }
            owned[key] = ownership
            logger.info("neighbour \(describe(key)): managed entry left by an earlier fibfast agent taken over")
        }
        for hop in after.sorted() { ensure(hop) }
        for hop in before.union(owned.keys).subtracting(after).sorted() { release(hop) }
        for entry in neighbours.values where entry.needsConfirmation { probe(entry) }
        for (key, entry) in neighbours where !entry.lladdr.isEmpty { lastMAC[key] = entry.lladdr }
    }

    // MARK: - Neighbours

    func neighbourChanged(_ entry: Neighbour, deleted: Bool) {
        guard attached.contains(entry.ifindex) else { return }
        let key = NeighbourKey(address: entry.address, ifindex: entry.ifindex)
        if deleted {
            neighbours.removeValue(forKey: key)
            lastMAC.removeValue(forKey: key)
            confirmed.removeValue(forKey: key)
            if owned[key] != nil && store.gatewayUsers[key] != nil && portEnabled(key.ifindex) {
                logger.info("next hop \(describe(key)): its neighbour entry was removed; creating the managed entry again")
                owned.removeValue(forKey: key)
                ensure(key)
            } else {
                owned.removeValue(forKey: key)
            }
            return
        }
        let previous = neighbours.updateValue(entry, forKey: key)
        if !entry.lladdr.isEmpty {
            if let known = lastMAC.updateValue(entry.lladdr, forKey: key), known != entry.lladdr {
                logger.info("neighbour \(describe(key)) moved from \(MACAddress.text(known)) to \(entry.mac): the fast path follows")
            }
        }
        if entry.state == UInt16(NUD_FAILED) && previous?.state != entry.state && store.gatewayUsers[key] != nil {
            logger.info("next hop \(describe(key)) unreachable (neighbour failed): its traffic goes to the kernel, which resolves it again")
        }
        if entry.state == UInt16(NUD_REACHABLE) && previous?.state != entry.state {
            confirmed[key] = .now
        }
        if entry.needsConfirmation && previous?.state != entry.state { probe(entry) }
    }

    /// Re-confirms the next hops whose entries were confirmed longer ago
    /// than half their port's base_reachable_time. Called every second.
    func refresh() {
        let now = ContinuousClock.now
        for key in store.gatewayUsers.keys {
            if let last = confirmed[key], now - last < refreshInterval(key) { continue }
            confirmed[key] = now
            // The kernel's word, not the last event: REACHABLE to DELAY is
            // silent, and an entry already probing must be left to finish.
            let current = control.get(key.address, ifindex: key.ifindex)
            guard let entry = current,
                  entry.state & UInt16(NUD_REACHABLE | NUD_STALE | NUD_DELAY) != 0 else { continue }
            do {
                try startProbe(entry, key)
                logger.debug("next hop \(describe(key)): re-confirming its neighbour entry (\(entry.stateName))")
            } catch {
                logger.warning("next hop \(describe(key)): re-probe failed: \(error)")
            }
        }
    }

    private func refreshInterval(_ key: NeighbourKey) -> Duration {
        let port = key.port
        if let known = refreshIntervals[port] { return known }
        let family = key.address.family == .ipv4 ? "ipv4" : "ipv6"
        let name = portName(key.ifindex)
        let setting = Sysctl.name("net", family, "neigh", name, "base_reachable_time_ms")
        let milliseconds = max(1000, (sysctl(setting).flatMap { Int($0) } ?? 30000) / 2)
        logger.debug("port \(name): \(key.address.family) next hops re-confirmed every \(milliseconds) ms (half of \(setting))")
        let interval = Duration.milliseconds(milliseconds)
        refreshIntervals[port] = interval
        return interval
    }

    /// Puts the entry into PROBE. Every admin update sets the managed flag
    /// anew: keep it on the entries fibfast manages.
    private func startProbe(_ entry: Neighbour, _ key: NeighbourKey) throws {
        var entry = entry
        entry.managed = entry.managed || owned[key] != nil
        try control.probe(entry)
    }

    /// STALE (plain entries) and DELAY (managed ones, and entries the
    /// kernel itself used) wait for a confirmation that traffic forwarded
    /// in XDP never brings: probe at once instead.
    private func probe(_ entry: Neighbour) {
        guard !entry.lladdr.isEmpty else { return }
        let key = NeighbourKey(address: entry.address, ifindex: entry.ifindex)
        do {
            try startProbe(entry, key)
            logger.info("neighbour \(describe(key)) unconfirmed (\(entry.stateName)): probing it now, traffic forwarded in XDP never confirms it")
        } catch {
            logger.warning("neighbour \(describe(key)): re-probe failed: \(error)")
        }
    }

    // MARK: - Managed entries

    private func ensure(_ key: NeighbourKey) {
        guard portEnabled(key.ifindex) else { return }
        let existing = neighbours[key]
        if let existing, existing.isStatic { return }
        if owned[key] != nil, existing?.managed == true { return }
        if owned[key] == nil, let existing, existing.managed {
            if let ownership = Ownership(mark: existing.origin) { owned[key] = ownership }
            return  // someone else's managed entry: the kernel keeps it already
        }
        if owned[key] == nil, let existing, existing.origin != 0, Ownership(mark: existing.origin) == nil {
            // Marked by another program: fibfast's mark would replace its
            // own for good, so the entry is left as it is.
            logger.debug("next hop \(describe(key)): its neighbour entry belongs to protocol \(existing.origin), left as it is")
            return
        }
        do {
            try control.makeManaged(key.address, ifindex: key.ifindex, existing: existing)
            if owned[key] == nil { owned[key] = existing == nil ? .created : .converted }
            if existing == nil {
                logger.info("next hop \(describe(key)): managed neighbour entry added, the kernel resolves it and keeps it resolved")
            } else {
                logger.info("next hop \(describe(key)): neighbour entry (\(existing!.stateName)) made managed, the kernel keeps it resolved")
            }
        } catch {
            logger.warning("next hop \(describe(key)): making its neighbour entry managed failed, the kernel resolves it on first use: \(error)")
        }
    }

    private func release(_ key: NeighbourKey, why: String = "no route uses it any more") {
        guard let ownership = owned.removeValue(forKey: key) else { return }
        do {
            switch ownership {
            case .created:
                try control.delete(key.address, ifindex: key.ifindex)
                logger.info("next hop \(describe(key)): \(why), managed neighbour entry removed")
            case .converted:
                guard let entry = neighbours[key] else { return }
                try control.unmanage(entry)
                logger.info("next hop \(describe(key)): \(why), neighbour entry no longer managed")
            }
        } catch {
            logger.warning("next hop \(describe(key)): cleaning up its managed neighbour entry failed: \(error)")
        }
    }

    /// Leaves the kernel's neighbour tables as the agent found them.
    func releaseAll() {
        for key in owned.keys.sorted() { release(key, why: "agent stopping") }
    }
}
