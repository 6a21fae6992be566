import CLibBPF
import Glibc

/// How an XDP program runs on a port: in the driver (native) or after the
/// kernel has built an skb (generic, slower, works everywhere).
public enum XDPMode: String, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case native
    case generic
    case auto

    public var description: String { rawValue }

    var attachFlags: UInt32 {
        switch self {
        case .native: return UInt32(XDP_FLAGS_DRV_MODE)
        case .generic: return UInt32(XDP_FLAGS_SKB_MODE)
        case .auto: return 0
        }
    }

    /// The mode the kernel reports for an attached program.
    init?(attachMode: UInt8) {
        switch Int32(attachMode) {
        case Int32(XDP_ATTACHED_DRV): self = .native
        case Int32(XDP_ATTACHED_SKB): self = .generic
        default: return nil
        }
    }
}

/// A program attached to a port through a BPF link. The link belongs to
/// this process: when it exits or crashes, the kernel detaches the program
/// and the port forwards through the kernel again.
public final class XDPLink: @unchecked Sendable {
    public let port: String
    public let ifindex: UInt32
    public let mode: XDPMode
    let descriptor: OwnedDescriptor

    /// Attaches in `mode`; `.auto` tries native first and falls back to
    /// generic when the driver has no native XDP.
    public static func attach(programFD: Int32, port: String, ifindex: UInt32, mode: XDPMode) throws -> XDPLink {
        if mode == .auto {
            do {
                return try attach(programFD: programFD, port: port, ifindex: ifindex, mode: .native)
            } catch FibfastError.attachFailed(_, _, let errno) where errno == .notSupported || errno == .invalid {
                return try attach(programFD: programFD, port: port, ifindex: ifindex, mode: .generic)
            }
        }
        var options = bpf_link_create_opts()
        zeroPadding(&options)
        options.sz = MemoryLayout<bpf_link_create_opts>.size
        options.flags = mode.attachFlags
        let fd = try Errno.libbpf(bpf_link_create(programFD, Int32(bitPattern: ifindex), BPF_XDP, &options)) {
            FibfastError.attachFailed(port: port, mode: mode, $0)
        }
        return XDPLink(port: port, ifindex: ifindex, mode: mode, descriptor: OwnedDescriptor(fd))
    }

    init(port: String, ifindex: UInt32, mode: XDPMode, descriptor: OwnedDescriptor) {
        self.port = port
        self.ifindex = ifindex
        self.mode = mode
        self.descriptor = descriptor
    }
}

/// The XDP program a port has now, if any.
public struct XDPAttachment: Sendable, Equatable {
    public var programID: UInt32
    public var mode: XDPMode?

    /// Asks the kernel (over netlink, in this namespace) what runs on a port.
    public static func query(ifindex: UInt32) throws -> XDPAttachment? {
        var options = bpf_xdp_query_opts()
        zeroPadding(&options)
        options.sz = MemoryLayout<bpf_xdp_query_opts>.size
        try Errno.libbpf(bpf_xdp_query(Int32(bitPattern: ifindex), 0, &options)) {
            FibfastError.bpf(operation: "querying XDP on ifindex \(ifindex)", $0)
        }
        let id = options.prog_id != 0 ? options.prog_id : max(options.drv_prog_id, options.skb_prog_id)
        guard id != 0 else { return nil }
        return XDPAttachment(programID: id, mode: XDPMode(attachMode: options.attach_mode))
    }
}

extension XDPLink {
    /// Swaps the program behind this link in one step: the port never runs
    /// without a program, so not a frame falls between the old and the new.
    func update(programFD: Int32) throws {
        try Errno.libbpf(bpf_link_update(descriptor.rawValue, programFD, nil)) {
            FibfastError.adoptionFailed(reason: "replacing the program on port \(port): \($0)")
        }
    }
}
