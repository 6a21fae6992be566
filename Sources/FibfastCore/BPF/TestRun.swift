import CLibBPF
import Glibc

/// The XDP action a program returned.
public enum XDPAction: UInt32, Sendable, Codable, CustomStringConvertible {
    case aborted = 0, drop, pass, tx, redirect

    public var description: String {
        switch self {
        case .aborted: return "aborted"
        case .drop: return "drop"
        case .pass: return "pass"
        case .tx: return "tx"
        case .redirect: return "redirect"
        }
    }
}

/// One frame run through an XDP program with BPF_PROG_TEST_RUN: the program
/// runs for real, against its live maps and the FIB of this namespace, but
/// the frame goes nowhere.
public struct XDPTestRun: Sendable {
    public var action: XDPAction
    /// The frame as the program left it (rewritten MACs, TTL, trimmed tail).
    public var frame: [UInt8]

    /// - Parameter ingressIfindex: the port the frame pretends to arrive on;
    ///   it must exist in this namespace.
    public static func run(programFD: Int32, frame: [UInt8], ingressIfindex: UInt32) throws -> XDPTestRun {
        var input = frame
        // Room for a program that grows the frame; ours only shrinks it.
        var output = [UInt8](repeating: 0, count: frame.count + 256)
        var context = xdp_md()
        context.data_end = UInt32(frame.count)
        context.ingress_ifindex = ingressIfindex
        var options = bpf_test_run_opts()
        zeroPadding(&options)
        options.sz = MemoryLayout<bpf_test_run_opts>.size
        let rc: Int32 = input.withUnsafeMutableBytes { inBytes in
            output.withUnsafeMutableBytes { outBytes in
                withUnsafeMutablePointer(to: &context) { ctx in
                    options.data_in = UnsafeRawPointer(inBytes.baseAddress)
                    options.data_size_in = UInt32(inBytes.count)
                    options.data_out = outBytes.baseAddress
                    options.data_size_out = UInt32(outBytes.count)
                    options.ctx_in = UnsafeRawPointer(ctx)
                    options.ctx_size_in = UInt32(MemoryLayout<xdp_md>.size)
                    options.repeat = 1
                    return bpf_prog_test_run_opts(programFD, &options)
                }
            }
        }
        try Errno.libbpf(rc) { FibfastError.bpf(operation: "test-running the fast path", $0) }
        guard let action = XDPAction(rawValue: options.retval) else {
            throw FibfastError.bpf(operation: "test run returned action \(options.retval)", .invalid)
        }
        return XDPTestRun(action: action, frame: Array(output.prefix(Int(options.data_size_out))))
    }
}
