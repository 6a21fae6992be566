/// When the fast path steps aside for the firewall: the rule the agent's
/// safety watch follows, apart from the reading and the writing.
struct StepAside: Sendable {
    /// Firewall reads started, and the latest one whose answer was used:
    /// reads overlap (the poll and an nftables event), and an older answer
    /// that arrives late must not undo a newer one.
    private var started = 0
    private var used = 0

    /// Numbers a read as it starts.
    mutating func readStarted() -> Int {
        started += 1
        return started
    }

    /// Whether the answer of read `number` is to be used: it is newer than
    /// every answer used so far.
    mutating func use(_ number: Int) -> Bool {
        guard number > used else { return false }
        used = number
        return true
    }

    /// Whether the fast path should stand aside after an answer: when it
    /// found forward-path rules that XDP would bypass, or gave no answer
    /// (not knowing counts as finding rules), unless the operator accepted
    /// the bypass, in which case nothing changes (nil).
    static func aside(rulesFound: Bool?, bypass: Bool) -> Bool? {
        guard !bypass else { return nil }
        return rulesFound ?? true
    }
}
