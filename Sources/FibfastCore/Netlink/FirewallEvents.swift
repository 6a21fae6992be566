import CNetlink
import Foundation
import Glibc

/// nftables announces every committed ruleset change on NFNLGRP_NFTABLES,
/// ending each batch with NFT_MSG_NEWGEN. This socket turns those into a
/// "look again" signal, so the agent steps aside as soon as a rule that XDP
/// would bypass exists rather than at its next poll. iptables-nft goes
/// through nftables too; iptables-legacy announces nothing and stays polled.
final class FirewallEvents: @unchecked Sendable {
    /// One element per burst of changes; consecutive ones coalesce.
    let changes: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    private let socket: OpaquePointer
    private let wakeup: Int32
    private final class Flag { var set = false }
    private let committed = Flag()

    init() throws {
        guard let socket = nl_socket_alloc() else {
            throw FibfastError.netlink(operation: "nftables event socket", code: -NLE_NOMEM)
        }
        self.socket = socket
        (changes, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        wakeup = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        nl_socket_disable_seq_check(socket)
        let context = Unmanaged.passUnretained(committed).toOpaque()
        nl_socket_modify_cb(socket, NL_CB_VALID, NL_CB_CUSTOM, { message, context in
            guard let message, let context, let header = nlmsg_hdr(message) else { return Int32(NL_OK.rawValue) }
            if Int32(header.pointee.nlmsg_type) == (NFNL_SUBSYS_NFTABLES << 8) | Int32(NFT_MSG_NEWGEN.rawValue) {
                Unmanaged<Flag>.fromOpaque(context).takeUnretainedValue().set = true
            }
            return Int32(NL_OK.rawValue)
        }, context)
        var rc = nl_connect(socket, NETLINK_NETFILTER)
        if rc >= 0 { rc = nl_socket_add_membership(socket, Int32(NFNLGRP_NFTABLES.rawValue)) }
        if rc < 0 {
            nl_socket_free(socket)
            close(wakeup)
            throw FibfastError.netlink(operation: "joining the nftables event group", code: rc)
        }
        _ = nl_socket_set_nonblocking(socket)
        continuation.onTermination = { [wakeup] _ in
            var one: UInt64 = 1
            _ = write(wakeup, &one, 8)
        }
    }

    func start() {
        let thread = Thread { [self] in self.readLoop() }
        thread.name = "fibfast-nftables"
        thread.start()
    }

    func stop() { continuation.finish() }

    private func readLoop() {
        var fds = [pollfd(fd: nl_socket_get_fd(socket), events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeup, events: Int16(POLLIN), revents: 0)]
        var failed = false
        while !failed {
            fds[0].revents = 0
            fds[1].revents = 0
            let ready = poll(&fds, 2, -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 || fds[1].revents != 0 { break }
            while true {
                let rc = nl_recvmsgs_default(socket)
                if rc >= 0 { continue }
                if rc == -NLE_AGAIN { break }
                // Events lost (ENOBUFS, reported as NLE_NOMEM): one of them
                // may have been a commit, so look again.
                if rc == -NLE_NOMEM { committed.set = true; continue }
                // Anything else: the stream ends and the poll carries on alone.
                failed = true
                break
            }
            if committed.set {
                committed.set = false
                continuation.yield()
            }
        }
        continuation.finish()
        nl_socket_free(socket)
        close(wakeup)
    }
}
