import Foundation
import Glibc

/// Where `attach --metrics` listens. A bare port, or an address without
/// one, means localhost: counters are nobody's business off the box unless
/// the operator says so.
public struct MetricsAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: IPAddress
    public var port: UInt16

    public static let defaultPort: UInt16 = 9464

    /// PORT, ADDRESS:PORT, [IPV6]:PORT, ADDRESS, or localhost:PORT.
    public init?(_ text: String) {
        var hostPart = "127.0.0.1", portPart = "\(Self.defaultPort)"
        if let bare = UInt16(text) {
            portPart = "\(bare)"
        } else if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            hostPart = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portPart = String(rest.dropFirst())
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            hostPart = String(text[..<colon])
            portPart = String(text[text.index(after: colon)...])
        } else {
            hostPart = text
        }
        if hostPart == "localhost" { hostPart = "127.0.0.1" }
        guard let host = IPAddress(hostPart), let port = UInt16(portPart), port != 0 else { return nil }
        self.host = host
        self.port = port
    }

    public var description: String {
        host.family == .ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// A minimal HTTP/1.0 server for one Prometheus scrape at a time: the
/// counters are read from the maps on each request, and scrapes are seconds
/// apart, so a thread blocking in accept() is all it takes.
public final class MetricsServer: @unchecked Sendable {
    public let address: MetricsAddress
    private let listener: Int32
    private let body: @Sendable () throws -> String

    /// Binds and starts serving; `body` renders the page on each scrape.
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
        guard bound == 0, listen(fd, 16) == 0 else {
            let error = Errno.current
            close(fd)
            throw FibfastError.metricsListen(address: address.description, error)
        }
        listener = fd
        let thread = Thread { [self] in self.serve() }
        thread.name = "fibfast-metrics"
        thread.start()
    }

    /// Stops accepting; the serving thread ends at its next accept().
    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                break
            }
            respond(to: client)
            close(client)
        }
        close(listener)
    }

    private func respond(to client: Int32) {
        // A scraper that connects and says nothing must not stall the next one.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while request.count < 16384 {
            let count = read(client, &buffer, buffer.count)
            if count <= 0 { break }
            request += buffer[0..<count]
            if request.count >= 4, request.suffix(4) == [13, 10, 13, 10] || request.suffix(2) == [10, 10] { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        let (status, type, text): (String, String, String)
        if line.count >= 2, line[0] == "GET" || line[0] == "HEAD" {
            let path = line[1].split(separator: "?").first.map(String.init) ?? ""
            if path == "/metrics" {
                do {
                    (status, type, text) = ("200 OK", PrometheusText.contentType, try body())
                } catch {
                    (status, type, text) = ("503 Service Unavailable", "text/plain", "\(error)\n")
                }
            } else if path == "/" {
                (status, type, text) = ("200 OK", "text/plain", "fibfast: metrics at /metrics\n")
            } else {
                (status, type, text) = ("404 Not Found", "text/plain", "not found; metrics are at /metrics\n")
            }
        } else {
            (status, type, text) = ("405 Method Not Allowed", "text/plain", "GET /metrics\n")
        }
        let payload = Array(text.utf8)
        var response = Array("HTTP/1.0 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(payload.count)\r\nConnection: close\r\n\r\n".utf8)
        if line.first != "HEAD" { response += payload }
        var sent = 0
        while sent < response.count {
            let count = response[sent...].withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            sent += count
        }
    }
}
