import CLibBPF
import Glibc

/// What the kernel says about a loaded BPF program.
public struct ProgramInfo: Sendable, Equatable {
    public var id: UInt32
    public var name: String
    public var tag: String
    public var mapIDs: [UInt32]

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
        var info = bpf_map_info()
        var length = UInt32(MemoryLayout<bpf_map_info>.size)
        guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { return nil }
        return info.id
    }

    /// Name of a map, by descriptor.
    static func mapName(fd: Int32) -> String? {
        var info = bpf_map_info()
        var length = UInt32(MemoryLayout<bpf_map_info>.size)
        guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { return nil }
        return withUnsafeBytes(of: info.name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
