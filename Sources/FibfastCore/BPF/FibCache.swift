import CFastPath
import CLibBPF
import Glibc

/// The kernel changes after which a hook invalidates the FIB answer cache,
/// in the order of enum ff_fib_cache_hook, with the program that does it
/// (bpf/fib_cache_hooks.bpf.c).
public enum FibCacheHook: Int, CaseIterable, Sendable {
    case neighbourUpdate, neighbourTimer, neighbourRelease
    case ipv4RouteInsert, ipv4RouteDelete, ipv4CacheFlush
    case ipv6RouteAdd, ipv6RouteDelete
    case ruleAdd, ruleDelete, nexthopAdd, nexthopDelete
    case ipv6DeviceDown, ipv6DeviceUp, ipv6MTUChange
    case netlinkNotify, netlinkRequestDone

    /// The BPF program, and the kernel function or tracepoint it follows.
    var program: String {
        ["ffc_neigh_update", "ffc_neigh_timer", "ffc_neigh_release",
         "ffc_fib4_insert", "ffc_fib4_delete", "ffc_rt_flush", "ffc_fib6_add", "ffc_fib6_del",
         "ffc_rule_new", "ffc_rule_del", "ffc_nexthop_new", "ffc_nexthop_del",
         "ffc_fib6_down", "ffc_fib6_up", "ffc_fib6_mtu",
         "ffc_netlink_notify", "ffc_netlink_request_done"][rawValue]
    }

    public var kernelName: String {
        ["tp_btf/neigh_update_done", "tp_btf/neigh_timer_handler", "tp_btf/neigh_cleanup_and_release",
         "fexit/fib_table_insert", "fexit/fib_table_delete", "fexit/rt_cache_flush",
         "fexit/fib6_add", "fexit/fib6_del", "fexit/fib_nl_newrule", "fexit/fib_nl_delrule",
         "fexit/rtm_new_nexthop", "fexit/rtm_del_nexthop",
         "fexit/rt6_sync_down_dev", "fexit/rt6_sync_up", "fexit/rt6_mtu_change",
         "tp_btf/sk_data_ready", "tp_btf/sock_send_length"][rawValue]
    }

    /// Hooks loaded together or not at all: the netlink pair shares the
    /// map of tasks inside a request.
    static let groups: [[FibCacheHook]] = [
        [.neighbourUpdate, .neighbourTimer, .neighbourRelease],
        [.netlinkNotify, .netlinkRequestDone],
        [.ipv4RouteInsert, .ipv4RouteDelete, .ipv4CacheFlush, .ipv6RouteAdd, .ipv6RouteDelete,
         .ruleAdd, .ruleDelete, .nexthopAdd, .nexthopDelete, .ipv6DeviceDown, .ipv6DeviceUp, .ipv6MTUChange],
    ]
    static let neighbours = groups[0], netlink = groups[1], functions = groups[2]

    /// What makes route, rule and nexthop changes invalidate before the
    /// command that made them returns: all the FIB function hooks (fexit),
    /// or else the netlink pair (tracepoints the kernel has had since the 6.3/6.4 cycle).
    static func synchronous(_ attached: Set<FibCacheHook>) -> Bool {
        attached.isSuperset(of: neighbours)
            && (attached.isSuperset(of: functions) || attached.isSuperset(of: netlink))
    }

    var bit: UInt32 { 1 << UInt32(rawValue) }

    /// The hooks in a bit set of ff_fib_cache_control.
    public static func of(_ bits: UInt32) -> [FibCacheHook] { allCases.filter { bits & $0.bit != 0 } }
}

/// The agent's side of the FIB answer cache: its generation, advanced
/// through a shared mapping with the same atomic add the kernel hooks use,
/// the switch, and the hooks this kernel lets it attach.
public final class FibCache: @unchecked Sendable {
    private let control: UnsafeMutablePointer<ff_fib_cache_control>
    private let mapping: UnsafeMutableRawPointer
    private let mappingSize: Int
    private var hooks: [(object: OpaquePointer, links: [OpaquePointer])] = []
    /// Why each hook that did not attach failed.
    public private(set) var refused: [FibCacheHook: String] = [:]

    init(program: FastPathProgram) throws {
        guard let map = program.maps.fibCacheControl else {
            throw FibfastError.bpf(operation: "finding the \(FF_MAP_FIB_CACHE_CONTROL) map", .noEntry)
        }
        mappingSize = Int(getpagesize())
        let address = mmap(nil, mappingSize, PROT_READ | PROT_WRITE, MAP_SHARED, map.fd, 0)
        guard let address, address != MAP_FAILED else {
            throw FibfastError.bpf(operation: "mapping \(FF_MAP_FIB_CACHE_CONTROL)", Errno.current)
        }
        mapping = address
        control = address.bindMemory(to: ff_fib_cache_control.self, capacity: 1)
    }

    deinit {
        for hook in hooks {
            hook.links.forEach { bpf_link__destroy($0) }
            bpf_object__close(hook.object)
        }
        munmap(mapping, mappingSize)
    }

    /// Every answer stored so far is dead once this returns, and keys take
    /// the ports again until `leavePortsOut` finds they do not matter.
    public func invalidate() { ff_fib_cache_invalidate_ports(control) }

    /// Whether keys leave the ports out now.
    public var portsLeftOut: Bool { ff_fib_cache_ports_left_out(control.pointee) != 0 }

    /// Lets keys leave the ports out if `portsMatter`, asked after
    /// ports_generation was read, says no: any change since that read
    /// advanced it, and the answer no longer holds. Returns whether they do.
    @discardableResult
    func leavePortsOut(unless portsMatter: () -> Bool) -> Bool {
        if portsLeftOut { return true }
        let seen = control.pointee.ports_generation
        guard !portsMatter() else { return false }
        control.pointee.ports_free_at = seen &+ 1
        return portsLeftOut
    }

    /// Whether a FIB answer may depend on L4 ports: a policy rule with a
    /// port selector, or a multipath hash over ports (policy 1, or the
    /// custom policy 3) in either family. Unreadable counts as yes.
    static func portsMatter(rules: [Rule], hashPolicies: [String?]) -> Bool {
        rules.contains(where: \.usesPorts) || hashPolicies.contains { $0 != "0" && $0 != "2" }
    }

    /// portsMatter for the kernel as it is now.
    static func portsMatterNow() -> Bool {
        var rules: [Rule] = []
        do {
            try Dump.rules(family: AF_UNSPEC, restart: { rules.removeAll() }) { rules.append($0) }
        } catch {
            return true
        }
        return portsMatter(rules: rules, hashPolicies: ["net.ipv4.fib_multipath_hash_policy",
                                                        "net.ipv6.fib_multipath_hash_policy"].map(Sysctl.read))
    }

    public var enabled: Bool {
        get { control.pointee.enabled != 0 }
        set {
            // Off and on again: answers stored before are not trusted.
            invalidate()
            control.pointee.enabled = newValue ? 1 : 0
        }
    }

    public var generation: UInt64 { control.pointee.generation }

    /// The settings the multipath hash reads, which change without a netlink
    /// event or a hook: re-read on the agent's tick, the window is a second.
    static let hashSettings = ["net.ipv4.fib_multipath_hash_policy", "net.ipv4.fib_multipath_hash_fields",
                               "net.ipv4.fib_multipath_hash_seed", "net.ipv6.fib_multipath_hash_policy",
                               "net.ipv6.fib_multipath_hash_fields"]
    private var lastHashSettings: [String?] = []

    /// Invalidates when one of hashSettings changed since the last call,
    /// and says whether it did.
    @discardableResult
    public func checkHashSettings() -> Bool {
        let now = Self.hashSettings.map(Sysctl.read)
        guard now != lastHashSettings else { return false }
        let first = lastHashSettings.isEmpty
        lastHashSettings = now
        if !first { invalidate() }
        return !first
    }
    public var attached: [FibCacheHook] { FibCacheHook.of(control.pointee.hooks_attached) }

    /// Loads and attaches the hooks from the embedded object, so that one
    /// the kernel refuses (fexit is EPERM on some kernels, a tracepoint
    /// younger than the kernel) costs only itself. Each shares the running
    /// program's control map.
    func attachHooks(controlFD: Int32) {
        let bytes = UnsafeRawBufferPointer(start: fastpath_object_data(), count: Int(fastpath_object_size()))
        let all = FibCacheHook.allCases
        control.pointee.hooks_tried = all.reduce(0) { $0 | $1.bit }
        // All in one load first, then a group at a time: each load parses the
        // kernel's BTF, which takes seconds in an emulated VM.
        if let object = try? Self.load(all, bytes: bytes, controlFD: controlFD) {
            attach(all, in: object)
            return
        }
        for group in FibCacheHook.groups {
            do {
                attach(group, in: try Self.load(group, bytes: bytes, controlFD: controlFD))
                continue
            } catch where group == FibCacheHook.netlink {
                group.forEach { refused[$0] = "\(error)" }
                continue
            } catch {}
            for hook in group {
                do {
                    attach([hook], in: try Self.load([hook], bytes: bytes, controlFD: controlFD))
                } catch {
                    refused[hook] = "\(error)"
                }
            }
        }
    }

    /// The agent's rtnetlink event socket, whose notifications the netlink
    /// hooks watch for.
    func watch(eventSocket fd: Int32) throws {
        var cookie: UInt64 = 0
        var length = socklen_t(MemoryLayout<UInt64>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &length) == 0 else {
            throw FibfastError.bpf(operation: "reading the event socket's cookie (SO_COOKIE)", Errno.current)
        }
        control.pointee.event_socket_cookie = cookie
    }

    /// Whether route, rule, nexthop and neighbour changes all invalidate
    /// before the command that made them returns.
    public var synchronous: Bool { FibCacheHook.synchronous(Set(attached)) }

    /// Attaches `wanted` from a loaded object, which is kept (closed in
    /// deinit) whatever attached.
    private func attach(_ wanted: [FibCacheHook], in object: OpaquePointer) {
        var links: [OpaquePointer] = []
        for hook in wanted {
            do {
                links.append(try Self.attach(hook, in: object))
                control.pointee.hooks_attached |= hook.bit
            } catch {
                refused[hook] = "\(error)"
            }
        }
        hooks.append((object, links))
    }

    private static func attach(_ hook: FibCacheHook, in object: OpaquePointer) throws -> OpaquePointer {
        guard let program = bpf_object__find_program_by_name(object, hook.program) else { throw Errno.noEntry }
        return try Errno.libbpf(bpf_program__attach(program))
    }

    /// The embedded object with only `wanted` hooks loaded, the running
    /// program's control map shared, and no other map but the netlink pair's.
    private static func load(_ wanted: [FibCacheHook], bytes: UnsafeRawBufferPointer,
                             controlFD: Int32) throws -> OpaquePointer {
        let names = Set(wanted.map(\.program))
        var options = bpf_object_open_opts()
        zeroPadding(&options)
        options.sz = MemoryLayout<bpf_object_open_opts>.size
        let object = try Errno.libbpf(bpf_object__open_mem(bytes.baseAddress, bytes.count, &options))
        var loaded = false
        defer { if !loaded { bpf_object__close(object) } }
        var program = bpf_object__next_program(object, nil)
        while let current = program {
            bpf_program__set_autoload(current, names.contains(String(cString: bpf_program__name(current))))
            program = bpf_object__next_program(object, current)
        }
        var map = bpf_object__next_map(object, nil)
        while let current = map {
            let name = String(cString: bpf_map__name(current))
            if name == FF_MAP_FIB_CACHE_CONTROL {
                try Errno.libbpf(bpf_map__reuse_fd(current, controlFD))
            } else if name == "ff_cache_notifying" {
                bpf_map__set_autocreate(current, wanted.contains(.netlinkNotify))
            } else {
                bpf_map__set_autocreate(current, false)
            }
            map = bpf_object__next_map(object, current)
        }
        try Errno.libbpf(bpf_object__load(object))
        loaded = true
        return object
    }
}

/// What the FIB answer cache did, as `stats` and `status` report it.
public struct FibCacheReport: Sendable, Codable, Equatable {
    public var enabled: Bool
    public var hits: UInt64
    public var misses: UInt64
    /// Of the misses, lookups that skipped the cache on a CPU where it had
    /// not been paying (ff_fib_cache_stats.credit).
    public var bypassed: UInt64
    /// Times the generation advanced: every answer stored before died.
    public var invalidations: UInt64
    /// Kernel hooks that invalidate it (tp_btf/..., fexit/...), and those
    /// the agent tried that this kernel refused.
    public var hooks: [String]
    public var hooksRefused: [String]
    /// Keys leave the L4 ports out: no rule selects on ports and neither
    /// family's multipath hash reads them.
    public var portsLeftOut: Bool

    /// Nil for a program built without the cache.
    public init?(maps: FastPathMaps) {
        guard let control = maps.fibCacheControl?.lookup(0) else { return nil }
        let stats = maps.fibCacheStats?.lookupPerCPU(0) ?? []
        enabled = control.enabled != 0
        hits = stats.reduce(0) { $0 &+ $1.hits }
        misses = stats.reduce(0) { $0 &+ $1.misses }
        bypassed = stats.reduce(0) { $0 &+ $1.bypassed }
        invalidations = control.generation
        hooks = FibCacheHook.of(control.hooks_attached).map(\.kernelName)
        hooksRefused = FibCacheHook.of(control.hooks_tried & ~control.hooks_attached).map(\.kernelName)
        portsLeftOut = enabled && ff_fib_cache_ports_left_out(control) != 0
    }

    /// One line for `stats`.
    public var line: String {
        guard enabled else { return "FIB cache: off" }
        return "FIB cache: hits \(hits)  misses \(misses)  invalidations \(invalidations)"
    }
}
