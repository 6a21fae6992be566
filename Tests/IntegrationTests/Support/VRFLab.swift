import Foundation
import XCTest

/// VRFs in the lab's router, and what the VRF tests measure: the kernel's
/// own forwarding counters, traffic from any host, spoofed sources.
extension Lab {
    /// Creates VRF `name` with routing table `table` in the router and
    /// enslaves `ports` (port name: its lab subnet N) to it. Skips the test
    /// on a kernel without VRF support (this machine's; the VM lane has it).
    func addVRF(_ name: String, table: Int, ports: [(String, Int)]) throws {
        _ = try? Command.run(["modprobe", "vrf"])
        let made = try exec(.rtr, ["ip", "link", "add", name, "type", "vrf", "table", "\(table)"])
        guard made.succeeded else {
            throw XCTSkip("this kernel has no VRF devices (vrf module): \(made.stderr.trimmingCharacters(in: .whitespacesAndNewlines)); the VM lane runs this test")
        }
        try ip("link set \(name) up")
        // As operators set VRFs up: a lookup that finds nothing in the
        // VRF's table must not fall through to the next rules (main).
        try ip("route add table \(table) unreachable default metric 4278198272")
        try ip("-6 route add table \(table) unreachable default metric 4278198272")
        for (port, subnet) in ports { try enslave(port, to: name, subnet: subnet) }
    }

    /// Moves a router port into VRF `vrf` (nil: out of any). The kernel
    /// cycles the port, which flushes its IPv6 addresses: they are put back.
    func enslave(_ port: String, to vrf: String?, subnet: Int) throws {
        try ip("link set \(port) " + (vrf.map { "master \($0)" } ?? "nomaster"))
        try ip("-6 addr replace fd00:\(subnet)::1/64 dev \(port) nodad")
    }

    /// Packets the router's kernel has forwarded (both families), from its
    /// SNMP counters: what the fast path takes off it must not show here.
    func kernelForwarded() throws -> (v4: Int, v6: Int) {
        func field(_ text: String, _ prefix: String, _ name: String) -> Int? {
            let lines = text.split(separator: "\n").filter { $0.hasPrefix(prefix) }
            guard lines.count == 2 else { return nil }
            let names = lines[0].split(separator: " "), values = lines[1].split(separator: " ")
            return names.firstIndex(of: Substring(name)).flatMap { Int(values[$0]) }
        }
        let snmp = try check(exec(.rtr, ["cat", "/proc/net/snmp"])).stdout
        let snmp6 = try check(exec(.rtr, ["cat", "/proc/net/snmp6"])).stdout
        let v6 = snmp6.split(separator: "\n").first { $0.hasPrefix("Ip6OutForwDatagrams") }
            .flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).last }.flatMap { Int($0) }
        return (field(snmp, "Ip:", "ForwDatagrams") ?? -1, v6 ?? -1)
    }

    /// Sends UDP datagrams from any lab namespace (Lab.send sends from src).
    func send(fromNamespace ns: String, to destination: String, count: Int = 20) throws {
        try check(Command.run(["ip", "netns", "exec", ns, Command.python, Lab.packetTool, "send",
                               "--dst", destination, "--count", "\(count)"]))
    }

    /// Resolves the neighbours on the way (the kernel forwards the ping), so
    /// that a burst sent next is not partly held back by ARP / ND.
    func warm(fromNamespace ns: String? = nil, _ destinations: String...) throws {
        for destination in destinations {
            try check(Command.run(["ip", "netns", "exec", ns ?? namespace(.src), "ping", "-q", "-n", "-c", "1", "-w", "5", destination]))
        }
    }
}
