/// A bond port's mode and slaves in `fibfast status`, as the kernel has
/// them now (docs/json.md).
public struct BondStatus: Sendable, Codable, Equatable {
    public var mode: String
    /// The transmit hash policy; nil in modes that do not hash.
    public var hashPolicy: String?
    public var slaves: [Slave]
    /// The human line: `bond active-backup, slaves eth2 (active), eth3 (backup)`.
    public var summary: String

    public struct Slave: Sendable, Codable, Equatable {
        public var name: String
        /// "active" (the fast path takes its frames) or "backup" (the kernel does).
        public var state: String
        public var up: Bool
    }

    init(_ bond: Bond) {
        mode = bond.modeName
        hashPolicy = bond.hashes ? bond.hashName : nil
        slaves = bond.members.map { Slave(name: $0.name, state: $0.active ? "active" : "backup", up: $0.isRunning) }
        summary = bond.summary
    }
}
