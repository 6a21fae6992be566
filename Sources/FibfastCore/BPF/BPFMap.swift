import CLibBPF
import Glibc

/// A BPF map seen through its file descriptor, with keys and values of the
/// C types from fastpath_abi.h. The pointer work stays in here.
public struct BPFMap: @unchecked Sendable {
    public let name: String
    public let fd: Int32
    /// Keeps the descriptor open when this map was opened by id; nil when a
    /// loaded FastPathProgram owns it.
    let owner: OwnedDescriptor?

    public func update<Key, Value>(_ key: Key, _ value: Value, flags: UInt64 = UInt64(BPF_ANY)) throws {
        var key = key, value = value
        let rc = bpf_map_update_elem(fd, &key, &value, flags)
        if rc < 0 { throw FibfastError.mapUpdate(map: name, Errno(-rc)) }
    }

    /// Writes a value that is an array of 64-bit words in C.
    func update<Key>(_ key: Key, words: [UInt64]) throws {
        var key = key
        let rc = words.withUnsafeBytes { bpf_map_update_elem(fd, &key, $0.baseAddress, UInt64(BPF_ANY)) }
        if rc < 0 { throw FibfastError.mapUpdate(map: name, Errno(-rc)) }
    }

    public func delete<Key>(_ key: Key) throws {
        var key = key
        let rc = bpf_map_delete_elem(fd, &key)
        if rc < 0 && -rc != ENOENT { throw FibfastError.mapUpdate(map: name, Errno(-rc)) }
    }

    public func lookup<Key, Value>(_ key: Key, as: Value.Type) -> Value? {
        var key = key
        let value = UnsafeMutablePointer<Value>.allocate(capacity: 1)
        defer { value.deallocate() }
        return bpf_map_lookup_elem(fd, &key, value) == 0 ? value.pointee : nil
    }

    /// Per-CPU maps hand back one value per possible CPU, each padded to
    /// 8 bytes.
    public func lookupPerCPU<Key, Value>(_ key: Key, as: Value.Type) -> [Value] {
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
    public func keys<Key>(as: Key.Type) -> [Key] {
        var keys: [Key] = []
        let next = UnsafeMutablePointer<Key>.allocate(capacity: 1)
        defer { next.deallocate() }
        var previous: Key? = nil
        while true {
            let rc: Int32
            if var current = previous {
                rc = bpf_map_get_next_key(fd, &current, next)
            } else {
                rc = bpf_map_get_next_key(fd, nil, next)
            }
            if rc != 0 { break }
            keys.append(next.pointee)
            previous = next.pointee
        }
        return keys
    }
}
