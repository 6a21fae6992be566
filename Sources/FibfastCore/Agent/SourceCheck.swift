import CFastPath
import Logging

/// Where the source check's state lives: the fast path's maps
/// (ff_local_v4, its filter, the flag in ff_config), or a stand-in in tests.
public protocol SourceCheckMaps {
    func recordOwnAddress(_ key: UInt32) throws
    func forgetOwnAddress(_ key: UInt32) throws
    func writeOwnAddressFilter(_ words: [UInt64]) throws
    func setFullSourceCheck() throws
}

/// What the fast path needs to validate IPv4 sources as cheaply as the
/// kernel does (fib_validate_source with rp_filter off): the router's own
/// addresses in ff_local_v4, and whether the kernel has switched to its full
/// check because policy rules or user-added local routes exist.
///
/// The kernel's two switches (fib_has_custom_rules,
/// fib_has_custom_local_routes) never turn off once on; neither does ours.
/// A rule added and deleted before the agent started is invisible to it:
/// docs/safety.md says so.
///
/// Mistakes may only go one way: an address the table holds that is no
/// longer the router's sends its packets to the kernel, which forwards them
/// a little slower; an own address the table misses is forwarded where the
/// kernel drops it. So an address leaves the table only when a dump shows
/// it gone.
public final class SourceCheck {
    private let maps: SourceCheckMaps
    private let logger: Logger
    private let dumpAddresses: () throws -> [InterfaceAddress]
    /// The addresses in the table (network order).
    public private(set) var addresses: Set<UInt32> = []
    public private(set) var full = false

    /// The rules every IPv4 namespace starts with: (priority, table).
    static let defaultRules: Set<[UInt32]> = [[0, 255], [32766, 254], [32767, 253]]

    /// - Parameter addresses: reads every address of the namespace (a
    ///   netlink dump), to settle a deletion.
    public init(maps: SourceCheckMaps, logger: Logger = Logger(label: "fibfast") { _ in SwiftLogNoOpLogHandler() },
                addresses: @escaping () throws -> [InterfaceAddress] = Links.addresses) {
        self.maps = maps
        self.logger = logger
        dumpAddresses = addresses
    }

    /// Makes ff_local_v4 and its filter hold exactly the namespace's IPv4
    /// addresses. A new address goes into the table before its filter bit
    /// is set, so the fast path never skips the lookup that would find it.
    public func sync(_ all: [InterfaceAddress]) {
        let current = Set(all.compactMap(Self.key))
        // The filter starts all clear, which is right for no addresses.
        guard current != addresses else { return }
        for new in current.subtracting(addresses) { write(new) }
        for gone in addresses.subtracting(current) {
            do {
                try maps.forgetOwnAddress(gone)
            } catch {
                // Left in the table: its packets go to the kernel, no harm.
                logger.warning("a former own address stays in the source check's table (\(error))")
            }
        }
        addresses = current
        writeFilter()
    }

    /// Returns false when a deletion could not be settled: the address
    /// stays in the table until a later sync (the agent's resync) shows it
    /// gone.
    @discardableResult
    public func addressChanged(_ address: InterfaceAddress, deleted: Bool) -> Bool {
        guard let key = Self.key(address) else { return true }
        if deleted {
            // The same address may sit on two interfaces; a dump decides.
            do {
                sync(try dumpAddresses())
            } catch {
                logger.error("own addresses not re-read after one was removed (\(error)): the source check keeps every address it had until the agent resynchronises")
                return false
            }
        } else if addresses.insert(key).inserted {
            write(key)
            writeFilter()
        }
        return true
    }

    private func writeFilter() {
        do {
            try maps.writeOwnAddressFilter(Self.filterWords(addresses))
        } catch {
            logger.error("own-address filter not updated for the source check (\(error))")
            switchToFullCheck(because: "the own-address filter is stale")
        }
    }

    /// ff_local_v4_filter's value: a bit set for every bucket that holds one
    /// of `addresses` (fastpath_abi.h).
    static func filterWords(_ addresses: Set<UInt32>) -> [UInt64] {
        var words = [UInt64](repeating: 0, count: Int(FF_LOCAL_V4_BUCKETS) / 64)
        for address in addresses {
            let bucket = Int(ff_local_v4_bucket(address))
            words[bucket / 64] |= 1 << UInt64(bucket % 64)
        }
        return words
    }

    public func ruleSeen(_ rule: Rule) {
        guard rule.family == .ipv4, !Self.defaultRules.contains([rule.priority, rule.table]) else { return }
        switchToFullCheck(because: "policy rule \(rule) exists")
    }

    public func routeSeen(_ route: Route) {
        // RTN_LOCAL routes the kernel did not add itself (proto kernel = 2).
        guard route.family == .ipv4, route.type == 2, route.origin != 2 else { return }
        switchToFullCheck(because: "user-added local route \(route.prefix) exists")
    }

    /// Creating the first VRF in a namespace adds its l3mdev rule, which
    /// turns the kernel's full check on for good; a port in a VRF proves
    /// that happened even when the rule has been deleted since.
    public func vrfPortSeen(_ port: Link) {
        guard port.vrf != 0 else { return }
        switchToFullCheck(because: "port \(port.name) is in VRF \(Interfaces.name(port.vrf))")
    }

    private func switchToFullCheck(because reason: String) {
        guard !full else { return }
        do {
            try maps.setFullSourceCheck()
            full = true
            logger.info("\(reason): the fast path validates IPv4 sources with a full FIB lookup, as the kernel now does")
        } catch {
            logger.error("could not switch the source check to full lookups: \(error)")
        }
    }

    private func write(_ key: UInt32) {
        do {
            try maps.recordOwnAddress(key)
        } catch {
            // A source the map misses is forwarded where the kernel drops
            // it: say so loudly, and check fully from now on.
            logger.error("own address not recorded for the source check (\(error))")
            switchToFullCheck(because: "the own-address table is incomplete")
        }
    }

    /// The map key: the address as the packet carries it (network order).
    static func key(_ address: InterfaceAddress) -> UInt32? {
        guard address.family == .ipv4, address.bytes.count == 4 else { return nil }
        return address.bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
    }
}

/// The fast path's side of the source check: the own-address table and its
/// filter, and the flag in ff_config, which its one owner writes.
struct SourceCheckTables: SourceCheckMaps {
    let maps: FastPathMaps
    let config: FastPathConfigEntry

    // A program built before the source check had none of these maps:
    // nothing to keep.
    func recordOwnAddress(_ key: UInt32) throws { try maps.localV4?.update(key, UInt8(1)) }
    func forgetOwnAddress(_ key: UInt32) throws { try maps.localV4?.delete(key) }

    func writeOwnAddressFilter(_ words: [UInt64]) throws {
        var filter = ff_local_v4_filter()
        withUnsafeMutableBytes(of: &filter.words) { raw in words.withUnsafeBytes { raw.copyMemory(from: $0) } }
        try maps.localV4Filter?.update(0, filter)
    }

    func setFullSourceCheck() throws {
        try config.change { $0.fullSourceCheck = true }
    }
}
