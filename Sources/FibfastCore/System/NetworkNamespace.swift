import Glibc

public enum NetworkNamespace {
    /// The kernel's cookie for this process's network namespace: what the
    /// tracepoint programs compare a device's namespace with.
    public static func cookie() throws -> UInt64 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw FibfastError.bpf(operation: "opening a socket", .current) }
        defer { Glibc.close(fd) }
        var cookie: UInt64 = 0
        var length = socklen_t(MemoryLayout<UInt64>.size)
        // SO_NETNS_COOKIE (kernel 5.14); Glibc does not export the constant.
        guard getsockopt(fd, SOL_SOCKET, 71, &cookie, &length) == 0 else {
            throw FibfastError.bpf(operation: "reading the network namespace cookie", .current)
        }
        return cookie
    }
}
