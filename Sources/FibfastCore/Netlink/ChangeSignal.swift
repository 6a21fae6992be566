import CNetlink
import Glibc

/// A netlink multicast group turned into a "look again" signal: the agent
/// re-reads what it depends on as soon as the kernel announces a change,
/// rather than at its next poll. Used for nftables commits and for changes
/// of devices' XDP features.
final class ChangeSignal: @unchecked Sendable {
    /// One element per burst of changes; consecutive ones coalesce.
    let changes: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    private let reader: NetlinkReader
    private let name: String
    /// Set by the socket's callback and read after the drain, both on the
    /// reader's thread.
    private final class Match: @unchecked Sendable {
        let matches: (UnsafeMutablePointer<nlmsghdr>) -> Bool
        var seen = false
        init(_ matches: @escaping (UnsafeMutablePointer<nlmsghdr>) -> Bool) { self.matches = matches }
    }
    private let match: Match

    /// nftables announces every committed ruleset change on
    /// NFNLGRP_NFTABLES, ending each batch with NFT_MSG_NEWGEN. iptables-nft
    /// goes through nftables too; iptables-legacy announces nothing and
    /// stays polled.
    static func nftablesCommits() throws -> ChangeSignal {
        let newGeneration = (NFNL_SUBSYS_NFTABLES << 8) | Int32(NFT_MSG_NEWGEN.rawValue)
        return try ChangeSignal(name: "nftables", protocol: NETLINK_NETFILTER,
                                group: UInt32(NFNLGRP_NFTABLES.rawValue)) { Int32($0.pointee.nlmsg_type) == newGeneration }
    }

    /// The netdev family's "mgmt" group: devices added, removed, or whose
    /// XDP features changed (a veth's, when its peer gains or loses XDP or GRO).
    static func xdpFeatureChanges(family: UInt16, group: UInt32) throws -> ChangeSignal {
        try ChangeSignal(name: "xdp-features", protocol: NETLINK_GENERIC, group: group) { $0.pointee.nlmsg_type == family }
    }

    init(name: String, protocol: Int32, group: UInt32,
         matches: @escaping (UnsafeMutablePointer<nlmsghdr>) -> Bool) throws {
        let operation = "joining the \(name) event group"
        let socket = try NetlinkSocket(protocol: `protocol`, operation: operation)
        self.name = name
        let match = Match(matches)
        self.match = match
        nl_socket_disable_seq_check(socket.handle)
        socket.onMessage { message in
            if let header = nlmsg_hdr(message), match.matches(header) { match.seen = true }
        }
        let rc = nl_socket_add_membership(socket.handle, Int32(bitPattern: group))
        if rc < 0 { throw FibfastError.netlink(operation: operation, code: rc) }
        reader = NetlinkReader(socket: socket)
        (changes, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        continuation.onTermination = { [reader] _ in reader.wake() }
    }

    func start() {
        reader.start(name: "fibfast-\(name)", drained: { [match, continuation] drain in
            // Events lost: one of them may have been a change, so look again.
            if match.seen || drain.lost {
                match.seen = false
                continuation.yield()
            }
            // Any other failure ends the stream; the poll carries on alone.
            return drain.failure == nil
        }, finished: { [continuation] _ in continuation.finish() })
    }

    func stop() { continuation.finish() }
}
