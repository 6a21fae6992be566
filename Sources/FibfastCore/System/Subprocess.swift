import CLibBPF  // for SOCK_STREAM and SOCK_CLOEXEC: see Sockets.swift
import Glibc

/// Runs a helper tool (nft, iptables-save, ip) and collects what it prints.
///
/// posix_spawn and poll instead of Foundation's Process: Process waits for
/// its child through a CFRunLoop wakeup socket, and where that socket cannot
/// be made the child is never reaped and the agent hangs (seen under the
/// benchmark). The agent runs these tools every second, so they have to be
/// boring: a tool that does not finish in time is killed, with whatever it
/// started, and reported as such.
public struct Subprocess {
    public struct Result: Sendable {
        /// The exit status, or 128 + the signal that ended the tool.
        public var status: Int32
        public var stdout: String
        public var stderr: String
        /// The tool was still running at the deadline and was killed.
        public var timedOut = false
    }

    /// Long enough for nft to list a ruleset of many thousand rules.
    public static let defaultTimeout: Duration = .seconds(10)

    /// A fixed environment: the tools' output is parsed, so no locale.
    public static let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]

    public static func run(_ path: String, _ arguments: [String], environment: [String] = environment,
                           timeout: Duration = defaultTimeout) throws(Errno) -> Result {
        let deadline = ContinuousClock.now + timeout
        let child = try start(path, arguments, environment: environment)
        let (stdout, stderr, finished) = drain(child.stdout, child.stderr, until: deadline)
        close(child.stdout)
        close(child.stderr)
        if !finished { kill(-child.pid, SIGKILL) }
        return Result(status: reap(child.pid),
                      stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self),
                      timedOut: !finished)
    }

    /// A tool started and left running: its pid, and our ends of its stdout,
    /// its stderr and, if asked for, its stdin (else -1: it reads /dev/null).
    /// Whoever started it reads the output, closes the descriptors and reaps it.
    public struct Child: Sendable {
        public let pid: pid_t
        public let stdout: Int32
        public let stderr: Int32
        public let stdin: Int32
    }

    /// Starts a tool in a process group of its own (`kill(-pid, ...)` reaches
    /// whatever it started) and returns at once.
    public static func start(_ path: String, _ arguments: [String], environment: [String] = environment,
                             input: Bool = false) throws(Errno) -> Child {
        // Socket pairs rather than pipes: they can be made close-on-exec
        // atomically (pipe2 is not exported to Swift), so a tool spawned by
        // another thread never inherits our end and holds it open.
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        var pairs: [[Int32]] = []
        func closeAll() { for pair in pairs { close(pair[0]); close(pair[1]) } }
        for _ in 0..<(input ? 3 : 2) {
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, kind, 0, &pair) == 0 else {
                let error = Errno.current
                closeAll()
                throw error
            }
            pairs.append(pair)
        }
        let outPipe = pairs[0], errPipe = pairs[1]
        let inPipe = input ? pairs[2] : nil

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let inPipe {
            posix_spawn_file_actions_adddup2(&actions, inPipe[1], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }

        // The agent ignores SIGPIPE (AttachCommand); ignored signals stay
        // ignored across exec, and the tools expect the default. A process
        // group of its own, so that a timeout kills whatever the tool
        // started too (a wrapper script's children hold the pipes open).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        for pair in pairs { close(pair[1]) }
        guard rc == 0 else {
            for pair in pairs { close(pair[0]) }
            throw Errno(rc)
        }
        return Child(pid: pid, stdout: outPipe[0], stderr: errPipe[0], stdin: inPipe?[0] ?? -1)
    }

    /// Waits for a started tool to end and reaps it: its exit status, or
    /// 128 + the signal that ended it.
    public static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS are macros Swift cannot import.
        let exited = status & 0x7f == 0
        return exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Reads both pipes to their end, whichever fills first, or until the
    /// deadline; `finished` says whether both ended.
    private static func drain(_ out: Int32, _ err: Int32, until deadline: ContinuousClock.Instant)
        -> (out: [UInt8], err: [UInt8], finished: Bool)
    {
        var collected: [[UInt8]] = [[], []]
        var fds = [pollfd(fd: out, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: err, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while fds.contains(where: { $0.fd >= 0 }) {
            let left = deadline - ContinuousClock.now
            if left <= .zero { return (collected[0], collected[1], false) }
            let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            let ready = poll(&fds, nfds_t(fds.count), milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            for index in fds.indices where fds[index].fd >= 0 && fds[index].revents != 0 {
                let count = read(fds[index].fd, &buffer, buffer.count)
                if count > 0 {
                    collected[index] += buffer[0..<count]
                } else if count == 0 || errno != EINTR {
                    fds[index].fd = -1  // poll ignores negative descriptors
                }
            }
        }
        return (collected[0], collected[1], true)
    }
}
