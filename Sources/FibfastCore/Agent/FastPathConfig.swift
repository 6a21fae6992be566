import CFastPath
import CLibBPF

/// What the agent has decided for the fast path as a whole (ff_config), as
/// one Swift value: whoever changes a part changes this value, and the
/// entry is written whole from it. Nothing reads the map back to learn
/// what another part of the agent decided.
struct FastPathConfig: Equatable, Sendable {
    /// FIB lookups ignore policy rules (--direct).
    var direct = false
    /// Every frame goes to the kernel (a firewall rule XDP would bypass).
    var stepAside = false
    /// Sources are validated with a full FIB lookup, as the kernel does once
    /// policy rules or user-added local routes exist (SourceCheck).
    var fullSourceCheck = false
    /// Fragments go to the kernel, which reassembles them while conntrack
    /// is in use (Netfilter.Findings.reassembly).
    var fragmentsToKernel = false
    /// The agent that owns the fast path; 0 when none does (left pinned).
    var agentPID: UInt32 = 0
    /// Seconds since the epoch.
    var agentStarted: UInt64 = 0

    /// The map entry, as fastpath_abi.h lays it out.
    var entry: ff_config {
        var config = ff_config()
        config.fib_flags = direct ? UInt32(BPF_FIB_LOOKUP_DIRECT) : 0
        if stepAside { config.flags |= UInt32(FF_CONFIG_STEP_ASIDE) }
        if fullSourceCheck { config.flags |= UInt32(FF_CONFIG_FULL_SOURCE_CHECK) }
        if fragmentsToKernel { config.flags |= UInt32(FF_CONFIG_FRAGMENTS_TO_KERNEL) }
        config.agent_pid = agentPID
        config.agent_started = agentStarted
        return config
    }
}

/// The one writer of ff_config: holds the value last written and writes
/// every change whole.
final class FastPathConfigEntry {
    private(set) var value: FastPathConfig
    private let write: (ff_config) throws -> Void

    /// Writes `initial` at once, so the first frame finds a complete config.
    /// - Parameter write: stores the entry (the map, or a stand-in in tests).
    init(_ initial: FastPathConfig, write: @escaping (ff_config) throws -> Void) throws {
        try write(initial.entry)
        value = initial
        self.write = write
    }

    convenience init(_ initial: FastPathConfig, map: BPFMap<UInt32, ff_config>) throws {
        try self.init(initial) { try map.update(0, $0) }
    }

    /// Applies a change; the value stays as it was when the write fails.
    func change(_ body: (inout FastPathConfig) -> Void) throws {
        var next = value
        body(&next)
        guard next != value else { return }
        try write(next.entry)
        value = next
    }
}
