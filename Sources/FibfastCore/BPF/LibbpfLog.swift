import CLibBPF
import Glibc
import Synchronization

/// libbpf prints through one process-wide callback. fibfast keeps what it
/// says (the verifier's log above all) so an error can show the lines that
/// matter instead of spraying them over the terminal.
enum LibbpfLog {
    private static let lines = Mutex<[String]>([])

    static func install() {
        libbpf_set_print { level, format, arguments in
            guard let format, let arguments else { return 0 }
            var buffer = [CChar](repeating: 0, count: 4096)
            _ = vsnprintf(&buffer, buffer.count, format, arguments)
            let text = String(cString: buffer)
            if level == LIBBPF_DEBUG { return 0 }
            LibbpfLog.lines.withLock { lines in
                for line in text.split(separator: "\n") { lines.append(String(line)) }
                if lines.count > 2000 { lines.removeFirst(lines.count - 2000) }
            }
            return 0
        }
    }

    /// Everything libbpf said since the last call.
    static func take() -> [String] {
        lines.withLock { lines in
            defer { lines.removeAll() }
            return lines
        }
    }
}

/// Zeroes every byte of a libbpf options struct, padding included, as the
/// C macro LIBBPF_OPTS does. libbpf refuses options whose bytes between the
/// last field it knows and `sz` are not zero; a Swift initialiser zeroes the
/// fields only, and in release builds the trailing padding of, for example,
/// bpf_xdp_query_opts held garbage ("bpf_xdp_query_opts has non-zero extra
/// bytes", EINVAL). Call it before setting any field.
func zeroPadding<T>(_ options: inout T) {
    withUnsafeMutableBytes(of: &options) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
}
