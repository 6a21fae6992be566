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
    }

    public var programID: UInt32
    public var ports: [Port]
    public var total: Port

    public init(programID: UInt32, counters: [PortCounters], names: [UInt32: String]) {
        self.programID = programID
        func port(_ c: PortCounters, name: String) -> Port {
            var reasons: [String: Count] = [:]
            for verdict in Verdict.passReasons where c[verdict].packets > 0 {
                reasons[verdict.description] = c[verdict]
            }
            return Port(name: name, ifindex: c.ifindex, forwarded: c[.forwarded],
                        transmitted: c[.transmitted], passed: c.passed, passReasons: reasons)
        }
        ports = counters.filter { $0.ifindex != 0 || !$0.byVerdict.isEmpty }.map {
            port($0, name: $0.ifindex == 0 ? "(unknown)" : names[$0.ifindex] ?? "if\($0.ifindex)")
        }
        var sum: [Verdict: Count] = [:]
        for c in counters {
            for (verdict, count) in c.byVerdict { sum[verdict, default: Count()] = sum[verdict, default: Count()] + count }
        }
        total = port(PortCounters(ifindex: 0, byVerdict: sum), name: "total")
    }

    /// Reads the counters of the fast path running in this namespace.
    public static func current() throws -> StatsReport {
        guard let running = try RunningFastPath.discover().first else { throw FibfastError.notAttached }
        let names = Dictionary(try Links.all().map { ($0.ifindex, $0.name) }, uniquingKeysWith: { a, _ in a })
        return StatsReport(programID: running.program.id, counters: running.maps.readCounters(), names: names)
    }
}
