import CNetlink
import Foundation
import Glibc

/// A libnl socket read by a thread of its own: the thread sleeps in poll
/// until the kernel sends or `wake()` is called, drains whatever is queued
/// through the socket's callbacks, and says how the drain went. EventSocket
/// and FirewallEvents differ only in what they make of the messages.
final class NetlinkReader: @unchecked Sendable {
    /// How one drain of the socket ended, besides the messages it handed on.
    struct Drain {
        /// The kernel dropped messages (ENOBUFS, which libnl reports as NLE_NOMEM).
        var lost = false
        /// A receive error other than "nothing more queued".
        var failure: Int32?
    }

    let socket: NetlinkSocket
    /// Written to end the thread; pollable by the thread's own waits.
    let wakeup: Int32

    /// Takes over `socket`: the thread frees it when it ends.
    init(socket: NetlinkSocket) {
        self.socket = socket
        wakeup = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        _ = nl_socket_set_nonblocking(socket.handle)
    }

    /// Ends the thread at its next wake-up; safe from any thread.
    func wake() {
        var one: UInt64 = 1
        _ = write(wakeup, &one, 8)
    }

    /// `drained` runs after every drain and returns false to stop reading;
    /// `finished` runs once the thread stops, before the socket is freed,
    /// with the reason when it stopped by itself rather than by `wake()`.
    func start(name: String, drained: @escaping @Sendable (Drain) -> Bool,
               finished: @escaping @Sendable (_ failure: String?) -> Void) {
        let thread = Thread { [self] in
            finished(read(drained))
            socket.close()
            close(wakeup)
        }
        thread.name = name
        thread.start()
    }

    /// Returns why reading stopped: nil when told to, else the failure.
    private func read(_ drained: (Drain) -> Bool) -> String? {
        var fds = [pollfd(fd: nl_socket_get_fd(socket.handle), events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeup, events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            let ready = poll(&fds, 2, -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { return "poll: \(Errno.current)" }
            if fds[1].revents != 0 { return nil }
            var drain = Drain()
            while true {
                let rc = nl_recvmsgs_default(socket.handle)
                if rc >= 0 { continue }
                if rc == -NLE_AGAIN { break }
                if rc == -NLE_NOMEM {
                    drain.lost = true
                    continue
                }
                drain.failure = rc
                break
            }
            if !drained(drain) {
                return drain.failure.map { "receive: \(Netlink.errorString($0))" } ?? "stopped reading"
            }
        }
    }
}
