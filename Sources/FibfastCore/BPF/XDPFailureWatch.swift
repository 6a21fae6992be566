import CFastPath
import CLibBPF
import Glibc

/// The tracepoint programs that count what goes wrong after the fast path
/// decided to forward (bpf/xdp_failures.bpf.c), attached for as long as this
/// value lives. Like the XDP links, the kernel drops them when the agent dies.
public final class XDPFailureWatch: @unchecked Sendable {
    private var links: [OpaquePointer] = []
    /// Names of the attached programs, for the agent's log.
    public private(set) var tracepoints: [String] = []

    /// Tells the programs which namespace and XDP program are ours, then
    /// attaches every tracing program of the object.
    public init(program: FastPathProgram) throws {
        guard let watch = program.maps.xdpWatch else {
            throw FibfastError.bpf(operation: "finding the \(FF_MAP_XDP_WATCH) map", .noEntry)
        }
        var filter = ff_xdp_watch()
        filter.netns_cookie = try NetworkNamespace.cookie()
        filter.xdp_prog_id = program.info.id
        try watch.update(0, filter)

        var current = bpf_object__next_program(program.object, nil)
        while let bpfProgram = current {
            defer { current = bpf_object__next_program(program.object, bpfProgram) }
            // The FIB answer cache's hooks are off in this object; the
            // agent loads them one by one (FibCache).
            guard bpf_program__type(bpfProgram) == BPF_PROG_TYPE_TRACING, bpf_program__autoload(bpfProgram) else { continue }
            let name = String(cString: bpf_program__name(bpfProgram))
            guard bpf_program__fd(bpfProgram) >= 0 else {
                close()
                throw FibfastError.bpf(operation: "loading tracepoint program \(name) (the kernel has no BTF)", .notSupported)
            }
            guard let link = bpf_program__attach(bpfProgram) else {
                let error = Errno.current
                close()
                throw FibfastError.bpf(operation: "attaching tracepoint program \(name)", error)
            }
            links.append(link)
            tracepoints.append(name)
        }
    }

    private func close() {
        for link in links { bpf_link__destroy(link) }
        links.removeAll()
    }

    deinit { close() }
}
