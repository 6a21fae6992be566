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
        sizeFibCacheForEveryCPU(object)
        for (name, fd) in maps {
            // libbpf checks type, sizes and limits; a mismatch means the
            // pinned fast path comes from an incompatible build.
            guard let map = bpf_object__find_map_by_name(object, name), bpf_map__reuse_fd(map, fd) == 0 else {
                bpf_object__close(object)
                throw FibfastError.adoptionFailed(reason: "its map \(name) does not fit this build of fibfast")
            }
        }
        do {
            try Errno.libbpf(bpf_object__load(object))
        } catch {
            let log = LibbpfLog.take()
            bpf_object__close(object)
            throw FibfastError.loadRejected(error, log: log)
        }
        return try FastPathProgram(object: object)
    }

    /// The object gives the FIB cache's arrays one CPU's slots; each CPU
    /// takes its own range, so they need as many ranges as CPUs may exist
    /// (a CPU past the end finds no slot and asks the FIB).
    private static func sizeFibCacheForEveryCPU(_ object: OpaquePointer) {
        let cpus = UInt32(max(libbpf_num_possible_cpus(), 1))
        for (name, family) in [(FF_MAP_FIB_CACHE4, AF_INET), (FF_MAP_FIB_CACHE6, AF_INET6)] {
            if let map = bpf_object__find_map_by_name(object, name) {
                bpf_map__set_max_entries(map, ff_fib_cache_entries(cpus, UInt8(family)))
            }
        }
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
        var found: [String: OpenedMap] = [:]
        var map = bpf_object__next_map(object, nil)
        while let current = map {
            // The object owns these descriptors: the maps are valid while
            // this FastPathProgram lives.
            let opened = OpenedMap(libbpf: current)
            found[opened.name] = opened
            map = bpf_object__next_map(object, current)
        }
        let maps: FastPathMaps?
        do { maps = try FastPathMaps(byName: found) } catch {
            bpf_object__close(object)
            throw FibfastError.loadRejected(.invalid, log: ["\(error)"])
        }
        guard let maps else {
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
