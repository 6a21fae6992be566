import Glibc

/// Successive readings of the running fast path, each with rates over the
/// time since the one before.
public final class StatsSampler {
    private var running: RunningFastPath
    private var previous: StatsReport
    private var previousTime: Double

    public init() throws {
        guard let running = try RunningFastPath.discover().first else { throw FibfastError.notAttached }
        self.running = running
        previous = try StatsReport.current(of: running)
        previousTime = Self.now()
    }

    /// The first reading, without rates.
    public var first: StatsReport { previous }

    public func next() throws -> StatsReport {
        var report = try StatsReport.current(of: running)
        let time = Self.now()
        // A restarted agent is a new program with fresh counters: start over
        // from it rather than report negative rates.
        if report.programID != previous.programID || !running.isStillAttached {
            guard let fresh = try RunningFastPath.discover().first else { throw FibfastError.notAttached }
            running = fresh
            report = try StatsReport.current(of: fresh)
        }
        let result = report.withRates(since: previous, seconds: time - previousTime)
        previous = report
        previousTime = time
        return result
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

extension RunningFastPath {
    /// Whether the program still runs on at least one of the ports it was
    /// found on: descriptors kept open hold a detached program alive, and its
    /// counters then stand still.
    var isStillAttached: Bool {
        ports.contains { (try? XDPAttachment.query(ifindex: $0.ifindex))??.programID == program.id }
    }
}
