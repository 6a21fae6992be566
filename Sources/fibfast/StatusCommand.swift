import ArgumentParser
import FibfastCore

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show where the fast path runs, which agent owns it and whether it is this build.",
        discussion: """
            Lists the attached ports (ifindex, XDP mode, program id), the agent's pid and uptime, \
            and warns when the running program differs from the one embedded in this binary. \
            Exits 0 also when nothing is attached. JSON shape: docs/json.md.
            """
    )

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let report = try StatusReport.current()
            for warning in report.warnings { Output.error("warning: " + warning) }
            print(json ? try Output.json(report) : report.lines.joined(separator: "\n"))
        }
    }
}
