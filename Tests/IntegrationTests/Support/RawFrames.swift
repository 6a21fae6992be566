import FibfastCore
import Foundation

/// Raw Ethernet frames for tests that need exact bytes (spoofed sources,
/// bad checksums, fuzzing) rather than what a socket would send.
enum RawFrames {
    static func mac(_ text: String) -> [UInt8] {
        text.split(separator: ":").map { UInt8($0, radix: 16)! }
    }

    static func ipv4(_ text: String) -> [UInt8] {
        var addr = in_addr()
        precondition(inet_pton(AF_INET, text, &addr) == 1, "bad IPv4 address \(text)")
        return withUnsafeBytes(of: &addr) { Array($0) }
    }

    static func ipv6(_ text: String) -> [UInt8] {
        var addr = in6_addr()
        precondition(inet_pton(AF_INET6, text, &addr) == 1, "bad IPv6 address \(text)")
        return withUnsafeBytes(of: &addr) { Array($0) }
    }

    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }

    /// The Internet checksum (RFC 1071), as `fibfast lookup` computes it.
    static func checksum(_ bytes: [UInt8]) -> UInt16 { Checksum.internet(bytes) }

    static func udp4(ethDst: [UInt8], ethSrc: [UInt8], src: String, dst: String, ttl: UInt8 = 64,
                     sport: UInt16 = 40000, dport: UInt16 = 9999, payload: [UInt8] = Array("fibfast".utf8),
                     id: UInt16 = 1, tos: UInt8 = 0, options: [UInt8] = []) -> [UInt8] {
        var udp = be16(sport) + be16(dport) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
        let pseudo = ipv4(src) + ipv4(dst) + [0, 17] + be16(UInt16(udp.count))
        let sum = checksum(pseudo + udp)
        udp[6...7] = (be16(sum == 0 ? 0xffff : sum))[...]
        let headerLength = 20 + options.count
        var ip: [UInt8] = [UInt8(0x40 | headerLength / 4), tos] + be16(UInt16(headerLength + udp.count)) + be16(id)
            + [0x40, 0, ttl, 17, 0, 0] + ipv4(src) + ipv4(dst) + options
        ip[10...11] = be16(checksum(ip))[...]
        return ethDst + ethSrc + [0x08, 0x00] + ip + udp
    }

    static func udp6(ethDst: [UInt8], ethSrc: [UInt8], src: String, dst: String, hopLimit: UInt8 = 64,
                     sport: UInt16 = 40000, dport: UInt16 = 9999, payload: [UInt8] = Array("fibfast".utf8),
                     nextHeader: UInt8 = 17) -> [UInt8] {
        var udp = be16(sport) + be16(dport) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
        let pseudo = ipv6(src) + ipv6(dst) + [0, 0] + be16(UInt16(udp.count)) + [0, 0, 0, 17]
        let sum = checksum(pseudo + udp)
        udp[6...7] = (be16(sum == 0 ? 0xffff : sum))[...]
        let ip: [UInt8] = [0x60, 0, 0, 0] + be16(UInt16(udp.count)) + [nextHeader, hopLimit] + ipv6(src) + ipv6(dst)
        return ethDst + ethSrc + [0x86, 0xdd] + ip + udp
    }

    /// An IPv4 frame of udp4() made a fragment: its flags and offset set.
    static func fragment4(_ frame: [UInt8], offset: UInt16, more: Bool) -> [UInt8] {
        var frame = frame
        frame[20...21] = be16(offset | (more ? 0x2000 : 0))[...]
        frame[24...25] = [0, 0]
        frame[24...25] = be16(checksum(Array(frame[14..<34])))[...]
        return frame
    }

    /// An IPv6 frame of udp6() (next header 44) with a Fragment header
    /// (RFC 8200 4.5) put before its UDP header, naming `nextHeader`.
    static func fragment6(_ frame: [UInt8], nextHeader: UInt8 = 17, offset: UInt16 = 0, more: Bool = false) -> [UInt8] {
        var frame = frame
        let header: [UInt8] = [nextHeader, 0] + be16(offset << 3 | (more ? 1 : 0)) + [0, 0, 0x12, 0x34]
        frame.insert(contentsOf: header, at: 14 + 40)
        let payload = Int(frame[18]) << 8 | Int(frame[19])
        frame[18...19] = be16(UInt16(payload + header.count))[...]
        return frame
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}

extension Lab {
    /// The MAC address of an interface in one of the lab's namespaces.
    func mac(_ host: Host, _ interface: String) throws -> [UInt8] {
        let result = try exec(host, ["cat", "/sys/class/net/\(interface)/address"])
        guard result.succeeded else { throw LabError.command("reading \(interface)'s MAC", result.stderr) }
        return RawFrames.mac(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Writes a raw frame out of a host's eth0 `count` times.
    func inject(_ frame: [UInt8], from host: Host = .src, count: Int = 1) throws {
        let result = try exec(host, [Command.python, Lab.packetTool, "frame", "--iface", "eth0",
                                     "--hex", RawFrames.hex(frame), "--count", "\(count)"])
        guard result.succeeded else { throw LabError.command("frame", result.stderr) }
    }

    func sysctl(_ host: Host, _ assignments: String...) throws {
        let result = try exec(host, ["sysctl", "-q", "-w"] + assignments)
        guard result.succeeded else { throw LabError.command("sysctl", result.stderr) }
    }
}

extension Lab {
    /// Ports of the router that have any XDP program attached, from `ip -d link show`.
    func portsWithXDP(_ host: Host = .rtr) throws -> [String] {
        let result = try exec(host, ["ip", "-d", "-j", "link", "show"])
        guard result.succeeded,
              let links = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
        else { throw LabError.command("ip link show", result.stderr) }
        return links.filter { $0["xdp"] != nil }.compactMap { $0["ifname"] as? String }
    }

    /// Runs `fibfast attach` in the router expecting it to refuse; returns
    /// its exit status and stderr.
    func attachRefused(_ arguments: [String], timeout: Double = 10) throws -> (status: Int32, message: String) {
        let process = try BackgroundProcess(["ip", "netns", "exec", namespace(.rtr), Command.fibfast, "attach"] + arguments)
        _ = try process.finish(timeout: timeout)
        return (process.exitStatus ?? -1, process.stderr)
    }
}
