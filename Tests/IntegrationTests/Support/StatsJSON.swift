import Foundation

/// `fibfast stats --json` as the tests read it, written from docs/json.md
/// rather than borrowed from FibfastCore, so the documented shape is what
/// is tested.
struct Stats: Decodable {
    struct Count: Decodable { var packets: UInt64; var bytes: UInt64 }
    struct Failure: Decodable { var frames: UInt64; var lastError: String }
    struct Rates: Decodable { var forwardedPackets: Double; var transmittedPackets: Double; var passedPackets: Double }
    struct Port: Decodable {
        var name: String
        var forwarded: Count
        var transmitted: Count
        var passed: Count
        var passReasons: [String: Count]
        var failed: UInt64
        var failures: [String: Failure]
        var rates: Rates?
        func passed(_ reason: String) -> UInt64 { passReasons[reason]?.packets ?? 0 }
    }
    var programID: UInt32
    var failureTracing: Bool
    var interval: Double?
    var ports: [Port]
    var total: Port
    struct FibCache: Decodable {
        var enabled: Bool
        var hits: UInt64
        var misses: UInt64
        var bypassed: UInt64
        var invalidations: UInt64
        var hooks: [String]
        var hooksRefused: [String]
        var portsLeftOut: Bool
    }
    var fibCache: FibCache?

    /// Throws rather than returning nil: a test that force-unwraps a missing
    /// port crashes the whole test process, and no lab's teardown runs.
    func port(_ name: String) throws -> Port {
        guard let port = ports.first(where: { $0.name == name }) else {
            throw LabError.command("fibfast stats", "no port \(name) in \(ports.map(\.name))")
        }
        return port
    }
}
