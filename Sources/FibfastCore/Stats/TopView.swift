import Foundation

/// The table `fibfast top` redraws: one row per port with its rates and why
/// its packets go to the kernel or get lost.
public enum TopView {
    static let columns = ["PORT", "FWD pps", "FWD bit/s", "TX pps", "PASS pps", "FAIL pps", "WHY"]

    public static func table(_ report: StatsReport) -> [String] {
        var rows = [columns]
        for port in report.ports + [report.total] {
            guard let rates = port.rates else {
                rows.append([port.name, "-", "-", "-", "-", "-", ""])
                continue
            }
            var why = StatsText.sortedByCount(rates.passReasons).prefix(3)
                .map { "\($0.key) \(number(StatsText.packets($0.value)))" }
            if rates.failedPackets > 0 {
                why.insert(contentsOf: port.failures.sorted { $0.key < $1.key }
                    .map { "\($0.key) failed (\($0.value.lastError))" }, at: 0)
            }
            rows.append([port.name,
                         number(StatsText.packets(rates.forwardedPackets)),
                         StatsText.bits(rates.forwardedBits).replacingOccurrences(of: "bit/s", with: "bit"),
                         number(StatsText.packets(rates.transmittedPackets)),
                         number(StatsText.packets(rates.passedPackets)),
                         number(StatsText.packets(rates.failedPackets)),
                         why.joined(separator: ", ")])
        }
        return align(rows)
    }

    /// The header above the table in a terminal.
    public static func title(_ report: StatsReport, interval: Double, time: Date) -> String {
        let clock = DateFormatter()
        clock.dateFormat = "HH:mm:ss"
        let tracing = report.failureTracing ? "" : ", failures not counted"
        return "fibfast top: prog \(report.programID), every \(StatsText.scaled(interval, unit: "s"))\(tracing); q quits   \(clock.string(from: time))"
    }

    private static func number(_ text: String) -> String {
        text.replacingOccurrences(of: " pps", with: "")
    }

    /// Left-aligns the first and last column, right-aligns the numbers.
    static func align(_ rows: [[String]]) -> [String] {
        let widths = (0..<columns.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                if column == 0 { return cell + pad }
                if column == columns.count - 1 { return cell }
                return pad + cell
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
    }
}
