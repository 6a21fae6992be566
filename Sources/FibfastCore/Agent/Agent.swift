import CFastPath
import CLibBPF
import Foundation
import Logging

/// The process that owns the fast path: it loads the program, configures
/// its maps, attaches it to every port, and keeps it until told to stop.
/// Its links die with it, so however it ends the ports fall back to plain
/// kernel forwarding.
public actor Agent {
    public let request: AttachRequest
    let logger: Logger
    var program: FastPathProgram?
    /// ff_config, written whole by its one owner.
    var config: FastPathConfigEntry?
    private(set) var failureWatch: XDPFailureWatch?
    /// The FIB answer cache's generation, switch and hooks.
    private(set) var fibCache: FibCache?
    var ports: PortTable?
    private var keeper: NeighbourKeeper?
    private var sourceCheck: SourceCheck?
    private var events: EventSocket?
    var pins: Pins?
    /// What the safety watch last saw (Agent+Safety.swift).
    var safety = SafetyState()
    /// Size of the netlink event socket's receive buffer.
    private let eventBufferSize: Int
    /// A route resync is scheduled (IPv4 drops routes silently when a
    /// device goes down or loses an address).
    private var routeResyncPending = false
    private var portsCheckPending = false
    /// Resyncs failed in a row since the last one that worked; while there
    /// are any, a retry is scheduled, further apart each time.
    private var failedResyncs = 0
    /// A failed resync was a full one: the retry (or any resync before it)
    /// must be full too.
    private var fullResyncOwed = false
    private var resyncRetry: Task<Void, Never>?
    /// What it tracks and when it last heard the kernel (attach --metrics).
    public nonisolated let progress = FollowProgress()

    public init(request: AttachRequest, logger: Logger, eventBufferSize: Int = EventSocket.defaultBufferSize) {
        self.request = request
        self.logger = logger
        self.eventBufferSize = eventBufferSize
    }

    /// Checks everything, then loads and attaches. Either every port ends
    /// up attached or none is, and the error says which port and why.
    public func start() throws {
        let checked = try check()
        // Forwarding switched on here is switched off again if the start
        // fails: a failed attach leaves the kernel as it found it.
        var enabled: [AddressFamily] = []
        var started = false
        defer {
            if !started {
                for family in enabled { try? Sysctl.write(family.forwardingSysctl, "0") }
            }
        }
        for family in checked.plan.forwardingToEnable {
            try Sysctl.write(family.forwardingSysctl, "1")
            enabled.append(family)
        }
        let loaded = try load(checked)
        let attached = try attach(checked, loaded)
        try pinOrUnpin(checked, loaded.program, attached)
        started = true
        for family in enabled {
            logger.info("\(family) forwarding enabled (\(family.forwardingSysctl) = 1)")
        }
        for link in attached {
            loaded.table.adopt(link)
            logger.info("port \(link.port) (ifindex \(link.ifindex)): attached in \(link.mode) mode\(loaded.table.isEnabled(ifindex: link.ifindex) ? "" : ", down: waiting for it to come up")")
        }
        logCaveats(checked, loaded)
        program = loaded.program
        config = loaded.config
        ports = loaded.table
        failureWatch = loaded.failureWatch
        fibCache = loaded.fibCache
        pins = request.keepOnExit ? checked.pins : nil
        sourceCheck = loaded.sourceCheck
        keeper = try NeighbourKeeper(
            logger: logger,
            portName: { [weak table = loaded.table] ifindex in table?.name(ifindex: ifindex) ?? Interfaces.name(ifindex) },
            portEnabled: { [weak table = loaded.table] ifindex in table?.isEnabled(ifindex: ifindex) ?? false })
    }

    /// What the checks before any change found.
    private struct Checked {
        var plan: AttachPlan
        var allLinks: [Link]
        var pins: Pins?
        var pinned: PinnedFastPath?
        /// The devices the program runs on: the ports but VLAN ports, and
        /// the devices under VLAN ports.
        var devices: [Link]
        var lowers: [Link]
        /// What --force replaces, by ifindex.
        var replacing: [UInt32: XDPAttachment]
    }

    /// Checks the request against the system, changing nothing.
    private func check() throws -> Checked {
        let allLinks = try Links.all()
        let plan = try AttachPlan.make(
            request, privileges: .current(), links: allLinks,
            addresses: try Links.addresses(), sysctl: Sysctl.read)
        // A fast path left pinned (--keep-on-exit) by an agent that is gone
        // is taken over rather than replaced: same maps, same links.
        let pins = request.keepOnExit ? try Pins.prepare(bpffs: request.bpffs) : Pins.existing(bpffs: request.bpffs)
        let pinned = try pins.flatMap { try PinnedFastPath.find(pins: $0, ports: plan.ports, allLinks: allLinks) }
        // VLAN ports run on their lower devices (VLANPorts.swift).
        let lowers = try VLANCheck.lowers(of: plan.ports, links: allLinks, keepOnExit: request.keepOnExit)
        let devices = plan.ports.filter { $0.vlan == nil }
        for device in devices + lowers { try VLANCheck.tagsReachXDP(device, links: allLinks) }
        let replacing = try checkPortsAreFree(devices + lowers.filter { lower in !devices.contains { $0.ifindex == lower.ifindex } },
                                              adopting: Set(pinned.map { Array($0.links.keys) } ?? []))
        try checkNetfilter()
        try checkTrafficControl(plan.ports + lowers)
        return Checked(plan: plan, allLinks: allLinks, pins: pins, pinned: pinned, devices: devices, lowers: lowers,
                       replacing: replacing)
    }

    /// The program loaded and its maps filled, nothing attached yet.
    private struct Loaded {
        var program: FastPathProgram
        var config: FastPathConfigEntry
        var table: PortTable
        var sourceCheck: SourceCheck
        var failureWatch: XDPFailureWatch?
        var fibCache: FibCache
    }

    /// Loads the program (taking over a pinned one's maps) and fills every
    /// map before any port is attached, so the first frame finds them full.
    private func load(_ checked: Checked) throws -> Loaded {
        let program = try FastPathProgram.load(reusing: checked.pinned?.mapDescriptors ?? [:])
        let config = try configure(program.maps)
        let table = PortTable(names: checked.plan.ports.map(\.name),
                              kernel: KernelPorts(maps: program.maps, programFD: program.programFD),
                              mode: request.mode, logger: logger, assumedTransmit: Set(request.xdpTransmit))
        table.lowers.seen(checked.allLinks)
        try table.configure(checked.plan.ports)
        let sourceCheck = SourceCheck(maps: SourceCheckTables(maps: program.maps, config: config), logger: logger)
        sourceCheck.sync(try Links.addresses())
        try Dump.rules { sourceCheck.ruleSeen($0) }
        checked.plan.ports.forEach(sourceCheck.vrfPortSeen)
        // Before the ports: the first frame a port cannot send is counted too.
        let failureWatch = watchFailures(program)
        try refreshReversePath(table, ports: checked.plan.ports)
        // Off until run() follows the kernel's events: only from then on is
        // every change the hooks miss seen by the agent.
        let fibCache = try FibCache(program: program)
        fibCache.enabled = false
        fibCache.checkHashSettings()
        if request.fibCache != .off && !request.keepOnExit, let control = program.maps.fibCacheControl {
            fibCache.attachHooks(controlFD: control.fd)
        }
        return Loaded(program: program, config: config, table: table, sourceCheck: sourceCheck,
                      failureWatch: failureWatch, fibCache: fibCache)
    }

    /// Attaches the program to every device, adopting the links of a pinned
    /// fast path. On a throw the links made so far go out of scope, and
    /// closing them detaches those ports: nothing stays half-attached.
    private func attach(_ checked: Checked, _ loaded: Loaded) throws -> [XDPLink] {
        let program = loaded.program
        var attached: [XDPLink] = []
        for port in checked.devices {
            if let link = checked.pinned?.links[port.ifindex] {
                let adopted = XDPLink(port: port.name, ifindex: port.ifindex,
                                      mode: (try? XDPAttachment.query(ifindex: port.ifindex))??.mode ?? request.mode,
                                      descriptor: link)
                try adopted.update(programFD: program.programFD)
                attached.append(adopted)
                logger.notice("port \(port.name): adopted the pinned fast path (program replaced in place, counters kept)")
                continue
            }
            if let existing = checked.replacing[port.ifindex] {
                try XDPLinks.detach(port: port.name, ifindex: port.ifindex, attachment: existing)
                logger.notice("port \(port.name): replaced XDP program id \(existing.programID) (--force)")
            }
            let link = try XDPLink.attach(programFD: program.programFD, port: port.name,
                                          ifindex: port.ifindex, mode: request.mode)
            attached.append(link)
        }
        try loaded.table.attachLowers()
        return attached
    }

    /// With --keep-on-exit, pins everything for the next agent; an adopted
    /// fast path without it ends with this agent, so its pins go.
    private func pinOrUnpin(_ checked: Checked, _ program: FastPathProgram, _ attached: [XDPLink]) throws {
        if request.keepOnExit, let pins = checked.pins {
            do {
                try pinAll(pins, program: program, links: attached)
            } catch {
                // Half a set of pins would be adopted wrongly later.
                pins.removeAll()
                throw error
            }
        } else if let pinned = checked.pinned {
            pinned.pins.removeAll()
        }
    }

    /// What the operator should know about the ports and the kernel once
    /// the fast path runs.
    private func logCaveats(_ checked: Checked, _ loaded: Loaded) {
        let plan = checked.plan
        for port in checked.devices + checked.lowers where port.kind == "veth" && !plan.ports.filter({ $0.vlan != nil }).isEmpty {
            logger.notice("\(port.name) is a veth carrying VLAN ports: a peer that sends through a VLAN device with tx-vlan offload on (the default) hands the tag over beside the frame, where XDP cannot see it; turn it off on the peer (ethtool -K PEER txvlan off), see docs/safety.md")
        }
        for port in plan.ports where port.kind == "veth" {
            // Nothing in XDP says whether a frame's checksum was finished.
            logger.notice("port \(port.name) is a veth: if its peer sends with checksum offload on (the default), UDP/TCP checksums forwarded in XDP stay unfinished and the receiver drops them; turn it off on the peer (ethtool -K PEER tx off), see docs/operations.md")
        }
        if Sysctl.read("net.ipv4.nexthop_compat_mode") == "0" {
            // Then route notifications name a nexthop object, not its
            // gateway, and libnl cannot read nexthop objects.
            logger.warning("net.ipv4.nexthop_compat_mode is 0: routes through nexthop objects (ip nexthop) are forwarded as the kernel's FIB says, but their next hops are not kept resolved ahead of traffic; set it to 1 (the default) for that")
        }
        logger.debug("which ports take XDP redirects: from \(loaded.table.transmitSource)")
        logFibCache(loaded.fibCache)
        logger.info("fast path running: program id \(loaded.program.info.id), \(request.direct ? "direct" : "full") FIB lookup, \(plan.ports.count) ports")
    }

    private func logFibCache(_ cache: FibCache) {
        for (hook, reason) in cache.refused.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            logger.debug("FIB answer cache hook \(hook.kernelName) not attached: \(reason)")
        }
        let decision = fibCacheDecision(cache)
        logger.log(level: decision.level, "\(decision.reason)")
    }

    /// Whether the FIB answer cache runs (run() switches it on), and why.
    private func fibCacheDecision(_ cache: FibCache) -> (enabled: Bool, level: Logger.Level, reason: String) {
        if request.fibCache == .off {
            return (false, .info, "FIB answer cache off (--fib-cache off): every frame asks the FIB")
        }
        if request.keepOnExit {
            // Its hooks and the agent's invalidations end with the agent,
            // while a pinned fast path forwards on.
            return (false, .notice, "FIB answer cache off: --keep-on-exit leaves a fast path no one would invalidate its cache for")
        }
        if request.fibCache == .auto && !cache.synchronous {
            let refused = cache.refused.keys.sorted { $0.rawValue < $1.rawValue }.map(\.kernelName)
            return (false, .notice, "FIB answer cache off: this kernel refused \(refused.joined(separator: ", ")), so route, rule or nexthop changes would reach it only through netlink events (--fib-cache on uses it anyway)")
        }
        return (true, .info, "FIB answer cache: invalidated by the agent's netlink events and by \(cache.attached.map(\.kernelName).joined(separator: ", "))")
    }

    /// Forwarding works without the tracepoints; only failures would go
    /// uncounted, so their absence is a warning, not a reason to stop.
    private func watchFailures(_ program: FastPathProgram) -> XDPFailureWatch? {
        do {
            let watch = try XDPFailureWatch(program: program)
            logger.debug("counting XDP failures via \(watch.tracepoints.joined(separator: ", "))")
            return watch
        } catch {
            logger.warning("redirect and transmit failures will not be counted: \(error)")
            return nil
        }
    }

    /// The id of the fast-path program this agent runs, once started.
    public var programID: UInt32? { program?.info.id }

    /// Follows the kernel until cancelled: subscribes to rtnetlink events,
    /// takes a full dump, then applies every event as it comes.
    public func run() async throws {
        // Every message the kernel sends invalidates the FIB answer cache
        // first, on the reader thread, before it is even decoded.
        let cache = fibCache
        let socket = try EventSocket(bufferSize: eventBufferSize, received: { cache?.invalidate() })
        events = socket
        socket.start()
        if let cache, fibCacheDecision(cache).enabled {
            try cache.watch(eventSocket: socket.descriptor)
            cache.enabled = true
            cache.leavePortsOut(unless: FibCache.portsMatterNow)
        }
        logger.info("following the kernel: netlink event buffer \(socket.grantedBufferSize / 1024) KiB")
        // Subscribed first, dumped second: nothing falls between the two.
        resync(reason: nil)
        let ticker = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                await self?.tick()
            }
        }
        defer { ticker.cancel() }
        for await event in socket.events {
            handle(event)
        }
        socket.stop()
        // Stopping cancels this task; otherwise the stream ended because its
        // reader did, and an agent that no longer hears the kernel must not
        // go on as if it did (nor exit 0, which no supervisor restarts).
        if Task.isCancelled { return }
        throw FibfastError.eventsStopped(reason: socket.failure ?? "the event stream ended")
    }

    /// Detaches from every port and hands back the neighbour entries it
    /// managed; the kernel forwards alone from here on.
    /// With --keep-on-exit the fast path stays attached and pinned instead.
    public func stop() {
        events?.stop()
        events = nil
        resyncRetry?.cancel()
        resyncRetry = nil
        keeper?.releaseAll()
        keeper = nil
        if request.keepOnExit {
            leavePinned()
            ports?.releaseLinks()
        } else {
            ports?.detachAll()
        }
        ports = nil
        failureWatch = nil
        fibCache?.enabled = false
        fibCache = nil
        config = nil
        program = nil
    }

    // MARK: - Events

    private func handle(_ event: NetlinkEvent) {
        guard let ports, let keeper else { return }
        switch event {
        case .link(let link, let deleted):
            let changed = deleted ? ports.remove(ifindex: link.ifindex) : ports.update(link)
            if !deleted && ports.names.contains(link.name) { sourceCheck?.vrfPortSeen(link) }
            // A port created again comes with its own tc.
            if changed && !deleted { scheduleTrafficControlCheck() }
            if changed || (deleted && keeper.attached.contains(link.ifindex)) {
                scheduleRouteResync()
            } else if !deleted && !link.isRunning {
                // IPv4 routes through a device going down vanish without a word.
                scheduleRouteResync()
            }
        case .address(let address, let deleted):
            logger.debug("address \(address.bytes) \(deleted ? "removed from" : "added to") ifindex \(address.ifindex)")
            sourceCheck?.addressChanged(address, deleted: deleted)
            if deleted { scheduleRouteResync() }
        case .route(let route, let deleted):
            logger.debug("route \(deleted ? "deleted" : "added"): \(route)")
            if !deleted { sourceCheck?.routeSeen(route) }
            keeper.routeChanged(route, deleted: deleted)
        case .neighbour(let neighbour, let deleted):
            keeper.neighbourChanged(neighbour, deleted: deleted)
        case .rule(let rule, let deleted):
            if !deleted { sourceCheck?.ruleSeen(rule) }
            logger.info("\(rule) \(deleted ? "deleted" : "added"): \(request.direct ? "ignored by the fast path (--direct)" : "the fast path's FIB lookups follow it from the next packet")")
        case .reversePathFilter(let ifindex):
            if rereadReversePath() {
                let which = ifindex == -1 ? "all" : ifindex == -2 ? "default" : "ifindex \(ifindex)"
                logger.debug("rp_filter (\(which)) changed: source checks re-read from the netconf event")
            }
        case .trafficControl(let object, _):
            if ports.attachedIfindexes.contains(object.ifindex) { scheduleTrafficControlCheck() }
        case .overrun(let reason):
            resync(reason: reason)
            scheduleTrafficControlCheck()
        }
        // Every notification took the ports back into the cache's keys
        // (its hooks cannot tell a rule's from another's): look again once
        // this burst is handled.
        schedulePortsCheck()
        if case .route = event {
            progress.eventHandled(routes: keeper.routeCount, nextHops: keeper.nextHopCount, route: true)
        } else {
            progress.eventHandled(routes: keeper.routeCount, nextHops: keeper.nextHopCount, route: false)
        }
    }

    private func tick() {
        keeper?.refresh()
        if let fibCache, fibCache.checkHashSettings(), fibCache.enabled {
            // Announced by nothing: until this tick, answers (and, where keys
            // leave the ports out, new flows) followed the old hash.
            logger.notice("multipath hash settings changed: FIB answer cache invalidated")
        }
        if let fibCache, fibCache.enabled { fibCache.leavePortsOut(unless: FibCache.portsMatterNow) }
    }

    /// Lets the cache's keys leave the ports out again, if nothing makes
    /// them matter, a few milliseconds after a burst of events.
    private func schedulePortsCheck() {
        guard let fibCache, fibCache.enabled, !fibCache.portsLeftOut, !portsCheckPending else { return }
        portsCheckPending = true
        Task {
            try? await Task.sleep(for: .milliseconds(10))
            self.portsCheckPending = false
            fibCache.leavePortsOut(unless: FibCache.portsMatterNow)
        }
    }

    private func scheduleRouteResync() {
        guard !routeResyncPending else { return }
        routeResyncPending = true
        Task {
            try? await Task.sleep(for: .milliseconds(300))
            self.resyncRoutes()
        }
    }

    private func resyncRoutes() {
        guard routeResyncPending else { return }
        routeResyncPending = false
        resync(reason: nil, full: false)
    }

    /// Rebuilds what the agent knows from full dumps: ports (full only),
    /// neighbours and routes. A failed one is retried on a timer rather
    /// than at the next change, which may never come.
    private func resync(reason: String?, full: Bool = true) {
        guard let ports, let keeper else { return }
        let full = full || fullResyncOwed
        let started = ContinuousClock.now
        if let reason {
            logger.warning("netlink events lost (\(reason)): resynchronising from a full dump")
        }
        do {
            if full {
                var links: [Link] = []
                try Dump.links(restart: { links.removeAll() }) { links.append($0) }
                ports.reconcile(links)
            }
            var neighbours: [Neighbour] = []
            let attached = ports.attachedIfindexes
            try Dump.neighbours(restart: { neighbours.removeAll() }) {
                if attached.contains($0.ifindex) { neighbours.append($0) }
            }
            let sourceCheck = self.sourceCheck
            try keeper.resync(attached: attached, neighbours: neighbours) { add in
                try Dump.routes { route in
                    sourceCheck?.routeSeen(route)
                    add(route)
                }
            }
            sourceCheck?.sync(try Links.addresses())
        } catch {
            failedResyncs += 1
            fullResyncOwed = full
            let delay = Self.resyncRetryDelay(after: failedResyncs)
            logger.error("resynchronising failed (\(error)); retrying in \(delay.formatted(.units(allowed: [.seconds], width: .narrow)))")
            resyncRetry?.cancel()
            resyncRetry = Task { [weak self] in
                do { try await Task.sleep(for: delay) } catch { return }
                await self?.retryResync()
            }
            return
        }
        progress.resynced(routes: keeper.routeCount, nextHops: keeper.nextHopCount)
        let failures = failedResyncs
        failedResyncs = 0
        fullResyncOwed = false
        resyncRetry?.cancel()
        resyncRetry = nil
        if failures > 0 {
            logger.notice("resynchronised after \(failures) failed \(failures == 1 ? "attempt" : "attempts"): \(keeper.routeCount) routes through fast-path ports, \(keeper.nextHopCount) next hops, \(keeper.managedCount) managed neighbour entries")
        } else if reason != nil {
            let took = ContinuousClock.now - started
            logger.warning("resynchronised in \(took.formatted(.units(allowed: [.seconds, .milliseconds], width: .narrow))): \(keeper.routeCount) routes through fast-path ports, \(keeper.nextHopCount) next hops, \(keeper.managedCount) managed neighbour entries")
        } else if full {
            logger.info("in step with the kernel: \(keeper.routeCount) routes through fast-path ports, \(keeper.nextHopCount) next hops, \(keeper.managedCount) managed neighbour entries")
        }
    }

    private func retryResync() {
        guard failedResyncs > 0 else { return }
        resync(reason: nil, full: fullResyncOwed)
    }

    /// 1, 2, 4, 8, 16, then every 30 seconds: soon after a passing hiccup,
    /// without spinning on a lasting one.
    static func resyncRetryDelay(after failures: Int) -> Duration {
        .seconds(min(30, 1 << min(max(failures - 1, 0), 5)))
    }

    /// Refuses ports that already run XDP: another agent's fast path always,
    /// anything else unless --force. Returns what --force will replace.
    private func checkPortsAreFree(_ ports: [Link], adopting: Set<UInt32>) throws -> [UInt32: XDPAttachment] {
        var replacing: [UInt32: XDPAttachment] = [:]
        for port in ports {
            guard let existing = try XDPAttachment.query(ifindex: port.ifindex) else { continue }
            if let running = try RunningFastPath.open(
                programID: existing.programID,
                ports: [.init(name: port.name, ifindex: port.ifindex, mode: existing.mode)]),
               let agent = running.agent {
                throw FibfastError.portServedByAgent(port: port.name, pid: agent.pid)
            }
            if adopting.contains(port.ifindex) { continue }
            guard request.force else {
                let name = (try? ProgramInfo.open(id: existing.programID))?.1.name ?? "?"
                throw FibfastError.portBusy(port: port.name, program: name, id: existing.programID)
            }
            replacing[port.ifindex] = existing
        }
        return replacing
    }

    /// Fills the config before any port is attached (the ports follow in
    /// PortTable.configure), so the first frame already finds its config.
    func configure(_ maps: FastPathMaps) throws -> FastPathConfigEntry {
        try FastPathConfigEntry(FastPathConfig(direct: request.direct, fragmentsToKernel: fragmentsToKernel,
                                               agentPID: UInt32(bitPattern: getpid()),
                                               agentStarted: UInt64(Date().timeIntervalSince1970)),
                                map: maps.config)
    }
}
