import CNetlink
import Foundation
import Glibc

/// A neighbour (ARP / NDP) entry.
public struct Neighbour: Sendable, Equatable {
    public var address: IPAddress
    public var ifindex: UInt32
    public var lladdr: [UInt8]
    /// NUD_* bits.
    public var state: UInt16
    /// NTF_EXT_MANAGED: the kernel keeps it resolved on its own.
    public var managed: Bool
    /// NDA_PROTOCOL: who made the entry (fibfast marks its own).
    public var origin: UInt8

    public init(address: IPAddress, ifindex: UInt32, lladdr: [UInt8], state: UInt16,
                managed: Bool = false, origin: UInt8 = 0) {
        self.address = address
        self.ifindex = ifindex
        self.lladdr = lladdr
        self.state = state
        self.managed = managed
        self.origin = origin
    }

    /// What bpf_fib_lookup accepts as a resolved next hop (NUD_VALID).
    public var isValid: Bool {
        state & UInt16(NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY) != 0
    }
    public var isStatic: Bool { state & UInt16(NUD_PERMANENT | NUD_NOARP) != 0 }
    /// Valid but unconfirmed: the kernel would wait for traffic to confirm it.
    public var needsConfirmation: Bool { state == UInt16(NUD_STALE) || state == UInt16(NUD_DELAY) }

    public var stateName: String { Neighbour.stateName(state) }

    public static func stateName(_ state: UInt16) -> String {
        switch Int32(state) {
        case NUD_NONE: return "none"
        case NUD_INCOMPLETE: return "incomplete"
        case NUD_REACHABLE: return "reachable"
        case NUD_STALE: return "stale"
        case NUD_DELAY: return "delay"
        case NUD_PROBE: return "probe"
        case NUD_FAILED: return "failed"
        case NUD_NOARP: return "noarp"
        case NUD_PERMANENT: return "permanent"
        default: return String(format: "0x%x", state)
        }
    }

    public var mac: String { MACAddress.text(lladdr) }

    init?(_ neigh: OpaquePointer, header: UnsafeMutablePointer<nlmsghdr>) {
        guard let family = AddressFamily(kernel: rtnl_neigh_get_family(neigh)),
              let address = IPAddress(bytes: Netlink.bytes(of: rtnl_neigh_get_dst(neigh))),
              address.family == family
        else { return nil }
        self.address = address
        ifindex = UInt32(bitPattern: rtnl_neigh_get_ifindex(neigh))
        lladdr = Netlink.bytes(of: rtnl_neigh_get_lladdr(neigh))
        state = UInt16(truncatingIfNeeded: rtnl_neigh_get_state(neigh))
        // libnl 3.7 knows neither NDA_FLAGS_EXT nor NDA_PROTOCOL.
        let headerLength = Int32(MemoryLayout<ndmsg>.size)
        if let flags = nlmsg_find_attr(header, headerLength, Int32(NDA_FLAGS_EXT)) {
            managed = nla_get_u32(flags) & UInt32(NTF_EXT_MANAGED) != 0
        } else {
            managed = false
        }
        if let proto = nlmsg_find_attr(header, headerLength, Int32(NDA_PROTOCOL)) {
            origin = nla_get_u8(proto)
        } else {
            origin = 0
        }
    }
}

/// Changes to the kernel's neighbour tables, over a netlink socket that
/// waits for the kernel's answer.
final class NeighbourControl {
    /// NDA_PROTOCOL values marking every entry fibfast makes managed, so
    /// that a later agent recognises, and hands back, what a killed one
    /// left behind: entries it created, and entries that existed before.
    /// The kernel lets a protocol be set, never cleared, so an entry handed
    /// back keeps its mark; only a managed entry with a mark counts as
    /// fibfast's.
    static let createdOrigin: UInt8 = 251
    static let convertedOrigin: UInt8 = 252

    private let socket: NetlinkSocket
    private let lookups: NetlinkSocket
    /// What the last lookup's answer said.
    private let answer = Answer()

    init() throws {
        socket = try NetlinkSocket()
        lookups = try NetlinkSocket()
        // One answer per question: no ACK left behind to be read as the
        // answer to the next one.
        nl_socket_disable_auto_ack(lookups.handle)
        lookups.onEvent { [answer] event in
            if case .neighbour(let entry, false) = event { answer.entry = entry }
        }
    }

    private final class Answer { var entry: Neighbour? }

    /// The kernel's entry right now (events do not report every change of
    /// state: REACHABLE to DELAY, for one, is silent).
    func get(_ address: IPAddress, ifindex: UInt32) -> Neighbour? {
        guard let message = nlmsg_alloc_simple(Int32(RTM_GETNEIGH), 0) else { return nil }
        defer { nlmsg_free(message) }
        var header = ndmsg()
        header.ndm_family = UInt8(address.family.socketFamily)
        header.ndm_ifindex = Int32(bitPattern: ifindex)
        var dst = address.bytes
        guard nlmsg_append(message, &header, MemoryLayout<ndmsg>.size, Int32(NLMSG_ALIGNTO)) >= 0,
              nla_put(message, Int32(NDA_DST), Int32(dst.count), &dst) >= 0 else { return nil }
        answer.entry = nil
        guard nl_send_auto(lookups.handle, message) >= 0 else { return nil }
        _ = nl_recvmsgs_default(lookups.handle)
        return answer.entry
    }

    /// Creates a managed entry, or makes an existing one managed keeping
    /// its state and address: the kernel resolves it at once and keeps it
    /// resolved from then on.
    func makeManaged(_ address: IPAddress, ifindex: UInt32, existing: Neighbour?) throws {
        let origin = existing == nil ? Self.createdOrigin : Self.convertedOrigin
        if let existing, existing.isValid {
            try send(RTM_NEWNEIGH, flags: NLM_F_REPLACE, address: address, ifindex: ifindex,
                     state: existing.state, lladdr: existing.lladdr, managed: true, origin: origin)
        } else {
            try send(RTM_NEWNEIGH, flags: NLM_F_CREATE | NLM_F_REPLACE, address: address, ifindex: ifindex,
                     state: UInt16(NUD_NONE), lladdr: nil, managed: true, origin: origin)
        }
    }

    /// Starts unicast probes now (NUD_PROBE): an answer confirms the entry,
    /// silence fails it and the next packet resolves it afresh.
    func probe(_ neighbour: Neighbour) throws {
        try send(RTM_NEWNEIGH, flags: NLM_F_REPLACE, address: neighbour.address, ifindex: neighbour.ifindex,
                 state: UInt16(NUD_PROBE), lladdr: neighbour.lladdr, managed: neighbour.managed, origin: nil)
    }

    /// Takes the managed flag off an entry fibfast did not create.
    func unmanage(_ neighbour: Neighbour) throws {
        let state = neighbour.isValid ? UInt16(NUD_STALE) : UInt16(NUD_NONE)
        try send(RTM_NEWNEIGH, flags: NLM_F_REPLACE, address: neighbour.address, ifindex: neighbour.ifindex,
                 state: state, lladdr: neighbour.isValid ? neighbour.lladdr : nil, managed: false, origin: nil)
    }

    func delete(_ address: IPAddress, ifindex: UInt32) throws {
        do {
            try send(RTM_DELNEIGH, flags: 0, address: address, ifindex: ifindex,
                     state: 0, lladdr: nil, managed: false, origin: nil)
        } catch FibfastError.netlink(_, let code) where code == -NLE_OBJ_NOTFOUND || code == -NLE_NODEV {
            // Already gone.
        }
    }

    private func send(_ type: Int, flags: Int32, address: IPAddress, ifindex: UInt32, state: UInt16,
                      lladdr: [UInt8]?, managed: Bool, origin: UInt8?) throws {
        guard let message = nlmsg_alloc_simple(Int32(type), flags) else {
            throw FibfastError.netlink(operation: "neighbour update", code: -NLE_NOMEM)
        }
        defer { nlmsg_free(message) }
        var header = ndmsg()
        header.ndm_family = UInt8(address.family.socketFamily)
        header.ndm_ifindex = Int32(bitPattern: ifindex)
        header.ndm_state = state
        var rc = nlmsg_append(message, &header, MemoryLayout<ndmsg>.size, Int32(NLMSG_ALIGNTO))
        var dst = address.bytes
        rc = rc < 0 ? rc : nla_put(message, Int32(NDA_DST), Int32(dst.count), &dst)
        if var lladdr, !lladdr.isEmpty {
            rc = rc < 0 ? rc : nla_put(message, Int32(NDA_LLADDR), Int32(lladdr.count), &lladdr)
        }
        if type == RTM_NEWNEIGH {
            rc = rc < 0 ? rc : nla_put_u32(message, Int32(NDA_FLAGS_EXT), managed ? UInt32(NTF_EXT_MANAGED) : 0)
        }
        if let origin {
            rc = rc < 0 ? rc : nla_put_u8(message, Int32(NDA_PROTOCOL), origin)
        }
        if rc < 0 { throw FibfastError.netlink(operation: "building a neighbour update", code: rc) }
        rc = nl_send_auto(socket.handle, message)
        if rc >= 0 { rc = nl_wait_for_ack(socket.handle) }
        if rc < 0 { throw FibfastError.netlink(operation: "neighbour update for \(address)", code: rc) }
    }
}
