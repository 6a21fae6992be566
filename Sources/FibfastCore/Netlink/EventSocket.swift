import CNetlink
import Foundation
import Glibc

/// rtnetlink notifications for links, addresses, IPv4 and IPv6 routes,
/// neighbours, rules and tc, read by a dedicated thread that blocks on the
/// socket and hands typed events to an AsyncStream.
///
/// Lost events are never silent: an ENOBUFS from the kernel (its receive
/// queue overflowed) or a full stream (the agent fell behind) becomes one
/// `.overrun` event, after which only a full dump tells the truth.
public final class EventSocket: @unchecked Sendable {
    /// The kernel queues this much for us before it drops events.
    public static let defaultBufferSize = 32 << 20
    /// Events decoded but not yet handled by the agent.
    static let streamCapacity = 16_384

    private let socket: NetlinkSocket
    private let reader: NetlinkReader
    private let sink: Sink
    private let bufferSize: Int
    private let received: @Sendable () -> Void
    public let events: AsyncStream<NetlinkEvent>

    private final class Sink: @unchecked Sendable {
        let continuation: AsyncStream<NetlinkEvent>.Continuation
        /// Set when an event could not be delivered: deliver nothing more
        /// until the overrun itself is delivered.
        var lost: String?
        /// Why the reader thread stopped on its own, once it has.
        var failure: String?
        init(_ continuation: AsyncStream<NetlinkEvent>.Continuation) { self.continuation = continuation }

        func deliver(_ event: NetlinkEvent) {
            guard lost == nil else { return }
            if case .dropped = continuation.yield(event) {
                lost = "the agent fell behind the kernel's events"
            }
        }
    }

    /// - Parameter received: runs on the reader thread for every message
    ///   the kernel sends, before it is decoded, and when events were lost:
    ///   whatever the change, it has happened by then (the FIB answer cache
    ///   is invalidated here, ahead of any queue).
    public init(bufferSize: Int = EventSocket.defaultBufferSize,
                received: @escaping @Sendable () -> Void = {}) throws {
        let socket = try NetlinkSocket()
        self.socket = socket
        self.bufferSize = bufferSize
        self.received = received
        let (stream, continuation) = AsyncStream<NetlinkEvent>.makeStream(
            bufferingPolicy: .bufferingOldest(EventSocket.streamCapacity))
        events = stream
        let sink = Sink(continuation)
        self.sink = sink

        nl_socket_disable_seq_check(socket.handle)
        socket.onMessage { message in
            received()
            if let event = MessageParser.parse(message) { sink.deliver(event) }
        }
        let groups = [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE,
                      RTNLGRP_IPV6_ROUTE, RTNLGRP_NEIGH, RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE,
                      RTNLGRP_IPV4_NETCONF, RTNLGRP_IPV6_NETCONF, RTNLGRP_TC, RTNLGRP_NEXTHOP]
        for group in groups {
            let rc = nl_socket_add_membership(socket.handle, Int32(group.rawValue))
            if rc < 0 {
                throw FibfastError.netlink(operation: "joining group \(group.rawValue)", code: rc)
            }
        }
        // SO_RCVBUF is capped by net.core.rmem_max; root may go past it.
        _ = nl_socket_set_buffer_size(socket.handle, Int32(clamping: bufferSize), 0)
        var size = Int32(clamping: bufferSize)
        _ = setsockopt(nl_socket_get_fd(socket.handle), SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size))
        reader = NetlinkReader(socket: socket)
        continuation.onTermination = { [reader] _ in reader.wake() }
    }

    /// The socket's descriptor, for the FIB cache hooks to recognise it by.
    var descriptor: Int32 { nl_socket_get_fd(socket.handle) }

    /// The receive buffer the kernel granted (it doubles what is asked).
    public var grantedBufferSize: Int {
        var size: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(nl_socket_get_fd(socket.handle), SOL_SOCKET, SO_RCVBUF, &size, &length)
        return Int(size)
    }

    /// Starts the reader thread; it ends when the stream's consumer goes
    /// away (or `stop()` is called).
    public func start() {
        reader.start(name: "fibfast-netlink", drained: { [sink, reader, received = self.received] drain in
            if drain.lost {
                received()
                if sink.lost == nil { sink.lost = "the kernel dropped events (ENOBUFS)" }
            }
            if let failure = drain.failure, sink.lost == nil {
                sink.lost = "netlink receive failed: \(Netlink.errorString(failure))"
            }
            if let reason = sink.lost {
                // Wait for room for the one event that makes up for all lost ones.
                while true {
                    if case .enqueued = sink.continuation.yield(.overrun(reason: reason)) { break }
                    var wake = [pollfd(fd: reader.wakeup, events: Int16(POLLIN), revents: 0)]
                    if poll(&wake, 1, 5) != 0 { break }
                }
                sink.lost = nil
            }
            return true
        }, finished: { [sink] failure in
            sink.failure = failure
            sink.continuation.finish()
        })
    }

    /// Why the events ended, when the reader stopped by itself: nothing
    /// follows the kernel from then on.
    public var failure: String? { sink.failure }

    public func stop() {
        sink.continuation.finish()
    }
}
