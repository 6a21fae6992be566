import CFastPath
import Logging

/// The members (slaves) of the bond ports, as the fast path sees them.
///
/// Native XDP on a bond runs on its members, so a frame's ingress device is
/// a member, not the port. Each member gets an entry naming its bond
/// (member_of) and the bond's counter row, and says whether the bond
/// delivers what arrives on it; the agent rewrites them whenever the kernel
/// announces a member's change (state, link, enslaved, released) by an
/// RTM_NEWLINK on it.
final class BondMembers {
    private let kernel: PortKernel
    private let logger: Logger
    /// Each bond port's members as last written, by the bond's ifindex.
    private var bonds: [UInt32: Bond] = [:]

    init(kernel: PortKernel, logger: Logger) {
        self.kernel = kernel
        self.logger = logger
    }

    /// The bond port whose member the link is, or was until this change.
    func bond(of link: Link) -> UInt32? {
        if bonds[link.master] != nil { return link.master }
        return bonds.first { $0.value.members.contains { $0.ifindex == link.ifindex } }?.key
    }

    func bond(of ifindex: UInt32) -> UInt32? {
        bonds.first { $0.value.members.contains { $0.ifindex == ifindex } }?.key
    }

    /// Writes the entries of a bond port's members as the kernel has them
    /// now and drops those of members that left; does nothing for a port
    /// that is not a bond.
    func write(_ port: Link, slot: UInt32) throws {
        guard port.kind == "bond" else { return }
        let bond = try kernel.bond(port)
        let before = bonds[port.ifindex]
        for member in bond.members {
            var info = ff_port_info()
            // Enabled so that the fast path looks further; whether the bond
            // delivers is the flag below.
            info.flags = UInt16(FF_PORT_ENABLED) | (member.active ? UInt16(FF_PORT_BOND_DELIVERS) : 0)
            info.slot = slot
            info.member_of = port.ifindex
            try kernel.setPort(member.ifindex, info)
        }
        for gone in before?.members ?? [] where !bond.members.contains(where: { $0.ifindex == gone.ifindex }) {
            try? kernel.removePort(gone.ifindex)
        }
        bonds[port.ifindex] = bond
        if before != bond {
            logger.info("port \(port.name): \(bond.summary); the fast path takes frames from active slaves, the kernel those from the others")
        }
    }

    /// Drops a bond port's member entries (the port left the fast path).
    func forget(_ ifindex: UInt32) {
        for member in bonds.removeValue(forKey: ifindex)?.members ?? [] {
            try? kernel.removePort(member.ifindex)
        }
    }
}
