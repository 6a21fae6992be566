import CFastPath
import Glibc

/// What the kernel reported going wrong after the fast path chose to
/// forward. Mirrors `enum ff_xdp_error_kind` in fastpath_abi.h.
public enum XDPFailure: UInt32, CaseIterable, Sendable, CustomStringConvertible {
    case redirect = 0
    case transmit
    case exception

    public var description: String {
        switch self {
        case .redirect: return "redirect"
        case .transmit: return "transmit"
        case .exception: return "exception"
        }
    }

    public var explanation: String {
        switch self {
        case .redirect: return "the egress port refused the redirected frame (a veth whose peer has no XDP program and no GRO, a port down)"
        case .transmit: return "the egress driver dropped frames it had accepted (queue full, peer gone)"
        case .exception: return "the driver aborted the frame (XDP_ABORTED, unknown action)"
        }
    }

    /// The kernel's code for the latest event in words: an errno for
    /// redirect and transmit failures, the XDP action for exceptions.
    public func describe(code: Int32) -> String {
        if self == .exception {
            return XDPAction(rawValue: UInt32(bitPattern: code)).map { "action \($0)" } ?? "action \(code)"
        }
        return Errno(-code).symbol
    }
}

/// Frames lost for one reason on one port, summed over CPUs.
public struct FailureCount: Sendable, Equatable {
    public var frames: UInt64
    /// The latest event's code (negative errno, or XDP action); see XDPFailure.describe.
    public var lastCode: Int32

    public init(frames: UInt64, lastCode: Int32) {
        self.frames = frames
        self.lastCode = lastCode
    }
}
