import Glibc

/// Keeps the calling thread on one CPU until released.
final class CPUPin {
    let cpu: Int
    private var saved = cpu_set_t()

    /// sched_{get,set}affinity hide behind _GNU_SOURCE (see GNUSymbol).
    private typealias Affinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
    private static func function(_ name: String) -> Affinity? { GNUSymbol.load(name, as: Affinity.self) }

    init() throws {
        guard let get = Self.function("sched_getaffinity"), let set = Self.function("sched_setaffinity") else {
            throw FibfastError.bpf(operation: "finding sched_setaffinity", .noEntry)
        }
        let size = MemoryLayout<cpu_set_t>.size
        guard withUnsafeMutableBytes(of: &saved, { get(0, size, $0.baseAddress!) }) == 0 else {
            throw FibfastError.bpf(operation: "reading the CPU affinity", .current)
        }
        let allowed = withUnsafeBytes(of: saved) { raw in
            (0..<raw.count * 8).first { raw[$0 / 8] & (1 << UInt8($0 % 8)) != 0 }
        }
        guard let cpu = allowed else { throw FibfastError.bpf(operation: "finding an allowed CPU", .invalid) }
        self.cpu = cpu
        var one = cpu_set_t()
        let rc = withUnsafeMutableBytes(of: &one) { raw -> Int32 in
            raw[cpu / 8] |= 1 << UInt8(cpu % 8)
            return set(0, size, raw.baseAddress!)
        }
        guard rc == 0 else { throw FibfastError.bpf(operation: "pinning to CPU \(cpu)", .current) }
    }

    func release() {
        guard let set = Self.function("sched_setaffinity") else { return }
        _ = withUnsafeMutableBytes(of: &saved) { set(0, MemoryLayout<cpu_set_t>.size, $0.baseAddress!) }
    }
}
