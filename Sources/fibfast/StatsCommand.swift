import ArgumentParser
import FibfastCore
import Foundation

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the fast path's counters, summed over CPUs, per port and in total.",
        discussion: """
            Forwarded and transmitted packets, every reason a packet went to the kernel, and \
            frames lost after the fast path chose to forward (the kernel's XDP tracepoints \
            report them). With --interval, prints rates per second over each interval; with \
            --json, one JSON object per line then. JSON shapes: docs/json.md.
            """
    )

    @Flag(help: "Print JSON for scripts.")
    var json = false

    @Option(help: "Sample every SECONDS and print rates.")
    var interval: Double?

    @Option(help: "With --interval: stop after N samples (default: until interrupted).")
    var count: Int?

    func validate() throws {
        if let interval { try OptionLimits.check(interval: interval) }
        try OptionLimits.check(count: count)
        if count != nil && interval == nil { throw ValidationError("--count needs --interval") }
    }

    func run() async throws {
        try await reportingErrors {
            guard let interval else {
                let report = try StatsReport.current()
                print(json ? try Output.json(report) : StatsText.lines(report).joined(separator: "\n"))
                return
            }
            let sampler = try StatsSampler()
            var printed = 0
            while count.map({ printed < $0 }) ?? true {
                try await Task.sleep(for: .seconds(interval))
                let report = try sampler.next()
                if json {
                    print(try Output.jsonLine(report))
                } else {
                    if printed > 0 { print("") }
                    print(StatsText.lines(report).joined(separator: "\n"))
                }
                fflush(nil)  // all streams: Swift 6 rejects a reference to C stdout
                printed += 1
            }
        }
    }
}
