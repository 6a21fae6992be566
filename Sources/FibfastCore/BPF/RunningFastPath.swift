import CFastPath
import CLibBPF
import Glibc

/// A fast path already running in this network namespace, found through the
/// ports its program is attached to. Nothing is pinned for this: the XDP
/// query answers in any mount namespace, so `fibfast stats` works under
/// `ip netns exec` exactly as the agent does.
public struct RunningFastPath: Sendable {
    public struct Port: Sendable, Equatable {
        public var name: String
        public var ifindex: UInt32
        public var mode: XDPMode?
    }

    public let program: ProgramInfo
    public let ports: [Port]
    public let maps: FastPathMaps
    /// The XDP program itself, for test runs against its live maps.
    public let programDescriptor: OwnedDescriptor

    /// Every fibfast program attached to a port of this namespace, one
    /// value per program (two agents on disjoint ports give two).
    /// Refuses, naming the capability, a process that could not open them.
    public static func discover() throws -> [RunningFastPath] {
        try Privileges.requireInspection()
        var byProgram: [UInt32: [Port]] = [:]
        let links = try Links.all()
        let bonds = Set(links.filter { $0.kind == "bond" }.map(\.ifindex))
        // The kernel installs a bond's program on each of its members too.
        for link in links where !bonds.contains(link.master) {
            guard let attachment = try XDPAttachment.query(ifindex: link.ifindex) else { continue }
            byProgram[attachment.programID, default: []].append(
                Port(name: link.name, ifindex: link.ifindex, mode: attachment.mode))
        }
        var result: [RunningFastPath] = []
        for (id, ports) in byProgram.sorted(by: { $0.key < $1.key }) {
            if let fastPath = try open(programID: id, ports: ports) { result.append(fastPath) }
        }
        return result
    }

    /// Opens a program by id; nil when it is not fibfast's.
    static func open(programID: UInt32, ports: [Port]) throws -> RunningFastPath? {
        let (program, info): (OwnedDescriptor, ProgramInfo)
        do { (program, info) = try ProgramInfo.open(id: programID) } catch {
            throw FibfastError.bpf(operation: "opening XDP program \(programID)", error)
        }
        guard info.name == FF_PROGRAM_NAME else { return nil }
        var maps = openMaps(ids: info.mapIDs)
        guard let portInfo = maps[FF_MAP_PORT_INFO] else { return nil }
        if maps[FF_MAP_XDP_ERRORS] == nil, let failureMaps = failureMaps(sharing: portInfo) {
            maps.merge(failureMaps) { mine, _ in mine }
        }
        guard let fastPathMaps = try FastPathMaps(byName: maps) else { return nil }
        return RunningFastPath(program: info, ports: ports, maps: fastPathMaps, programDescriptor: program)
    }

    private static func openMaps(ids: [UInt32]) -> [String: OpenedMap] {
        var maps: [String: OpenedMap] = [:]
        for map in ids.compactMap(OpenedMap.init(id:)) { maps[map.name] = map }
        return maps
    }

    /// The XDP program never touches the failure maps, so they are not among
    /// its map ids: they are found through the tracepoint program loaded from
    /// the same object, recognised by sharing this fast path's port map.
    private static func failureMaps(sharing portInfo: OpenedMap) -> [String: OpenedMap]? {
        guard let portInfoID = ProgramInfo.mapID(fd: portInfo.fd) else { return nil }
        for id in ProgramInfo.allIDs() {
            guard let (_, info) = try? ProgramInfo.open(id: id),
                  info.name == FF_TRACE_PROGRAM_NAME, info.mapIDs.contains(portInfoID)
            else { continue }
            return openMaps(ids: info.mapIDs)
        }
        return nil
    }

    /// Names of the failure tracepoint programs that are attached (through a
    /// link) and count into this fast path's maps. Empty when failures go
    /// uncounted: an agent that could not attach them, or a program that
    /// predates them.
    public var failureTracepoints: [String] {
        guard let failures = maps.xdpFailures, let failuresID = ProgramInfo.mapID(fd: failures.fd) else { return [] }
        let tracing = BPFLinks.all {
            $0.type == BPF_LINK_TYPE_TRACING.rawValue || $0.type == BPF_LINK_TYPE_RAW_TRACEPOINT.rawValue
        }
        return tracing.compactMap { link -> String? in
            guard let (_, info) = try? ProgramInfo.open(id: link.info.prog_id), info.mapIDs.contains(failuresID)
            else { return nil }
            return info.name
        }.sorted()
    }

    /// The agent that owns this fast path, as it recorded itself in the
    /// config map; nil when it is gone (a pinned fast path outliving it).
    public var agent: (pid: Int32, started: UInt64)? {
        guard let config = maps.config.lookup(0), config.agent_pid != 0 else {
            return nil
        }
        let pid = Int32(bitPattern: config.agent_pid)
        guard kill(pid, 0) == 0 || errno == EPERM else { return nil }
        return (pid, config.agent_started)
    }
}

/// Finding and cutting the links through which programs are attached.
enum XDPLinks {
    /// The id of the BPF link that attaches `programID` to `ifindex`, if the
    /// program was attached through a link rather than the legacy netlink way.
    static func find(programID: UInt32, ifindex: UInt32) -> OwnedDescriptor? {
        BPFLinks.all {
            $0.type == BPF_LINK_TYPE_XDP.rawValue && $0.prog_id == programID && $0.xdp.ifindex == ifindex
        }.first?.link
    }

    /// Takes whatever program is attached to the port off it: through its
    /// link when there is one (another process may hold it), through
    /// netlink otherwise.
    static func detach(port: String, ifindex: UInt32, attachment: XDPAttachment) throws {
        if let link = find(programID: attachment.programID, ifindex: ifindex) {
            try Errno.libbpf(bpf_link_detach(link.rawValue)) { FibfastError.detachFailed(port: port, $0) }
            return
        }
        let flags = attachment.mode?.attachFlags ?? 0
        try Errno.libbpf(bpf_xdp_detach(Int32(bitPattern: ifindex), flags, nil)) { FibfastError.detachFailed(port: port, $0) }
    }
}
