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
    static let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]

    public static func run(_ path: String, _ arguments: [String],
                           timeout: Duration = defaultTimeout) throws(Errno) -> Result {
        let deadline = ContinuousClock.now + timeout
        // Socket pairs rather than pipes: they can be made close-on-exec
        // atomically (pipe2 is not exported to Swift), so a tool spawned by
        // another thread never inherits our end and holds it open.
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, kind, 0, &outPipe) == 0 else { throw Errno.current }
        guard socketpair(AF_UNIX, kind, 0, &errPipe) == 0 else {
            let error = Errno.current
            close(outPipe[0]); close(outPipe[1])
            throw error
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
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
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(outPipe[0]); close(errPipe[0])
            throw Errno(rc)
        }

        let (stdout, stderr, finished) = drain(outPipe[0], errPipe[0], until: deadline)
        close(outPipe[0])
        close(errPipe[0])
        if !finished { kill(-pid, SIGKILL) }

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS are macros Swift cannot import.
        let exited = status & 0x7f == 0
        return Result(status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f),
                      stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self),
                      timedOut: !finished)
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
