/// Counters of a running fast path, per port and in total, in the shape
/// `fibfast stats --json` prints (documented in docs/json.md).
public struct StatsReport: Sendable, Codable, Equatable {
    public struct Port: Sendable, Codable, Equatable {
        public var name: String
        public var ifindex: UInt32
        public var forwarded: Count
        public var transmitted: Count
        public var passed: Count
        /// Pass-to-kernel reasons that counted anything, by verdict name.
        public var passReasons: [String: Count]
        /// Frames lost after the fast path chose to forward, all reasons.
        public var failed: UInt64
        /// Failure reasons that counted anything, by XDPFailure name.
        public var failures: [String: Failure]
        /// Per second over the last interval; only when sampling with one.
        public var rates: Rates?
    }

    public struct Failure: Sendable, Codable, Equatable {
        public var frames: UInt64
        /// The kernel's reason for the latest one: EOPNOTSUPP, ENXIO, "action aborted".
        public var lastError: String

        public init(frames: UInt64, lastError: String) {
            self.frames = frames
            self.lastError = lastError
        }
    }

    public struct Rates: Sendable, Codable, Equatable {
        public var forwardedPackets: Double
        /// Bits per second, as interfaces are rated.
        public var forwardedBits: Double
        public var transmittedPackets: Double
        public var passedPackets: Double
        public var failedPackets: Double
        /// Packets per second by pass reason, reasons that moved only.
        public var passReasons: [String: Double]
    }

    public var programID: UInt32
    /// Whether the agent's tracepoint programs count failures; when false,
    /// `failed` stays 0 whatever happens.
    public var failureTracing: Bool
    /// Seconds the rates were measured over; nil for a single reading.
    public var interval: Double?
    public var ports: [Port]
    public var total: Port
    /// The FIB answer cache's counters; nil for a program without one.
    public var fibCache: FibCacheReport?

    public init(programID: UInt32, counters: [PortCounters], names: [UInt32: String], failureTracing: Bool = true) {
        self.programID = programID
        self.failureTracing = failureTracing
        func port(_ c: PortCounters, name: String) -> Port {
            var reasons: [String: Count] = [:]
            for verdict in Verdict.passReasons where c[verdict].packets > 0 {
                reasons[verdict.description] = c[verdict]
            }
            var failures: [String: Failure] = [:]
            for (kind, count) in c.failures where count.frames > 0 {
                failures[kind.description] = Failure(frames: count.frames, lastError: kind.describe(code: count.lastCode))
            }
            return Port(name: name, ifindex: c.ifindex, forwarded: c[.forwarded],
                        transmitted: c[.transmitted], passed: c.passed, passReasons: reasons,
                        failed: failures.values.reduce(0) { $0 &+ $1.frames }, failures: failures)
        }
        ports = counters.filter { $0.ifindex != 0 || !$0.byVerdict.isEmpty }.map {
            port($0, name: $0.ifindex == 0 ? "(unknown)" : names[$0.ifindex] ?? "if\($0.ifindex)")
        }
        var sum: [Verdict: Count] = [:]
        var failureSum: [XDPFailure: FailureCount] = [:]
        for c in counters {
            for (verdict, count) in c.byVerdict { sum[verdict, default: Count()] = sum[verdict, default: Count()] + count }
            for (kind, count) in c.failures {
                let previous = failureSum[kind]?.frames ?? 0
                failureSum[kind] = FailureCount(frames: previous &+ count.frames, lastCode: count.lastCode)
            }
        }
        total = port(PortCounters(ifindex: 0, byVerdict: sum, failures: failureSum), name: "total")
    }

    /// This reading with per-second rates against an earlier one of the same
    /// program. Counters only grow while a program lives; a port missing
    /// from `earlier` (just added) gets no rates rather than a made-up spike.
    public func withRates(since earlier: StatsReport, seconds: Double) -> StatsReport {
        guard seconds > 0, earlier.programID == programID else { return self }
        var result = self
        result.interval = seconds
        func rates(_ now: Port, _ then: Port) -> Rates {
            func perSecond(_ a: UInt64, _ b: UInt64) -> Double { a >= b ? Double(a - b) / seconds : 0 }
            var reasons: [String: Double] = [:]
            for (name, count) in now.passReasons {
                let rate = perSecond(count.packets, then.passReasons[name]?.packets ?? 0)
                if rate > 0 { reasons[name] = rate }
            }
            return Rates(forwardedPackets: perSecond(now.forwarded.packets, then.forwarded.packets),
                         forwardedBits: perSecond(now.forwarded.bytes, then.forwarded.bytes) * 8,
                         transmittedPackets: perSecond(now.transmitted.packets, then.transmitted.packets),
                         passedPackets: perSecond(now.passed.packets, then.passed.packets),
                         failedPackets: perSecond(now.failed, then.failed),
                         passReasons: reasons)
        }
        result.ports = ports.map { port in
            var port = port
            if let then = earlier.ports.first(where: { $0.ifindex == port.ifindex }) { port.rates = rates(port, then) }
            return port
        }
        result.total.rates = rates(total, earlier.total)
        return result
    }

    /// Reads the counters of the fast path running in this namespace.
    public static func current() throws -> StatsReport {
        guard let running = try RunningFastPath.discover().first else { throw FibfastError.notAttached }
        return try current(of: running)
    }

    public static func current(of running: RunningFastPath) throws -> StatsReport {
        try reading(programID: running.program.id, maps: running.maps,
                    failureTracing: !running.failureTracepoints.isEmpty)
    }

    /// Reads the counters from a program's maps, as the agent that loaded it
    /// holds them: the agent's metrics need no right to open the program by
    /// id (CAP_SYS_ADMIN) and report its own fast path, whatever runs beside it.
    public static func reading(programID: UInt32, maps: FastPathMaps, failureTracing: Bool) throws -> StatsReport {
        let names = Dictionary(try Links.all().map { ($0.ifindex, $0.name) }, uniquingKeysWith: { a, _ in a })
        var report = StatsReport(programID: programID, counters: maps.readCounters(), names: names,
                                 failureTracing: failureTracing)
        report.fibCache = FibCacheReport(maps: maps)
        return report
    }
}
