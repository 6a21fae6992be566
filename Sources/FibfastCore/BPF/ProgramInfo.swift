import CLibBPF
import Glibc

/// What the kernel says about a loaded BPF program.
public struct ProgramInfo: Sendable, Equatable {
    public var id: UInt32
    public var name: String
    public var tag: String
    public var mapIDs: [UInt32]

    /// Opens a program by id: a descriptor that keeps it, and its info.
    static func open(id: UInt32) throws(Errno) -> (OwnedDescriptor, ProgramInfo) {
        let fd = try Errno.libbpf(bpf_prog_get_fd_by_id(id))
        let program = OwnedDescriptor(fd)
        return (program, try of(programFD: fd))
    }

    /// Reads the kernel's bpf_prog_info for a program descriptor.
    static func of(programFD fd: Int32) throws(Errno) -> ProgramInfo {
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        try Errno.libbpf(bpf_obj_get_info_by_fd(fd, &info, &length))
        var mapIDs = [UInt32](repeating: 0, count: Int(info.nr_map_ids))
        if !mapIDs.isEmpty {
            // Second call: the kernel fills map_ids only when given room.
            let count = info.nr_map_ids
            info = bpf_prog_info()
            info.nr_map_ids = count
            try mapIDs.withUnsafeMutableBufferPointer { (buffer) throws(Errno) in
                info.map_ids = UInt64(UInt(bitPattern: buffer.baseAddress))
                length = UInt32(MemoryLayout<bpf_prog_info>.size)
                try Errno.libbpf(bpf_obj_get_info_by_fd(fd, &info, &length))
            }
        }
        let name = withUnsafeBytes(of: info.name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        let tag = withUnsafeBytes(of: info.tag) { raw in
            raw.map { String(format: "%02x", $0) }.joined()
        }
        return ProgramInfo(id: info.id, name: name, tag: tag, mapIDs: mapIDs)
    }

    /// Every program id loaded on the box.
    static func allIDs() -> [UInt32] {
        var ids: [UInt32] = []
        var id: UInt32 = 0
        while bpf_prog_get_next_id(id, &id) == 0 { ids.append(id) }
        return ids
    }

    /// Id of a map, by descriptor.
    static func mapID(fd: Int32) -> UInt32? {
        OpenedMap.info(fd: fd)?.id
    }
}

/// BPF links, as the kernel lists them.
enum BPFLinks {
    /// The kernel's bpf_link_info for a link descriptor.
    static func info(fd: Int32) -> bpf_link_info? {
        var info = bpf_link_info()
        var length = UInt32(MemoryLayout<bpf_link_info>.size)
        return bpf_obj_get_info_by_fd(fd, &info, &length) == 0 ? info : nil
    }

    /// Every link on the system that `matches`, opened.
    static func all(where matches: (bpf_link_info) -> Bool) -> [(link: OwnedDescriptor, info: bpf_link_info)] {
        var found: [(OwnedDescriptor, bpf_link_info)] = []
        var id: UInt32 = 0
        while bpf_link_get_next_id(id, &id) == 0 {
            let fd = bpf_link_get_fd_by_id(id)
            guard fd >= 0 else { continue }
            let link = OwnedDescriptor(fd)
            if let info = info(fd: fd), matches(info) { found.append((link, info)) }
        }
        return found
    }
}
