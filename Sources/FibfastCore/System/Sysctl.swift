import Foundation

/// Kernel settings under /proc/sys. /proc/sys/net follows the network
/// namespace of the process, so this reads the namespace fibfast runs in.
public enum Sysctl {
    public static func path(_ name: String) -> String {
        "/proc/sys/" + name.replacingOccurrences(of: ".", with: "/")
    }

    public static func read(_ name: String) -> String? {
        (try? String(contentsOfFile: path(name), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public static func write(_ name: String, _ value: String) throws {
        do {
            try (value + "\n").write(toFile: path(name), atomically: false, encoding: .utf8)
        } catch {
            throw FibfastError.sysctl(name: name, value: value)
        }
    }
}
