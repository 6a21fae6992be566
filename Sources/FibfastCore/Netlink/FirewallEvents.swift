import CNetlink
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
    private let reader: NetlinkReader
    /// Set by the socket's callback and read after the drain, both on the
    /// reader's thread.
    private final class Flag: @unchecked Sendable { var set = false }
    private let committed = Flag()

    init() throws {
        guard let socket = nl_socket_alloc() else {
            throw FibfastError.netlink(operation: "nftables event socket", code: -NLE_NOMEM)
        }
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
            throw FibfastError.netlink(operation: "joining the nftables event group", code: rc)
        }
        reader = NetlinkReader(socket: socket)
        (changes, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        continuation.onTermination = { [reader] _ in reader.wake() }
    }

    func start() {
        reader.start(name: "fibfast-nftables", drained: { [committed, continuation] drain in
            // Events lost: one of them may have been a commit, so look again.
            if committed.set || drain.lost {
                committed.set = false
                continuation.yield()
            }
            // Any other failure ends the stream; the poll carries on alone.
            return drain.failure == nil
        }, finished: { [continuation] in continuation.finish() })
    }

    func stop() { continuation.finish() }
}
