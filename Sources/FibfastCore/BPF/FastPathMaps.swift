import CFastPath

/// The maps of a fast-path program, found by name and typed by
/// fastpath_abi.h, whether loaded by this process or opened by id from a
/// running agent's program.
public struct FastPathMaps: Sendable {
    public let ports: BPFMap<UInt32, UInt32>
    public let portInfo: BPFMap<UInt32, ff_port_info>
    public let counters: BPFMap<UInt32, ff_counter>
    public let config: BPFMap<UInt32, ff_config>
    /// Failures reported by the kernel's XDP tracepoints and the filter that
    /// picks ours; nil in a program built before they existed.
    public let xdpFailures: BPFMap<UInt32, ff_xdp_error>?
    public let xdpWatch: BPFMap<UInt32, ff_xdp_watch>?
    /// The router's own IPv4 addresses (network order), for the source
    /// check; nil in a program built before it existed.
    public let localV4: BPFMap<UInt32, UInt8>?
    /// ff_port_info again, as an array by ifindex for the per-packet path,
    /// and the filter in front of localV4; nil in a program built before
    /// they existed. Written through PortEntries and SourceCheck only.
    let portIndex: BPFMap<UInt32, ff_port_info>?
    let localV4Filter: BPFMap<UInt32, ff_local_v4_filter>?
    /// VLAN ports by (lower device, TPID, VID), and their egress PCPs by
    /// slot (lib/vlan.h); nil in a program built before they existed.
    let vlans: BPFMap<ff_vlan_key, ff_vlan_arrival>?
    let vlanEgress: BPFMap<UInt32, UInt32>?
    /// The FIB answer cache's generation and switch, and its hits and
    /// misses (lib/fib_cache.h); nil in a program built before it existed.
    public let fibCacheControl: BPFMap<UInt32, ff_fib_cache_control>?
    public let fibCacheStats: BPFMap<UInt32, ff_fib_cache_stats>?
    /// Every map found, by name, for pinning.
    let byName: [String: OpenedMap]

    /// The maps a fast path kept with --keep-on-exit pins, and an agent that
    /// adopts it reuses: its state (ports, counters, config). The running
    /// program reads ports from the index, so an agent that adopts it must
    /// write there until the links are swapped.
    static let pinned = [FF_MAP_PORTS, FF_MAP_PORT_INFO, FF_MAP_PORT_INDEX, FF_MAP_COUNTERS, FF_MAP_CONFIG]

    /// Nil when one of the four maps every fast-path program has is missing;
    /// throws when a map's layout is not this build's.
    init?(byName maps: [String: OpenedMap]) throws(FibfastError) {
        func typed<Key, Value>(_ name: String) throws(FibfastError) -> BPFMap<Key, Value>? {
            guard let map = maps[name] else { return nil }
            return try BPFMap(map)
        }
        guard let ports: BPFMap<UInt32, UInt32> = try typed(FF_MAP_PORTS),
              let portInfo: BPFMap<UInt32, ff_port_info> = try typed(FF_MAP_PORT_INFO),
              let counters: BPFMap<UInt32, ff_counter> = try typed(FF_MAP_COUNTERS),
              let config: BPFMap<UInt32, ff_config> = try typed(FF_MAP_CONFIG)
        else { return nil }
        self.ports = ports
        self.portInfo = portInfo
        self.counters = counters
        self.config = config
        xdpFailures = try typed(FF_MAP_XDP_ERRORS)
        xdpWatch = try typed(FF_MAP_XDP_WATCH)
        localV4 = try typed(FF_MAP_LOCAL_V4)
        portIndex = try typed(FF_MAP_PORT_INDEX)
        localV4Filter = try typed(FF_MAP_LOCAL_V4_FILTER)
        vlans = try typed(FF_MAP_VLANS)
        vlanEgress = try typed(FF_MAP_VLAN_EGRESS)
        fibCacheControl = try typed(FF_MAP_FIB_CACHE_CONTROL)
        fibCacheStats = try typed(FF_MAP_FIB_CACHE_STATS)
        byName = maps
    }
}
