import CLibBPF
import Glibc

/// A map as the kernel describes it, before a typed view is made of it:
/// its name and descriptor, and the sizes a key and a value must have.
struct OpenedMap: @unchecked Sendable {
    let name: String
    let fd: Int32
    let keySize: UInt32
    let valueSize: UInt32
    /// Keeps the descriptor open when the map was opened by id; nil when a
    /// loaded FastPathProgram owns it.
    let owner: OwnedDescriptor?

    /// A map of an object this process loaded; the object owns the descriptor.
    init(libbpf map: OpaquePointer) {
        name = String(cString: bpf_map__name(map))
        fd = bpf_map__fd(map)
        keySize = bpf_map__key_size(map)
        valueSize = bpf_map__value_size(map)
        owner = nil
    }

    /// A map of a program some other process loaded; nil when it is gone.
    init?(id: UInt32) {
        let fd = bpf_map_get_fd_by_id(id)
        guard fd >= 0 else { return nil }
        let owned = OwnedDescriptor(fd)
        guard let info = Self.info(fd: fd) else { return nil }
        name = withUnsafeBytes(of: info.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        self.fd = fd
        keySize = info.key_size
        valueSize = info.value_size
        owner = owned
    }

    static func info(fd: Int32) -> bpf_map_info? {
        var info = bpf_map_info()
        var length = UInt32(MemoryLayout<bpf_map_info>.size)
        return bpf_obj_get_info_by_fd(fd, &info, &length) == 0 ? info : nil
    }
}

/// A BPF map with keys and values of the C types from fastpath_abi.h. The
/// sizes are checked against the map when the view is made, so a program
/// built from another header is refused instead of read byte-shifted; the
/// pointer work stays in here.
public struct BPFMap<Key: BitwiseCopyable, Value: BitwiseCopyable>: @unchecked Sendable {
    public let name: String
    public let fd: Int32
    let owner: OwnedDescriptor?

    init(_ map: OpenedMap) throws(FibfastError) {
        guard map.keySize == MemoryLayout<Key>.size, map.valueSize == MemoryLayout<Value>.size else {
            throw FibfastError.mapLayout(map: map.name, found: [Int(map.keySize), Int(map.valueSize)],
                                         expected: [MemoryLayout<Key>.size, MemoryLayout<Value>.size])
        }
        name = map.name
        fd = map.fd
        owner = map.owner
    }

    public func update(_ key: Key, _ value: Value, flags: UInt64 = UInt64(BPF_ANY)) throws(FibfastError) {
        var key = key, value = value
        try Errno.libbpf(bpf_map_update_elem(fd, &key, &value, flags)) { FibfastError.mapUpdate(map: name, $0) }
    }

    /// Removes the key; one that is not there is no error.
    public func delete(_ key: Key) throws(FibfastError) {
        var key = key
        let rc = bpf_map_delete_elem(fd, &key)
        if rc == -ENOENT { return }
        try Errno.libbpf(rc) { FibfastError.mapUpdate(map: name, $0) }
    }

    public func lookup(_ key: Key) -> Value? {
        var key = key
        return withUnsafeTemporaryAllocation(of: Value.self, capacity: 1) { value in
            bpf_map_lookup_elem(fd, &key, value.baseAddress) == 0 ? value[0] : nil
        }
    }

    /// Per-CPU maps hand back one value per possible CPU, each padded to
    /// 8 bytes.
    public func lookupPerCPU(_ key: Key) -> [Value] {
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else { return [] }
        let stride = (MemoryLayout<Value>.size + 7) & ~7
        var key = key
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: stride * cpus, alignment: 8)
        defer { buffer.deallocate() }
        guard bpf_map_lookup_elem(fd, &key, buffer) == 0 else { return [] }
        return (0..<cpus).map { buffer.load(fromByteOffset: $0 * stride, as: Value.self) }
    }

    /// All keys, in the map's own order.
    public func keys() -> [Key] {
        var keys: [Key] = []
        var previous: Key? = nil
        while true {
            let next = withUnsafeTemporaryAllocation(of: Key.self, capacity: 1) { next -> Key? in
                let rc: Int32
                if var current = previous {
                    rc = bpf_map_get_next_key(fd, &current, next.baseAddress)
                } else {
                    rc = bpf_map_get_next_key(fd, nil, next.baseAddress)
                }
                return rc == 0 ? next[0] : nil
            }
            guard let next else { break }
            keys.append(next)
            previous = next
        }
        return keys
    }
}
