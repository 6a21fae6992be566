import Foundation

/// The page `attach --metrics` serves, read on each scrape from the maps of
/// the agent's own program. The agent holds their descriptors already;
/// opening the running program by id, as `fibfast stats` does, takes
/// CAP_SYS_ADMIN, which the systemd unit does not grant.
///
/// The server is up before the agent attaches anything (a bad address must
/// fail while every port is still the kernel's), so until the agent runs
/// the page is a 503.
public final class MetricsPage: @unchecked Sendable {
    private let lock = NSLock()
    private var source: (program: FastPathProgram, failureTracing: Bool)?
    private var progress: FollowProgress?

    public init() {}

    /// Serves this agent's counters from now on; call it once it runs.
    public func show(_ agent: Agent) async {
        let source = await agent.countersSource
        lock.withLock {
            self.source = source
            self.progress = agent.progress
        }
    }

    public func render() throws -> String {
        guard let (source, progress) = lock.withLock({ self.source.map { ($0, self.progress) } }) else {
            throw FibfastError.metricsNotRunning
        }
        return PrometheusText.render(try StatsReport.reading(
            programID: source.program.info.id, maps: source.program.maps, failureTracing: source.failureTracing))
            + (progress.map { PrometheusText.render($0.snapshot) } ?? "")
    }
}

extension Agent {
    /// The running program, and whether its failure tracepoints count.
    var countersSource: (program: FastPathProgram, failureTracing: Bool)? {
        program.map { ($0, failureWatch != nil) }
    }
}
