import CLibBPF
import Glibc

enum Sockets {
    /// A TCP socket closed on exec. SOCK_STREAM and SOCK_CLOEXEC come from
    /// <bits/socket_type.h>, which CLibBPF's shim (through <net/if.h>) pulls in
    /// outside Glibc's module map; in a release (whole-module) build Swift then
    /// finds them only through CLibBPF, and `import Glibc` alone fails with
    /// "cannot find 'SOCK_STREAM' in scope" (seen with Swift 6.3.1,
    /// `swift build -c release`, which `make install` runs).
    static func stream(family: Int32) -> Int32 {
        socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    /// A netlink socket of `protocol` (NETLINK_GENERIC, ...), closed on exec.
    static func netlink(_ protocol: Int32) -> Int32 {
        socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), `protocol`)
    }

    /// A UDP socket closed on exec, for interface ioctls.
    static func datagram(family: Int32) -> Int32 {
        socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    /// Accepts a connection as a non-blocking socket closed on exec, in one
    /// step: a tool spawned by another thread in between would otherwise
    /// inherit it. accept4 hides behind _GNU_SOURCE (see GNUSymbol).
    static func acceptNonBlocking(_ listener: Int32) -> Int32 {
        acceptFour(listener, nil, nil, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
    }

    private typealias Accept4 = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?,
                                                UnsafeMutablePointer<socklen_t>?, Int32) -> Int32
    private static let acceptFour: Accept4 = GNUSymbol.load("accept4", as: Accept4.self)!
}
