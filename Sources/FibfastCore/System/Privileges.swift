import Foundation

/// The capabilities fibfast needs, read from the process's effective set.
public struct Privileges: Sendable {
    static let netAdmin = 12
    static let sysAdmin = 21
    static let perfmon = 38
    static let bpf = 39

    public let effective: UInt64

    public init(effective: UInt64) { self.effective = effective }

    /// Reads `CapEff` from /proc/self/status.
    public static func current() -> Privileges {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let value = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return Privileges(effective: 0) }
        return Privileges(effective: value)
    }

    func has(_ capability: Int) -> Bool { effective & (1 << UInt64(capability)) != 0 }

    /// Names of the capabilities missing for loading and attaching the fast
    /// path: CAP_NET_ADMIN for XDP, CAP_BPF for the program and maps, and
    /// CAP_PERFMON because the program does arithmetic on packet pointers,
    /// which the verifier allows only to perfmon-capable loaders (checked on
    /// 6.18: without it the load fails with EACCES, "pointer -= pointer
    /// prohibited"). CAP_SYS_ADMIN stands in for both of the last two.
    /// Empty when everything is there.
    public var missingForAttach: [String] {
        var missing: [String] = []
        if !has(Self.netAdmin) { missing.append("CAP_NET_ADMIN") }
        if !has(Self.sysAdmin) {
            if !has(Self.bpf) { missing.append("CAP_BPF") }
            if !has(Self.perfmon) { missing.append("CAP_PERFMON") }
        }
        return missing
    }

    /// Finding another process's programs and links by id needs CAP_SYS_ADMIN.
    public var missingForInspection: [String] {
        has(Self.sysAdmin) ? [] : ["CAP_SYS_ADMIN"]
    }

    /// The check every command that looks at a running fast path passes
    /// (status, stats, top, routes, lookup, detach): through
    /// RunningFastPath.discover or Detacher, never in the commands.
    static func requireInspection() throws(FibfastError) {
        let missing = current().missingForInspection
        if !missing.isEmpty { throw .notPrivileged(missing: missing) }
    }
}
