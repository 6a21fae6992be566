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
}
