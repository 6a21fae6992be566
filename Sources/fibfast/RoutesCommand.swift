import ArgumentParser
import FibfastCore

struct Routes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the routes through fast-path ports and whether the fast path serves them now.",
        discussion: """
            A next hop is served in XDP when its port is up and its neighbour entry is resolved \
            (reachable, stale, delay, probe, permanent); otherwise its packets go to the kernel, \
            and the line says why. Routes are read from the kernel, never from fibfast.
            """
    )

    @Flag(help: "Print JSON for scripts (see docs/json.md).")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let report = try RouteReport.current()
            if json {
                print(try Output.json(report))
                return
            }
            for entry in report.routes { print(Self.line(entry)) }
        }
    }

    static func line(_ entry: RouteReport.Entry) -> String {
        var text = entry.destination
        if entry.table != "main" { text += " table \(entry.table)" }
        if entry.metric != 0 { text += " metric \(entry.metric)" }
        text += ": \(entry.status)"
        for hop in entry.nexthops {
            var part = entry.nexthops.count > 1 ? "\n    nexthop" : ""
            if let gateway = hop.gateway { part += " via \(gateway)" }
            part += " dev \(hop.dev)"
            if entry.nexthops.count > 1 { part += ": \(hop.status)" }
            part += hop.gateway == nil ? " (connected)" : " (neighbour \(hop.neighbour)\(hop.managed ? ", managed" : ""))"
            if let reason = hop.reason { part += " - \(reason)" }
            text += part
        }
        return text
    }
}
