import FibfastCore
import Foundation

/// Runs a program to completion and keeps what it printed.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var succeeded: Bool { status == 0 }
}

enum Command {
    /// The package root, found from this file's path.
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The fibfast binary under test: FIBFAST_BIN (set by `make test`), or
    /// the debug build next to the tests.
    static var fibfast: String {
        if let path = ProcessInfo.processInfo.environment["FIBFAST_BIN"] { return path }
        return root.appendingPathComponent(".build/debug/fibfast").path
    }

    /// The interpreter for every Python helper the tests run (Tests/lab/*.py
    /// and inline scripts): Debian's, which scripts/install-deps.sh installs.
    /// A `python3` found on PATH may be a version manager's shim that costs a
    /// fraction of a second a start. FIBFAST_TEST_PYTHON overrides it, to try
    /// the tests with another interpreter (a deliberately slow one, say).
    static var python: String {
        ProcessInfo.processInfo.environment["FIBFAST_TEST_PYTHON"] ?? "/usr/bin/python3"
    }

    /// The test's own environment, handed on to what it runs (PATH finds the
    /// toolchain, FIBFAST_* settings reach the lab's scripts).
    static let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }

    /// Runs a program to its end with the project's Subprocess, not Foundation's
    /// Process (which can fail to reap its child and hang: see Subprocess.swift).
    /// `timeout` only catches a hang: the program is killed and the result says so.
    @discardableResult
    static func run(_ arguments: [String], timeout: Double = 900) throws -> CommandResult {
        let result = try Subprocess.run("/usr/bin/env", arguments, environment: environment,
                                        timeout: .seconds(Deadline.seconds(timeout)))
        return CommandResult(status: result.status, stdout: result.stdout,
                             stderr: result.stderr + (result.timedOut ? "\n(killed after \(Int(timeout)) s)" : ""))
    }
}
