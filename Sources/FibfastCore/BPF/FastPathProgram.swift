import CFastPath
import CLibBPF
import Glibc

/// The fast-path program and its maps, loaded into the kernel from the
/// object embedded in this binary. The kernel keeps them while this value
/// (or a link or pin made from it) lives.
public final class FastPathProgram: @unchecked Sendable {
    /// Internal so that the tracepoint programs beside the XDP program can be
    /// attached (XDPFailureWatch).
    let object: OpaquePointer
    public let programFD: Int32
    public let info: ProgramInfo
    public let maps: FastPathMaps

    /// Opens and verifies the embedded object. A verifier rejection comes
    /// back with the lines of the kernel's log that explain it.
    /// - Parameter reusing: pinned maps (by name) to use instead of new
    ///   ones, so that a new program takes over a running fast path's state.
    public static func load(reusing maps: [String: Int32] = [:]) throws -> FastPathProgram {
        try load(bytes: UnsafeRawBufferPointer(start: fastpath_object_data(), count: Int(fastpath_object_size())),
                 reusing: maps)
    }

    /// Loads another build of the object (tests use a deliberately broken
    /// one to check what the operator sees when the kernel says no). The
    /// binary itself only ever loads its embedded object.
    public static func load(object: [UInt8]) throws -> FastPathProgram {
        try object.withUnsafeBytes { try load(bytes: $0) }
    }

    // libbpf reads the ELF image until bpf_object__load returns, so `bytes`
    // must outlive both calls; both callers guarantee it.
    private static func load(bytes: UnsafeRawBufferPointer, reusing maps: [String: Int32] = [:]) throws -> FastPathProgram {
        LibbpfLog.install()
        _ = LibbpfLog.take()
        var options = bpf_object_open_opts()
        zeroPadding(&options)
        options.sz = MemoryLayout<bpf_object_open_opts>.size
        let object: OpaquePointer
        do {
            object = try Errno.libbpf(bpf_object__open_mem(bytes.baseAddress, bytes.count, &options))
        } catch {
            throw FibfastError.loadRejected(error, log: LibbpfLog.take())
        }
        skipFailureTracepointsWithoutBTF(object)
        for (name, fd) in maps {
            // libbpf checks type, sizes and limits; a mismatch means the
            // pinned fast path comes from an incompatible build.
            guard let map = bpf_object__find_map_by_name(object, name), bpf_map__reuse_fd(map, fd) == 0 else {
                bpf_object__close(object)
                throw FibfastError.adoptionFailed(reason: "its map \(name) does not fit this build of fibfast")
            }
        }
        let rc = bpf_object__load(object)
        if rc < 0 {
            let log = LibbpfLog.take()
            bpf_object__close(object)
            throw FibfastError.loadRejected(Errno(-rc), log: log)
        }
        return try FastPathProgram(object: object)
    }

    private init(object: OpaquePointer) throws {
        self.object = object
        guard let program = bpf_object__find_program_by_name(object, "fibfast_xdp") else {
            bpf_object__close(object)
            throw FibfastError.loadRejected(.noEntry, log: ["no program fibfast_xdp in the embedded object"])
        }
        programFD = bpf_program__fd(program)
        do {
            info = try ProgramInfo.of(programFD: programFD)
        } catch {
            bpf_object__close(object)
            throw FibfastError.bpf(operation: "reading the program's info", error)
        }
        var found: [String: BPFMap] = [:]
        var map = bpf_object__next_map(object, nil)
        while let current = map {
            let name = String(cString: bpf_map__name(current))
            // The object owns these descriptors: the maps are valid while
            // this FastPathProgram lives.
            found[name] = BPFMap(name: name, fd: bpf_map__fd(current), owner: nil)
            map = bpf_object__next_map(object, current)
        }
        guard let maps = FastPathMaps(byName: found) else {
            bpf_object__close(object)
            throw FibfastError.loadRejected(.noEntry, log: ["the embedded object lacks a fast-path map"])
        }
        self.maps = maps
    }

    deinit { bpf_object__close(object) }

    /// The failure tracepoints (tp_btf) need the kernel's BTF to load; on a
    /// kernel without it they would fail the whole object, so only the XDP
    /// program loads and the agent reports failures as not counted.
    private static func skipFailureTracepointsWithoutBTF(_ object: OpaquePointer) {
        guard access("/sys/kernel/btf/vmlinux", R_OK) != 0 else { return }
        var current = bpf_object__next_program(object, nil)
        while let program = current {
            if bpf_program__type(program) == BPF_PROG_TYPE_TRACING { bpf_program__set_autoload(program, false) }
            current = bpf_object__next_program(object, program)
        }
    }
}

/// The four maps every fast-path program has, found by name, whether loaded
/// by this process or opened by id from a running agent's program.
public struct FastPathMaps: Sendable {
    public let ports: BPFMap
    public let portInfo: BPFMap
    public let counters: BPFMap
    public let config: BPFMap
    /// Failures reported by the kernel's XDP tracepoints and the filter that
    /// picks ours; nil in a program built before they existed.
    public let xdpFailures: BPFMap?
    /// The router's own IPv4 addresses, for the source check; nil in a
    /// program built before it existed.
    public let localV4: BPFMap?
    public let xdpWatch: BPFMap?
    /// ff_port_info again, as an array by ifindex for the per-packet path,
    /// and the filter in front of localV4; nil in a program built before
    /// they existed. Written through PortEntries and SourceCheck only.
    let portIndex: BPFMap?
    let localV4Filter: BPFMap?
    /// VLAN ports by (lower device, TPID, VID), and their egress PCPs by
    /// slot (lib/vlan.h); nil in a program built before they existed.
    let vlans: BPFMap?
    let vlanEgress: BPFMap?

    init?(byName maps: [String: BPFMap]) {
        guard let ports = maps[FF_MAP_PORTS], let portInfo = maps[FF_MAP_PORT_INFO],
              let counters = maps[FF_MAP_COUNTERS], let config = maps[FF_MAP_CONFIG]
        else { return nil }
        self.ports = ports
        self.portInfo = portInfo
        self.counters = counters
        self.config = config
        xdpFailures = maps[FF_MAP_XDP_ERRORS]
        xdpWatch = maps[FF_MAP_XDP_WATCH]
        localV4 = maps[FF_MAP_LOCAL_V4]
        portIndex = maps[FF_MAP_PORT_INDEX]
        localV4Filter = maps[FF_MAP_LOCAL_V4_FILTER]
        vlans = maps[FF_MAP_VLANS]
        vlanEgress = maps[FF_MAP_VLAN_EGRESS]
    }
}
