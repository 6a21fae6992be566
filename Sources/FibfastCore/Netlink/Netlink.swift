import CNetlink
import Glibc

/// A libnl socket, connected, and the one place a Swift closure becomes a
/// libnl callback: the closure lives as long as the socket, and libnl gets
/// it back through an unretained context pointer.
final class NetlinkSocket: @unchecked Sendable {
    let handle: OpaquePointer
    private var closed = false
    /// The closures libnl calls back, kept alive here.
    private var messageReceiver: AnyObject?
    private var errorReceiver: AnyObject?

    init(protocol: Int32 = NETLINK_ROUTE, operation: String = "connect") throws {
        guard let socket = nl_socket_alloc() else {
            throw FibfastError.netlink(operation: operation, code: -NLE_NOMEM)
        }
        let rc = nl_connect(socket, `protocol`)
        if rc < 0 {
            nl_socket_free(socket)
            throw FibfastError.netlink(operation: operation, code: rc)
        }
        handle = socket
    }

    /// Frees the socket now rather than when the last reference goes (the
    /// thread that reads an event socket ends with it).
    func close() {
        guard !closed else { return }
        closed = true
        nl_socket_free(handle)
    }

    deinit { close() }

    private final class Receiver<Argument> {
        let body: (Argument) -> Void
        init(_ body: @escaping (Argument) -> Void) { self.body = body }
    }

    /// Hands every valid message to `body`, on the thread that receives.
    func onMessage(_ body: @escaping (OpaquePointer) -> Void) {
        let receiver = Receiver(body)
        messageReceiver = receiver
        nl_socket_modify_cb(handle, NL_CB_VALID, NL_CB_CUSTOM, { message, context in
            guard let message, let context else { return Int32(NL_OK.rawValue) }
            Unmanaged<Receiver<OpaquePointer>>.fromOpaque(context).takeUnretainedValue().body(message)
            return Int32(NL_OK.rawValue)
        }, Unmanaged.passUnretained(receiver).toOpaque())
    }

    /// Every valid message as an event (MessageParser reads libnl's
    /// objects); messages it does not know are skipped.
    func onEvent(_ body: @escaping (NetlinkEvent) -> Void) {
        onMessage { message in
            if let event = MessageParser.parse(message) { body(event) }
        }
    }

    /// An error answer hands its errno to `body` and ends the receive.
    func onError(_ body: @escaping (Int32) -> Void) {
        let receiver = Receiver(body)
        errorReceiver = receiver
        nl_socket_modify_err_cb(handle, NL_CB_CUSTOM, { _, error, context in
            if let context {
                Unmanaged<Receiver<Int32>>.fromOpaque(context).takeUnretainedValue().body(-(error?.pointee.error ?? 0))
            }
            return Int32(NL_STOP.rawValue)
        }, Unmanaged.passUnretained(receiver).toOpaque())
    }
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
