/// Whether redirects can leave by a bond. Bonding has had an XDP transmit
/// path (bond_xdp_xmit) since 5.15: it picks the member with the bond's own
/// transmit hash, as the kernel's path does, and hands the frame to that
/// member's XDP transmit. It works in the modes the kernel runs XDP in, and
/// only as far as every member takes redirects: a frame hashed to one that
/// cannot is lost. Kernels from 6.4 say so in the bond's XDP features; 6.1
/// says nothing, so the answer comes from the mode and the members here, on
/// every kernel alike.
extension XDPTransmit {
    static func ofBond(_ link: Link, features: NetdevFamily?, assumed: Set<String>) -> XDPTransmit {
        guard let links = try? Links.all(), let bond = Bond.read(link, links: links) else {
            return .unsupported(because: "the kernel did not describe the bond")
        }
        if let refusal = bond.refusal { return .unsupported(because: "its \(refusal)") }
        if bond.members.isEmpty { return .unsupported(because: "the bond has no slaves") }
        for member in bond.members {
            guard let slave = links.first(where: { $0.ifindex == member.ifindex }) else {
                return .unsupported(because: "slave \(member.name) vanished")
            }
            let answer = of(slave, features: features, assumed: assumed.contains(slave.name))
            if case .unsupported(let reason) = answer {
                return .unsupported(because: "slave \(member.name) cannot take XDP redirects: \(reason)")
            }
        }
        return .supported(because: "bond \(bond.modeName) whose slaves take XDP redirects")
    }
}
