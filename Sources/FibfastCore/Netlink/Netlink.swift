import CNetlink
import Glibc

/// A NETLINK_ROUTE socket from libnl, for dumps and, later, event streams.
final class RouteSocket {
    let handle: OpaquePointer

    init() throws {
        guard let sock = nl_socket_alloc() else {
            throw FibfastError.netlink(operation: "socket", code: -NLE_NOMEM)
        }
        let rc = nl_connect(sock, NETLINK_ROUTE)
        if rc < 0 {
            nl_socket_free(sock)
            throw FibfastError.netlink(operation: "connect", code: rc)
        }
        handle = sock
    }

    deinit { nl_socket_free(handle) }
}

public enum Netlink {
    static func errorString(_ code: Int32) -> String {
        String(cString: nl_geterror(code))
    }

    static func bytes(of address: OpaquePointer?) -> [UInt8] {
        guard let address, let raw = nl_addr_get_binary_addr(address) else { return [] }
        let length = Int(nl_addr_get_len(address))
        return Array(UnsafeRawBufferPointer(start: raw, count: length))
    }
}
