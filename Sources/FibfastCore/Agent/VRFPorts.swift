import Logging

/// Ports enslaved to VRF devices (l3mdev). The kernel routes a frame that
/// arrives on such a port in the VRF's table: its FIB lookups carry the VRF
/// (flowi_l3mdev) and the VRF's l3mdev rule picks the table, and a lookup
/// asked from the port itself does the same, so the fast path's forward
/// lookup needs nothing new. Its source check does: the kernel validates a
/// source in the ingress port's VRF, which a lookup from the VRF device
/// reproduces (ff_port_info.source_ifindex, bpf/lib/fib.h).
extension Link {
    /// A VRF device: an l3 master, never the device a frame arrives on or
    /// leaves by.
    public var isVRF: Bool { kind == "vrf" }

    /// The VRF the port is enslaved to; 0 outside any VRF.
    public var vrf: UInt32 { masterKind == "vrf" ? master : 0 }
}

enum VRFPorts {
    /// Says when a port joined, left or changed VRF. The kernel cycles the
    /// port on each (down and up, its routes and neighbours flushed), so
    /// the caller resynchronises routes afterwards.
    static func logMove(port: String, from old: Link, to new: Link, logger: Logger) {
        guard old.vrf != new.vrf else { return }
        switch (old.vrf, new.vrf) {
        case (0, let vrf):
            logger.info("port \(port) enslaved to VRF \(Interfaces.name(vrf)): its lookups and source checks follow that VRF's table")
        case (let was, 0):
            logger.info("port \(port) released from VRF \(Interfaces.name(was)): its lookups and source checks follow the main rules again")
        case (let was, let vrf):
            logger.info("port \(port) moved from VRF \(Interfaces.name(was)) to \(Interfaces.name(vrf)): its lookups and source checks follow the new VRF's table")
        }
    }
}
