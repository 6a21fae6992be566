import CFastPath

/// Packets and bytes.
public struct Count: Sendable, Equatable, Codable {
    public var packets: UInt64
    public var bytes: UInt64

    public init(packets: UInt64 = 0, bytes: UInt64 = 0) {
        self.packets = packets
        self.bytes = bytes
    }

    public static func + (a: Count, b: Count) -> Count {
        Count(packets: a.packets &+ b.packets, bytes: a.bytes &+ b.bytes)
    }
}

/// All of one port's counters at one moment, summed over CPUs.
public struct PortCounters: Sendable, Equatable {
    public var ifindex: UInt32
    public var byVerdict: [Verdict: Count]
    /// Failures the kernel's XDP tracepoints reported for this port.
    public var failures: [XDPFailure: FailureCount]

    public init(ifindex: UInt32, byVerdict: [Verdict: Count], failures: [XDPFailure: FailureCount] = [:]) {
        self.ifindex = ifindex
        self.byVerdict = byVerdict
        self.failures = failures
    }

    public subscript(verdict: Verdict) -> Count { byVerdict[verdict] ?? Count() }

    /// Everything handed to the kernel on this port.
    public var passed: Count { Verdict.passReasons.reduce(Count()) { $0 + self[$1] } }
}

extension FastPathMaps {
    /// Reads every port's counters. `ifindex` 0 stands for frames from
    /// ports the agent had not configured.
    public func readCounters() -> [PortCounters] {
        var slots = portSlots().map { (ifindex: $0.key, slot: $0.value) }
        slots.append((0, UInt32(FF_SLOT_UNKNOWN)))
        return slots.sorted { $0.ifindex < $1.ifindex }.map { port in
            var byVerdict: [Verdict: Count] = [:]
            for verdict in Verdict.allCases {
                let index = ff_counter_index(port.slot, verdict.rawValue)
                let total = counters.lookupPerCPU(index)
                    .reduce(Count()) { $0 + Count(packets: $1.packets, bytes: $1.bytes) }
                if total.packets != 0 { byVerdict[verdict] = total }
            }
            return PortCounters(ifindex: port.ifindex, byVerdict: byVerdict, failures: readFailures(slot: port.slot))
        }
    }

    private func readFailures(slot: UInt32) -> [XDPFailure: FailureCount] {
        guard let xdpFailures else { return [:] }
        var result: [XDPFailure: FailureCount] = [:]
        for kind in XDPFailure.allCases {
            let index = ff_xdp_error_index(slot, kind.rawValue)
            let perCPU = xdpFailures.lookupPerCPU(index)
            let frames = perCPU.reduce(UInt64(0)) { $0 &+ $1.frames }
            guard frames != 0 else { continue }
            // Which CPU saw the latest event is unknown; any CPU's code is a
            // true example of what went wrong.
            let code = perCPU.first { $0.last_code != 0 }?.last_code ?? 0
            result[kind] = FailureCount(frames: frames, lastCode: code)
        }
        return result
    }
}
