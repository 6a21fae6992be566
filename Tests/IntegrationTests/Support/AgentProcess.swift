import FibfastCore
import Foundation

/// A process in the background whose output is collected as it runs. Waits
/// on it wake up on its output and its exit, not on a timer. Started with the
/// project's Subprocess (posix_spawn), not Foundation's Process, which can
/// fail to reap its child and hang (see Subprocess.swift).
final class BackgroundProcess: @unchecked Sendable {
    let pid: pid_t
    let arguments: [String]
    private let changed = NSCondition()
    private var stdoutText = ""
    private var stderrText = ""
    private var openPipes = 2
    private var exited = false
    private var status: Int32 = -1
    private let input: Int32

    /// With `input`, the process reads from a pipe the test writes to and
    /// closes (`say`, `closeInput`); otherwise its stdin is /dev/null.
    init(_ arguments: [String], input wantsInput: Bool = false) throws {
        self.arguments = arguments
        // A process that is gone when the test writes to it must fail the
        // write, not kill the whole test run with SIGPIPE.
        if wantsInput { signal(SIGPIPE, SIG_IGN) }
        let child = try Subprocess.start("/usr/bin/env", arguments, environment: Command.environment,
                                         input: wantsInput)
        pid = child.pid
        input = child.stdin
        collect(child.stdout, into: \.stdoutText)
        collect(child.stderr, into: \.stderrText)
        Thread.detachNewThread { [self] in awaitExit() }
    }

    deinit {
        if input >= 0 { close(input) }
    }

    /// Reads a pipe to its end on a thread of its own, with plain read(2):
    /// FileHandle's readabilityHandler crashes now and then on Linux
    /// (swift-corelibs-foundation issue 3276). The thread owns the descriptor
    /// and closes it at the end, so it cannot be closed and reused under the read.
    private func collect(_ fd: Int32, into text: ReferenceWritableKeyPath<BackgroundProcess, String>) {
        Thread.detachNewThread { [self] in
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                changed.withLock {
                    if count > 0 {
                        self[keyPath: text] += String(decoding: buffer[..<count], as: UTF8.self)
                    } else {
                        openPipes -= 1
                    }
                    changed.broadcast()
                }
                if count <= 0 { return }
            }
        }
    }

    /// Learns that the process ended without reaping it (WNOWAIT), then
    /// reaps it under the lock that `kill` takes: a signal can never reach
    /// another process that was given the same pid.
    private func awaitExit() {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
        changed.withLock {
            status = Subprocess.reap(pid)
            exited = true
            changed.broadcast()
        }
    }

    var stdout: String { changed.withLock { stdoutText } }
    var stderr: String { changed.withLock { stderrText } }

    /// What a wait sees each time the process prints or ends.
    struct State {
        var stdout: String
        var stderr: String
        /// Exited, and everything it printed is in.
        var over: Bool
        var exited: Bool
    }

    /// Waits until `condition` holds, re-checked each time the process
    /// prints or ends; false if `timeout` passed first.
    func wait(timeout: Double, until condition: (State) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(Deadline.seconds(timeout))
        return changed.withLock {
            func state() -> State {
                State(stdout: stdoutText, stderr: stderrText, over: exited && openPipes == 0, exited: exited)
            }
            while !condition(state()) {
                if !changed.wait(until: deadline) { return condition(state()) }
            }
            return true
        }
    }

    func waitForLine(_ text: String, inStderr: Bool = false, timeout: Double) throws {
        _ = wait(timeout: timeout) { ($0.over || (inStderr ? $0.stderr : $0.stdout).contains(text)) }
        guard (inStderr ? stderr : stdout).contains(text) else {
            throw LabError.timeout("'\(text)' from \(arguments): \(stderr)")
        }
    }

    /// Whole lines of stdout (a line still being written is not one yet)
    /// that start with `prefix`.
    func lines(startingWith prefix: String) -> Int { Self.lines(stdout, prefix) }

    private static func lines(_ text: String, _ prefix: String) -> Int {
        text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().filter { $0.hasPrefix(prefix) }.count
    }

    /// Waits until stdout has `count` whole lines starting with `prefix`.
    func waitForLines(_ count: Int, startingWith prefix: String, timeout: Double) throws {
        _ = wait(timeout: timeout) { $0.over || Self.lines($0.stdout, prefix) >= count }
        guard lines(startingWith: prefix) >= count else {
            throw LabError.timeout("\(count) lines '\(prefix)...' from \(arguments): \(stdout) \(stderr)")
        }
    }

    /// Writes a line to the process's stdin (a process started with `input`).
    func say(_ line: String) {
        guard input >= 0 else { return }
        var bytes = Array((line + "\n").utf8)[...]
        while !bytes.isEmpty {
            let count = bytes.withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return }  // the process is gone: its exit tells the test
            bytes = bytes.dropFirst(count)
        }
    }

    /// The process reads end of file (a shut-down socket: the descriptor
    /// itself stays ours until deinit, so it cannot be reused meanwhile).
    func closeInput() {
        if input >= 0 { shutdown(input, Int32(SHUT_WR)) }
    }

    /// Waits for the process to end (killing it after `timeout`) and for all
    /// it printed; returns stdout.
    func finish(timeout: Double) throws -> String {
        if !wait(timeout: timeout, until: { $0.exited }) { kill(signal: SIGKILL) }
        // SIGKILL cannot be held off: this wait ends.
        _ = wait(timeout: 3600) { $0.exited }
        // The last of its output may still be on the way: wait for the pipes
        // to close, but not for ever if a child of its own keeps them open.
        _ = wait(timeout: 5) { $0.over }
        return stdout
    }

    func kill(signal: Int32) {
        changed.withLock {
            if !exited { _ = Glibc.kill(pid, signal) }
        }
    }

    var isRunning: Bool { changed.withLock { !exited } }
    /// The exit status, or 128 + the signal that ended it; nil while it runs.
    var exitStatus: Int32? { changed.withLock { exited ? status : nil } }
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

    /// Bounded generously: in the emulated VM, on a loaded machine, loading
    /// and attaching has been seen to take longer than 10 s.
    func waitUntilRunning(timeout: Double = 60) throws {
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
