import ArgumentParser
import FibfastCore

/// The ranges numeric options accept. A value outside is refused with the
/// option's name, before it can reach a conversion to a fixed-size integer
/// (a sleep in nanoseconds, a socket option), where Swift traps instead of
/// failing.
enum OptionLimits {
    /// Seconds between samples for `stats` and `top`: below 0.1 the rates
    /// mostly measure the sampling; a day is longer than anyone watches.
    static let interval: ClosedRange<Double> = 0.1...86_400

    /// The netlink event socket's receive buffer in bytes: below a page the
    /// kernel cannot queue one message; the kernel doubles what it is
    /// given, and twice 1 GiB is the most an int holds.
    static let eventBufferSize: ClosedRange<Int> = 4096...(1 << 30)

    static func check(interval value: Double) throws {
        // NaN fails every comparison, so it must be refused by name.
        guard value.isFinite, interval.contains(value) else {
            throw ValidationError("--interval must be from 0.1 to 86400 seconds, not \(value)")
        }
    }

    static func check(count value: Int?) throws {
        if let value, value < 1 { throw ValidationError("--count must be at least 1, not \(value)") }
    }

    static func check(eventBufferSize value: Int) throws {
        guard eventBufferSize.contains(value) else {
            throw ValidationError("--event-buffer-size must be from \(eventBufferSize.lowerBound) to \(eventBufferSize.upperBound) bytes, not \(value)")
        }
    }
}
