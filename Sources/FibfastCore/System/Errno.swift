import Glibc

/// An error number from the kernel or a C library, as a typed value.
public struct Errno: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's `errno`.
    public static var current: Errno { Errno(errno) }

    public var description: String { String(cString: strerror(rawValue)) }

    public static let noEntry = Errno(ENOENT)
    public static let busy = Errno(EBUSY)
    public static let notSupported = Errno(EOPNOTSUPP)
    public static let permission = Errno(EPERM)
    public static let invalid = Errno(EINVAL)

    /// libbpf 1.x returns `-errno` from integer calls; anything negative is
    /// an error, anything else the result.
    @discardableResult
    static func libbpf(_ rc: Int32) throws(Errno) -> Int32 {
        try libbpf(rc) { $0 }
    }

    /// The same, with the error said in the operator's words (which map,
    /// which port): the one place a libbpf return code becomes an error.
    @discardableResult
    static func libbpf<Failure: Error>(_ rc: Int32, _ failure: (Errno) -> Failure) throws(Failure) -> Int32 {
        if rc < 0 { throw failure(Errno(-rc)) }
        return rc
    }

    /// Calls returning a pointer signal failure with NULL and `errno`.
    static func libbpf<T>(_ pointer: T?) throws(Errno) -> T {
        guard let pointer else { throw Errno.current }
        return pointer
    }
}

extension Errno {
    /// The constant's name for the errors XDP transmission reports, the
    /// number otherwise (Glibc does not export strerrorname_np to Swift).
    public var symbol: String {
        let names: [Int32: String] = [
            EOPNOTSUPP: "EOPNOTSUPP", ENXIO: "ENXIO", ENETDOWN: "ENETDOWN", ENOSPC: "ENOSPC",
            EINVAL: "EINVAL", ENOMEM: "ENOMEM", EBUSY: "EBUSY", ENODEV: "ENODEV",
            EMSGSIZE: "EMSGSIZE", ENOENT: "ENOENT", EFAULT: "EFAULT", ENOBUFS: "ENOBUFS",
        ]
        return names[rawValue] ?? "errno \(rawValue)"
    }
}

