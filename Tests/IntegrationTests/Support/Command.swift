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

    @discardableResult
    static func run(_ arguments: [String]) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes while the process runs so neither can fill up.
        final class Box: @unchecked Sendable { var data = Data() }
        let stderrBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            stderrBox.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let stderr = stderrBox.data
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus,
                             stdout: String(decoding: stdout, as: UTF8.self),
                             stderr: String(decoding: stderr, as: UTF8.self))
    }
}
