import Foundation
import Glibc

/// The HTTP/1.0 side of `attach --metrics`: one thread and one poll loop
/// over non-blocking sockets. It runs inside the agent, so no client may
/// cost more than its own connection: whatever it does (connect and say
/// nothing, trickle bytes, send too much, reset mid-request, never read the
/// answer), it gets a deadline, a size limit and a place among a few open
/// connections, and a write to a client that is gone fails with EPIPE
/// instead of raising SIGPIPE, whose default action ends the process.
public final class MetricsServer: @unchecked Sendable {
    /// From accept to close, for reading the request and writing the page.
    /// A scrape takes milliseconds, far below Prometheus' own timeout.
    public static let deadline: Duration = .seconds(2)
    /// A scrape's request is a few hundred bytes.
    public static let requestLimit = 8192
    /// Connections open at once. A new one closes the oldest rather than
    /// waiting: clients that connect and idle cannot lock a scraper out,
    /// since its request arrives right behind its connect.
    public static let connectionLimit = 16

    public let address: MetricsAddress
    private let listener: Int32
    private let body: @Sendable () throws -> String

    /// Binds and starts serving; `body` renders the page on each scrape and
    /// its error, if it throws, is the text of a 503.
    public init(address: MetricsAddress, body: @escaping @Sendable () throws -> String) throws {
        self.address = address
        self.body = body
        let family = address.host.family.socketFamily
        let fd = Sockets.stream(family: family)
        guard fd >= 0 else { throw FibfastError.metricsListen(address: address.description, .current) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var storage = sockaddr_storage()
        let length: socklen_t
        if family == AF_INET {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = address.port.bigEndian
            withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: address.host.bytes) }
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: sin) { raw.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        } else {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = address.port.bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: address.host.bytes) }
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: sin6) { raw.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        // Non-blocking, so that a connection reset between poll and accept
        // cannot leave the loop waiting in accept.
        guard bound == 0, listen(fd, 64) == 0, fcntl(fd, F_SETFL, O_NONBLOCK) == 0 else {
            let error = Errno.current
            close(fd)
            throw FibfastError.metricsListen(address: address.description, error)
        }
        listener = fd
        let thread = Thread { [self] in self.serve() }
        thread.name = "fibfast-metrics"
        thread.start()
    }

    /// Stops accepting; the serving thread closes its connections and ends.
    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
    }

    // Closed only here, once the serving thread (which holds a reference)
    // has ended: closed earlier, its number could be reused by then and
    // stop() would shut down someone else's socket.
    deinit {
        close(listener)
    }

    private struct Connection {
        let fd: Int32
        let deadline: ContinuousClock.Instant
        var request: [UInt8] = []
        /// What is left to send, once the request is complete or refused.
        var answer: ArraySlice<UInt8>?
    }

    private func serve() {
        // In accept order, hence in deadline order: the first is the oldest.
        var connections: [Connection] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        serving: while true {
            let now = ContinuousClock.now
            while let first = connections.first, first.deadline <= now {
                finish(connections.removeFirst().fd)
            }
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            fds += connections.map { pollfd(fd: $0.fd, events: Int16($0.answer == nil ? POLLIN : POLLOUT), revents: 0) }
            let timeout = connections.first.map { Self.milliseconds(from: now, to: $0.deadline) } ?? -1
            if poll(&fds, nfds_t(fds.count), timeout) < 0 {
                if errno == EINTR { continue }
                break
            }
            // Backwards, so that removing one keeps the indexes of the rest.
            for index in connections.indices.reversed() where fds[index + 1].revents != 0 {
                if !advance(&connections[index], buffer: &buffer) {
                    finish(connections.remove(at: index).fd)
                }
            }
            if fds[0].revents & Int16(POLLHUP) != 0 { break }  // stop()
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            while true {
                let client = Sockets.acceptNonBlocking(listener)
                if client < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    if errno == EAGAIN || errno == EWOULDBLOCK { break }
                    break serving
                }
                if connections.count >= Self.connectionLimit {
                    finish(connections.removeFirst().fd)
                }
                connections.append(Connection(fd: client, deadline: .now + Self.deadline))
            }
        }
        // However it ended, clients are refused from here on rather than
        // left waiting in the backlog.
        shutdown(listener, Int32(SHUT_RDWR))
        for connection in connections { finish(connection.fd) }
    }

    /// Reads or writes what poll said is possible; false once the
    /// connection is done with (answered, reset or refused).
    private func advance(_ connection: inout Connection, buffer: inout [UInt8]) -> Bool {
        if connection.answer == nil {
            let count = recv(connection.fd, &buffer, buffer.count, 0)
            if count < 0 { return errno == EAGAIN || errno == EINTR }  // reset: nobody left to answer
            if count == 0 {
                // The client stopped sending without the blank line: answer
                // what it asked, if it asked anything.
                guard !connection.request.isEmpty else { return false }
                connection.answer = answer(connection.request[...])
            } else {
                connection.request += buffer[0..<count]
                if let end = Self.endOfHeader(connection.request) {
                    connection.answer = answer(connection.request[..<end])
                } else if connection.request.count > Self.requestLimit {
                    connection.answer = Self.response("431 Request Header Fields Too Large",
                                                      text: "a scrape's request is at most \(Self.requestLimit) bytes\n")
                } else {
                    return true
                }
            }
        }
        while let rest = connection.answer, !rest.isEmpty {
            let count = rest.withUnsafeBytes { send(connection.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 { return errno == EAGAIN || errno == EINTR }
            connection.answer = rest.dropFirst(count)
        }
        return false
    }

    /// Closes a connection. What the client sent beyond its request is read
    /// first: closing with unread bytes resets the connection, and a reset
    /// can throw away an answer still on its way.
    private func finish(_ fd: Int32) {
        var scratch = [UInt8](repeating: 0, count: 4096)
        var reads = 0
        while reads < 16, recv(fd, &scratch, scratch.count, 0) > 0 { reads += 1 }
        close(fd)
    }

    private func answer(_ request: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        guard line.count >= 2 else { return Self.response("400 Bad Request", text: "GET /metrics\n") }
        guard line[0] == "GET" || line[0] == "HEAD" else {
            return Self.response("405 Method Not Allowed", text: "GET /metrics\n")
        }
        let head = line[0] == "HEAD"
        switch line[1].split(separator: "?", omittingEmptySubsequences: false).first ?? "" {
        case "/metrics":
            do {
                return Self.response("200 OK", type: PrometheusText.contentType, text: try body(), head: head)
            } catch {
                return Self.response("503 Service Unavailable", text: "\(error)\n", head: head)
            }
        case "/":
            return Self.response("200 OK", text: "fibfast: metrics at /metrics\n", head: head)
        default:
            return Self.response("404 Not Found", text: "not found; metrics are at /metrics\n", head: head)
        }
    }

    private static func response(_ status: String, type: String = "text/plain", text: String,
                                 head: Bool = false) -> ArraySlice<UInt8> {
        let payload = Array(text.utf8)
        let header = "HTTP/1.0 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(payload.count)\r\nConnection: close\r\n\r\n"
        return ArraySlice(Array(header.utf8) + (head ? [] : payload))
    }

    /// Where the header ends: after the first empty line (CRLF or bare LF).
    static func endOfHeader(_ request: [UInt8]) -> Int? {
        var index = request.startIndex
        while let newline = request[index...].firstIndex(of: 10) {
            let next = newline + 1
            if next < request.endIndex, request[next] == 10 { return next + 1 }
            if next + 1 < request.endIndex, request[next] == 13, request[next + 1] == 10 { return next + 2 }
            index = next
        }
        return nil
    }

    /// Rounded up: a poll that wakes just before the deadline would spin.
    private static func milliseconds(from now: ContinuousClock.Instant, to deadline: ContinuousClock.Instant) -> Int32 {
        let (seconds, attoseconds) = (deadline - now).components
        return Int32(clamping: max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1))
    }
}
