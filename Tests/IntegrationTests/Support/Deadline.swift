import Foundation

/// The tests' deadlines only catch hangs, or bound the quiet period after the work has ended
/// (a capture stops listening that long after the last datagram was sent). An emulated CPU,
/// the VM lane's TCG guest on a busy host, runs everything tens of times slower, so there every
/// deadline is stretched by FIBFAST_TEST_DEADLINE_SCALE, which scripts/vm/guest-tests.sh sets.
/// A test that passes never waits for a deadline, so a longer one costs nothing.
enum Deadline {
    static let scale: Double = {
        guard let text = ProcessInfo.processInfo.environment["FIBFAST_TEST_DEADLINE_SCALE"],
              let value = Double(text), value >= 1
        else { return 1 }
        return value
    }()

    static func seconds(_ seconds: Double) -> Double { seconds * scale }
}
