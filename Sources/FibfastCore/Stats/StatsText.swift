import Foundation

/// Human output for stats and top: terse, one port per line plus indented
/// detail, as `ip -s link` prints it.
public enum StatsText {
    public static func lines(_ report: StatsReport) -> [String] {
        var lines: [String] = []
        for port in report.ports + [report.total] {
            lines.append("\(port.name): forwarded \(port.forwarded.packets) pkts \(port.forwarded.bytes) bytes"
                + "  transmitted \(port.transmitted.packets) pkts  passed \(port.passed.packets) pkts"
                + "  failed \(port.failed) pkts")
            if !port.passReasons.isEmpty {
                lines.append("    passed: " + sortedByCount(port.passReasons.mapValues(\.packets))
                    .map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
            if !port.failures.isEmpty {
                lines.append("    failed: " + port.failures.sorted { $0.key < $1.key }
                    .map { "\($0.key) \($0.value.frames) (\($0.value.lastError))" }.joined(separator: ", "))
            }
            if let rates = port.rates {
                var line = "    rate: forwarded \(packets(rates.forwardedPackets)) \(bits(rates.forwardedBits))"
                    + "  transmitted \(packets(rates.transmittedPackets))  passed \(packets(rates.passedPackets))"
                    + "  failed \(packets(rates.failedPackets))"
                if !rates.passReasons.isEmpty {
                    line += "\n    passing: " + sortedByCount(rates.passReasons)
                        .map { "\($0.key) \(packets($0.value))" }.joined(separator: ", ")
                }
                lines.append(contentsOf: line.split(separator: "\n").map(String.init))
            }
        }
        if let cache = report.fibCache { lines.append(cache.line) }
        if !report.failureTracing {
            lines.append("note: failures are not counted (the agent has no XDP tracepoints attached)")
        }
        return lines
    }

    /// Packets per second, rounded the way a reader compares them.
    public static func packets(_ rate: Double) -> String {
        scaled(rate, unit: "pps")
    }

    /// Bits per second, in tc's units (kbit, Mbit, Gbit).
    public static func bits(_ rate: Double) -> String {
        scaled(rate, unit: "bit/s")
    }

    static func scaled(_ value: Double, unit: String) -> String {
        let prefixes: [(Double, String)] = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (factor, prefix) in prefixes where value >= factor {
            return String(format: "%.2f %@%@", value / factor, prefix, unit)
        }
        return String(format: value < 10 && value != value.rounded() ? "%.1f %@" : "%.0f %@", value, unit)
    }

    /// Largest first, then by name, so the lines do not shuffle between refreshes.
    static func sortedByCount<V: Comparable>(_ values: [String: V]) -> [(key: String, value: V)] {
        values.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
    }
}
