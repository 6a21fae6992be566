import ArgumentParser
import FibfastCore

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the fast path's counters, summed over CPUs, per port and in total."
    )

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let report = try StatsReport.current()
            if json {
                print(try Output.json(report))
                return
            }
            for port in report.ports + [report.total] {
                print(Self.line(port))
            }
        }
    }

    static func line(_ port: StatsReport.Port) -> String {
        var text = "\(port.name): forwarded \(port.forwarded.packets) pkts \(port.forwarded.bytes) bytes"
        text += " transmitted \(port.transmitted.packets) pkts passed \(port.passed.packets) pkts"
        let reasons = port.passReasons.sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value.packets)" }
        if !reasons.isEmpty { text += "\n    passed: " + reasons.joined(separator: ", ") }
        return text
    }
}
