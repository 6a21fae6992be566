import Foundation
import XCTest

/// Every numeric option of every subcommand, given values that are out of
/// range or not numbers at all: each must be refused with a message naming
/// the option and a plain non-zero exit, never a trap in an integer
/// conversion (SIGILL or SIGTRAP, "Fatal error").
final class OptionFuzzTests: XCTestCase {
    /// Not numbers, or beyond every integer and every finite double.
    static let neverNumbers = ["", " ", "abc", "1x", "1,5", "nan", "NaN", "-nan", "inf", "-inf", "infinity",
                               "1e308", "-1e308", "1e400", "99999999999999999999", "-99999999999999999999",
                               "18446744073709551616", "9223372036854775808", "-9223372036854775809"]
    static let intervals = neverNumbers + ["0", "-0", "-1", "1e-300", "0.05", "86401", "9223372036854775807",
                                           "-9223372036854775808", "4294967296"]
    static let counts = neverNumbers + ["0", "-1", "-9223372036854775808", "1.5", "1e3"]

    /// (arguments before the value, option, values that must all be refused).
    static let cases: [(prefix: [String], option: String, values: [String])] = [
        (["stats"], "--interval", intervals),
        (["stats", "--json"], "--interval", intervals),
        (["stats", "--interval", "1"], "--count", counts),
        (["top"], "--interval", intervals),
        (["top", "--interval", "1"], "--count", counts),
        (["lookup", "10.2.0.2"], "--port", neverNumbers + ["65536", "-1", "4294967296", "1.5"]),
        (["lookup", "10.2.0.2"], "--ttl", neverNumbers + ["256", "-1", "65536", "1.5"]),
    ]

    /// What `fibfast ARGS` did, run with a deadline: a value that slips
    /// through may make a command sample or serve forever.
    func run(_ lab: Lab, _ arguments: [String]) throws -> CommandResult {
        try lab.exec(.rtr, ["timeout", "-s", "KILL", "30", Command.fibfast] + arguments)
    }

    func assertRefused(_ result: CommandResult, _ arguments: [String], naming option: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        let shown = arguments.map { "'\($0)'" }.joined(separator: " ")
        XCTAssertFalse(result.stderr.contains("Fatal error") || result.stderr.contains("Trace/breakpoint")
                       || result.stderr.contains("Illegal instruction"),
                       "\(shown) crashed: \(result.stderr)", file: file, line: line)
        XCTAssertTrue((1...127).contains(result.status),
                      "\(shown): exit status \(result.status) (> 128: killed by a signal or the deadline)",
                      file: file, line: line)
        XCTAssertTrue(result.stderr.contains(option), "\(shown): the error does not name \(option): \(result.stderr)",
                      file: file, line: line)
    }

    /// Both spellings: `--option=value` takes a value starting with '-' as a value.
    func assertEveryValueRefused(_ lab: Lab, _ prefix: [String], _ option: String, _ values: [String],
                                 file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        for value in values {
            for arguments in [prefix + [option, value], prefix + ["\(option)=\(value)"]] {
                assertRefused(try run(lab, arguments), arguments, naming: option, file: file, line: line)
            }
        }
        return values.count * 2
    }

    func testEveryNumericOptionRefusesValuesItCannotTake() throws {
        let lab = try Lab(self, warm: false)
        // attach first, on free ports: a buffer size that slipped through
        // would reach the event socket once the fast path runs.
        var tried = try assertEveryValueRefused(lab, ["attach", "p0", "p1"], "--event-buffer-size", Self.neverNumbers + [
            "0", "-1", "1", "4095", "1073741825", "2147483648", "4294967296", "9223372036854775807",
            "-9223372036854775808", "1.5"])
        tried += try assertEveryValueRefused(lab, ["attach", "p0", "p1"], "--metrics", Self.neverNumbers + [
            "0", "65536", "-1", "1.2.3.4:0", "[::1]:99999", "127.0.0.1:-1", "1e3"])
        XCTAssertEqual(try lab.portsWithXDP(), [], "a refused attach leaves no port attached")

        // The reading commands fail early when nothing runs; with a fast
        // path attached, a bad value would reach the sampling loop.
        _ = try lab.attach()
        for (prefix, option, values) in Self.cases {
            tried += try assertEveryValueRefused(lab, prefix, option, values)
        }
        print("\(tried) malformed option values refused")
    }
}
