import CFastPath

/// Where the agent writes what the fast path knows of a port. The per-packet
/// path reads ports from ff_port_index, an array by ifindex, because a hash
/// lookup costs as much as a fifth of a forwarded packet's time; the CLI
/// reads ff_port_info, the hash that holds every port whatever its ifindex.
/// Writing both here keeps them from disagreeing.
extension FastPathMaps {
    /// The port's entry as last written, nil if it is not a port.
    public func port(_ ifindex: UInt32) -> ff_port_info? {
        portInfo.lookup(ifindex)
    }

    /// Every port's counter slot, by ifindex. Bond members share their
    /// bond's slot and are not ports of their own.
    public func portSlots() -> [UInt32: UInt32] {
        var slots: [UInt32: UInt32] = [:]
        for ifindex in portInfo.keys() {
            if let info = port(ifindex), info.member_of == 0 { slots[ifindex] = info.slot }
        }
        return slots
    }

    public func setPort(_ ifindex: UInt32, _ info: ff_port_info) throws {
        var info = info
        info.flags |= UInt16(FF_PORT_LISTED)
        try portInfo.update(ifindex, info)
        if let portIndex, ifindex < FF_PORT_INDEX_SIZE { try portIndex.update(ifindex, info) }
    }

    /// The index entry goes first: from then on the fast path treats the
    /// ifindex as no port of its own and passes its frames to the kernel.
    public func removePort(_ ifindex: UInt32) throws {
        if let portIndex, ifindex < FF_PORT_INDEX_SIZE { try portIndex.update(ifindex, ff_port_info()) }
        try portInfo.delete(ifindex)
    }
}
