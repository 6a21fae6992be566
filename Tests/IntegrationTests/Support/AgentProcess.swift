import Foundation

/// A process in the background whose output is collected as it runs.
final class BackgroundProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var stdoutText = ""
    private var stderrText = ""

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        out.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.lock.withLock { self?.stdoutText += String(decoding: data, as: UTF8.self) }
        }
        err.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.lock.withLock { self?.stderrText += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    var stdout: String { lock.withLock { stdoutText } }
    var stderr: String { lock.withLock { stderrText } }

    func waitForLine(_ text: String, inStderr: Bool = false, timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (inStderr ? stderr : stdout).contains(text) { return }
            if !process.isRunning { break }
            usleep(20_000)
        }
        if (inStderr ? stderr : stdout).contains(text) { return }
        throw LabError.timeout("'\(text)' from \(process.arguments ?? []): \(stderr)")
    }

    /// Waits for the process to end (killing it after `timeout`); returns stdout.
    func finish(timeout: Double) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(signal: SIGKILL) }
        process.waitUntilExit()
        usleep(50_000)  // let the readability handlers drain
        return stdout
    }

    func kill(signal: Int32) {
        if process.isRunning { Glibc.kill(process.processIdentifier, signal) }
    }

    var isRunning: Bool { process.isRunning }
    var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }
}

/// `fibfast attach` running in a namespace.
final class AgentProcess: @unchecked Sendable {
    let background: BackgroundProcess

    init(namespace: String, arguments: [String]) throws {
        background = try BackgroundProcess(["ip", "netns", "exec", namespace, Command.fibfast] + arguments)
    }

    /// An agent started by a command of the test's own (which must end by
    /// exec'ing fibfast, so that the process is the agent).
    init(command: [String]) throws {
        background = try BackgroundProcess(command)
    }

    func waitUntilRunning(timeout: Double = 10) throws {
        try background.waitForLine("fast path running", inStderr: true, timeout: timeout)
    }

    /// Stops the agent with a signal and waits for it to exit.
    @discardableResult
    func stop(signal: Int32 = SIGINT, timeout: Double = 5) throws -> Int32 {
        background.kill(signal: signal)
        _ = try background.finish(timeout: timeout)
        return background.exitStatus ?? -1
    }

    func kill(signal: Int32) { background.kill(signal: signal) }
    var log: String { background.stderr }
    var isRunning: Bool { background.isRunning }
}
