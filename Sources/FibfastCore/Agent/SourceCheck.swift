import CFastPath
import Logging

/// What the fast path needs to validate IPv4 sources as cheaply as the
/// kernel does (fib_validate_source with rp_filter off): the router's own
/// addresses in ff_local_v4, and whether the kernel has switched to its full
/// check because policy rules or user-added local routes exist.
///
/// The kernel's two switches (fib_has_custom_rules,
/// fib_has_custom_local_routes) never turn off once on; neither does ours.
/// A rule added and deleted before the agent started is invisible to it:
/// docs/safety.md says so.
final class SourceCheck {
    private let maps: FastPathMaps
    private let logger: Logger
    private var addresses: Set<UInt32> = []
    private(set) var full = false

    /// The rules every IPv4 namespace starts with: (priority, table).
    static let defaultRules: Set<[UInt32]> = [[0, 255], [32766, 254], [32767, 253]]

    init(maps: FastPathMaps, logger: Logger) {
        self.maps = maps
        self.logger = logger
    }

    /// Makes ff_local_v4 and its filter hold exactly the namespace's IPv4
    /// addresses. A new address goes into the table before its filter bit
    /// is set, so the fast path never skips the lookup that would find it.
    func sync(_ all: [InterfaceAddress]) {
        let current = Set(all.compactMap(Self.key))
        // The filter starts all clear, which is right for no addresses.
        guard current != addresses else { return }
        for gone in addresses.subtracting(current) { try? maps.localV4?.delete(gone) }
        for new in current.subtracting(addresses) { write(new) }
        addresses = current
        writeFilter()
    }

    func addressChanged(_ address: InterfaceAddress, deleted: Bool) {
        guard let key = Self.key(address) else { return }
        if deleted {
            // The same address may sit on two interfaces; a dump decides.
            sync((try? Links.addresses()) ?? [])
        } else if addresses.insert(key).inserted {
            write(key)
            writeFilter()
        }
    }

    private func writeFilter() {
        guard let filter = maps.localV4Filter else { return }
        do {
            try filter.update(UInt32(0), words: Self.filterWords(addresses))
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

    func ruleSeen(_ rule: Rule) {
        guard rule.family == .ipv4, !Self.defaultRules.contains([rule.priority, rule.table]) else { return }
        switchToFullCheck(because: "policy rule \(rule) exists")
    }

    func routeSeen(_ route: Route) {
        // RTN_LOCAL routes the kernel did not add itself (proto kernel = 2).
        guard route.family == .ipv4, route.type == 2, route.origin != 2 else { return }
        switchToFullCheck(because: "user-added local route \(route.prefix) exists")
    }

    private func switchToFullCheck(because reason: String) {
        guard !full, var config = maps.config.lookup(UInt32(0), as: ff_config.self) else { return }
        config.flags |= UInt32(FF_CONFIG_FULL_SOURCE_CHECK)
        do {
            try maps.config.update(UInt32(0), config)
            full = true
            logger.info("\(reason): the fast path validates IPv4 sources with a full FIB lookup, as the kernel now does")
        } catch {
            logger.error("could not switch the source check to full lookups: \(error)")
        }
    }

    private func write(_ key: UInt32) {
        do {
            try maps.localV4?.update(key, UInt8(1))
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
