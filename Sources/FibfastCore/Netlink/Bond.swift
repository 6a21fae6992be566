import CNetlink
import Glibc

/// A bond port as the kernel reports it (RTM_GETLINK: IFLA_LINKINFO's bond
/// data on the bond, IFLA_INFO_SLAVE_DATA on each member).
public struct Bond: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var name: String
        public var ifindex: UInt32
        /// IFLA_BOND_SLAVE_STATE is active: the bond delivers what arrives
        /// on it. A backup (active-backup's standby, an 802.3ad member
        /// outside the active aggregator) delivers nothing to routing.
        public var active: Bool
        public var isRunning: Bool
    }

    public var mode: UInt8
    public var hashPolicy: UInt8
    /// ARP monitoring interval in ms; 0 when the bond uses miimon.
    public var arpInterval: UInt32
    public var members: [Member]

    public init(mode: UInt8, hashPolicy: UInt8 = 0, arpInterval: UInt32 = 0, members: [Member] = []) {
        self.mode = mode
        self.hashPolicy = hashPolicy
        self.arpInterval = arpInterval
        self.members = members
    }

    // linux/if_bonding.h, which the netlink headers do not bring along.
    static let roundRobin: UInt8 = 0, activeBackup: UInt8 = 1, xor: UInt8 = 2, ieee8023ad: UInt8 = 4
    static let vlanSourceMAC: UInt8 = 5
    static let stateActive: UInt8 = 0

    static let modeNames = ["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad",
                            "balance-tlb", "balance-alb"]
    static let hashNames = ["layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"]

    public var modeName: String { Int(mode) < Self.modeNames.count ? Self.modeNames[Int(mode)] : "mode \(mode)" }
    public var hashName: String {
        Int(hashPolicy) < Self.hashNames.count ? Self.hashNames[Int(hashPolicy)] : "policy \(hashPolicy)"
    }
    /// Whether the transmit hash policy picks the member (balance-xor, 802.3ad).
    public var hashes: Bool { mode == Self.xor || mode == Self.ieee8023ad }

    /// Why the fast path cannot serve this bond exactly as the kernel
    /// would, with what to do about it; nil when it can.
    ///
    /// The kernel runs XDP on a bond only in the modes bond_xdp_check
    /// accepts (6.1 and later alike): balance-rr, active-backup, and
    /// balance-xor and 802.3ad unless they hash by vlan+srcmac, which XDP
    /// cannot see. ARP monitoring counts every frame a member receives as
    /// proof it works (bond_rcv_validate); frames forwarded in XDP never
    /// reach it, so the monitor could fail members the kernel alone keeps.
    public var refusal: String? {
        switch mode {
        case Self.roundRobin, Self.activeBackup, Self.xor, Self.ieee8023ad:
            if hashes && hashPolicy == Self.vlanSourceMAC {
                return "its xmit_hash_policy vlan+srcmac cannot be computed in XDP (the kernel refuses XDP on it): choose layer2, layer2+3 or layer3+4"
            }
            if arpInterval != 0 {
                return "it uses ARP monitoring (arp_interval \(arpInterval) ms), which takes the frames forwarded in XDP as missing: use miimon instead"
            }
            return nil
        default:
            return "the kernel has no XDP for mode \(modeName) (only balance-rr, active-backup, balance-xor and 802.3ad): change the mode, or leave it to the kernel by not naming it"
        }
    }

    /// A human summary: `802.3ad layer3+4, slaves a (active), b (backup)`.
    public var summary: String {
        let list = members.isEmpty ? "no slaves"
            : "slaves " + members.map { "\($0.name) (\($0.active ? "active" : "backup")\($0.isRunning ? "" : ", down"))" }
                .joined(separator: ", ")
        return "bond \(modeName)\(hashes ? " " + hashName : ""), \(list)"
    }

    /// The bond's configuration and its members now; nil when `bond` is not
    /// a bond or the kernel does not answer. `links` are this namespace's
    /// devices, which name the members (IFLA_MASTER).
    public static func read(_ bond: Link, links: [Link]) -> Bond? {
        guard bond.kind == "bond", let data = linkInfo(bond.ifindex)?[UInt16(IFLA_INFO_DATA)] else { return nil }
        let fields = GenericNetlink.parse(data)
        func value<T: FixedWidthInteger>(_ type: Int, _: T.Type) -> T? {
            fields[UInt16(type)].flatMap { GenericNetlink.integer($0, as: T.self) }
        }
        let members = links.filter { $0.master == bond.ifindex }.map { link in
            let slave = linkInfo(link.ifindex)?[UInt16(IFLA_INFO_SLAVE_DATA)].map(GenericNetlink.parse)
            let state = slave?[UInt16(IFLA_BOND_SLAVE_STATE)].flatMap { GenericNetlink.integer($0, as: UInt8.self) }
            return Member(name: link.name, ifindex: link.ifindex, active: state == Self.stateActive,
                          isRunning: link.isUp && link.isRunning)
        }
        return Bond(mode: value(Int(IFLA_BOND_MODE), UInt8.self) ?? 0,
                    hashPolicy: value(Int(IFLA_BOND_XMIT_HASH_POLICY), UInt8.self) ?? 0,
                    arpInterval: value(Int(IFLA_BOND_ARP_INTERVAL), UInt32.self) ?? 0,
                    members: members)
    }

    /// IFLA_LINKINFO's nested attributes of one device.
    private static func linkInfo(_ ifindex: UInt32) -> GenericNetlink.Attributes? {
        var body = [UInt8](repeating: 0, count: 16)             // struct ifinfomsg
        withUnsafeBytes(of: Int32(bitPattern: ifindex)) { body.replaceSubrange(4..<8, with: $0) }
        guard let answer = try? GenericNetlink.exchange(protocol: NETLINK_ROUTE, type: UInt16(RTM_GETLINK), body: body).first,
              answer.count >= 16,
              let info = GenericNetlink.parse(Array(answer[16...]))[UInt16(IFLA_LINKINFO)]
        else { return nil }
        return GenericNetlink.parse(info)
    }
}
