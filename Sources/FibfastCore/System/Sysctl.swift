import Foundation

/// Kernel settings under /proc/sys. /proc/sys/net follows the network
/// namespace of the process, so this reads the namespace fibfast runs in.
///
/// Names are written as sysctl(8) writes them: dots between the parts, and
/// a dot inside a part (an interface called eth0.100) written as '/', so
/// net.ipv4.conf.eth0/100.rp_filter is /proc/sys/net/ipv4/conf/eth0.100/rp_filter.
/// Reads a setting by its sysctl(8) name; nil when it cannot be read.
/// The agent's code that decides from sysctls takes one (Sysctl.read by
/// default), so unit tests hand it the settings they need.
public typealias SysctlReader = (String) -> String?

public enum Sysctl {
    public static func path(_ name: String) -> String {
        "/proc/sys/" + String(name.map { $0 == "." ? "/" : $0 == "/" ? "." : $0 })
    }

    /// The name of a setting from its parts, one of which may be an
    /// interface name with dots in it.
    public static func name(_ parts: String...) -> String {
        parts.map { $0.replacingOccurrences(of: ".", with: "/") }.joined(separator: ".")
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
