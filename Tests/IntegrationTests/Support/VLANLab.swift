import Foundation
import XCTest

/// VLANs over the lab's rtr p1 -- dst eth0 link, as a trunk:
///  VLAN 100: rtr p1.100 10.3.0.1/24 fd00:3::1/64 -- dst eth0.100 10.3.0.2/24 fd00:3::2/64
///  VLAN 200: rtr p1.200 10.4.0.1/24 fd00:4::1/64 -- host eth0.200 10.4.0.2/24 fd00:4::2/64,
///            a VLAN device over dst's eth0 moved into its own namespace (NAME-v200), so
///            that traffic between the two VLANs crosses the router.
/// dst's eth0 sends tags in the frame (tx-vlan offload off), as a wire carries them.
extension Lab {
    /// Needs 8021q: on a kernel without it (this project's 6.18 build host)
    /// the test is skipped; the VM lane (Debian 12's 6.1) runs it.
    func addVLANs(_ test: XCTestCase, egressQoS200: String? = nil) throws -> String {
        if !FileManager.default.fileExists(atPath: "/proc/net/vlan/config") {
            _ = try Command.run(["modprobe", "8021q"])
            if !FileManager.default.fileExists(atPath: "/proc/net/vlan/config") {
                throw XCTSkip("this kernel has no 8021q (VLAN) module: the VM lane runs this test")
            }
        }
        let v200 = "\(name)-v200"
        try check(Command.run(["ip", "netns", "add", v200]))
        test.addTeardownBlock { _ = try? Command.run(["ip", "netns", "del", v200]) }
        try check(Command.run(["ip", "netns", "exec", v200, "sysctl", "-q", "-w",
                               "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"]))
        try check(Command.run(["ip", "-n", v200, "link", "set", "lo", "up"]))
        try addVLAN(router: 100, qos: nil)
        try addVLAN(router: 200, qos: egressQoS200)
        let dst = namespace(.dst)
        try check(Command.run(["ip", "netns", "exec", dst, "ethtool", "-K", "eth0", "txvlan", "off"]))
        try check(Command.run(["ip", "-n", dst, "link", "add", "link", "eth0", "name", "eth0.100", "type", "vlan", "id", "100"]))
        try check(Command.run(["ip", "-n", dst, "link", "add", "link", "eth0", "name", "eth0.200", "type", "vlan", "id", "200"]))
        try check(Command.run(["ip", "-n", dst, "link", "set", "eth0.200", "netns", v200]))
        for (ns, dev, subnet) in [(dst, "eth0.100", 3), (v200, "eth0.200", 4)] {
            try check(Command.run(["ip", "-n", ns, "addr", "add", "10.\(subnet).0.2/24", "dev", dev]))
            try check(Command.run(["ip", "-n", ns, "-6", "addr", "add", "fd00:\(subnet)::2/64", "dev", dev, "nodad"]))
            try check(Command.run(["ip", "-n", ns, "link", "set", dev, "up"]))
        }
        for (prefix, via) in [("10.1.0.0/24", "10.3.0.1"), ("10.4.0.0/24", "10.3.0.1"), ("fd00:1::/64", "fd00:3::1"), ("fd00:4::/64", "fd00:3::1")] {
            try check(Command.run(["ip", "-n", dst, "route", "add", prefix, "via", via]))
        }
        try check(Command.run(["ip", "-n", v200, "route", "add", "default", "via", "10.4.0.1"]))
        try check(Command.run(["ip", "-n", v200, "-6", "route", "add", "default", "via", "fd00:4::1"]))
        return v200
    }

    private func addVLAN(router id: Int, qos: String?) throws {
        let subnet = id == 100 ? 3 : 4
        try ip("link add link p1 name p1.\(id) type vlan id \(id)" + (qos.map { " egress-qos-map \($0)" } ?? ""))
        try ip("addr add 10.\(subnet).0.1/24 dev p1.\(id)")
        try ip("-6 addr add fd00:\(subnet)::1/64 dev p1.\(id) nodad")
        try ip("link set p1.\(id) up")
    }

    /// Resolves the router's neighbours on the VLANs both ways (the first
    /// packet to a next hop goes through the kernel, which resolves it).
    func warmVLANs(_ v200: String) throws {
        for target in ["10.3.0.2", "fd00:3::2", "10.4.0.2", "fd00:4::2"] {
            try check(exec(.src, ["ping", "-q", "-n", "-c", "1", "-w", "5", target]))
        }
        for target in ["10.1.0.2", "fd00:1::2", "10.4.0.2", "fd00:4::2"] {
            try check(exec(.dst, ["ping", "-q", "-n", "-c", "1", "-w", "5", target]))
        }
    }

    /// Sends UDP from any namespace (the lab's own send is from src).
    func send(from ns: String, to destination: String, count: Int, port: Int = 9999) throws {
        try check(Command.run(["ip", "netns", "exec", ns, Command.python, Lab.packetTool, "send", "--dst", destination,
                               "--count", "\(count)", "--port", "\(port)"]))
    }

    /// The router kernel's own forwarding counter (IPv4 ForwDatagrams plus
    /// IPv6 OutForwDatagrams), and the port unreachables (both families) the
    /// sinks sent for datagrams no socket took: ICMP errors that router's
    /// kernel forwards too, the fast path leaving them to it.
    struct KernelForwarding {
        var forwarded: Int64
        var unreachables: Int64
    }

    func kernelForwarding(sinks: [String]) throws -> KernelForwarding {
        KernelForwarding(forwarded: try snmp(namespace(.rtr), "Ip", "ForwDatagrams", v6: "Ip6OutForwDatagrams"),
                         unreachables: try sinks.reduce(0) { try $0 + snmp($1, "Icmp", "OutDestUnreachs", v6: "Icmp6OutDestUnreachs") })
    }

    /// What the router's kernel forwarded since `before` besides the sinks'
    /// unreachables, once `expected` and those have crossed it (an
    /// unreachable is counted by its sink before the router forwards it).
    func kernelForwarded(since before: KernelForwarding, sinks: [String], expected: Int64) throws -> Int64 {
        var now = before
        func others() -> Int64 { (now.forwarded - before.forwarded) - (now.unreachables - before.unreachables) }
        try? eventually(10, "the router's kernel forwarding \(expected) datagrams") {
            now = try kernelForwarding(sinks: sinks)
            return others() >= expected
        }
        return others()
    }

    /// A counter of /proc/net/snmp (a line of names under `group`, then one
    /// of values) plus one of /proc/net/snmp6 (a name and a value a line).
    private func snmp(_ ns: String, _ group: String, _ name: String, v6: String) throws -> Int64 {
        let lines = try check(Command.run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"])).stdout
            .split(separator: "\n").filter { $0.hasPrefix(group + ":") }
        guard lines.count == 2 else { throw LabError.command("/proc/net/snmp", "no \(group) lines") }
        let names = lines[0].split(separator: " "), values = lines[1].split(separator: " ")
        let v4 = names.firstIndex(of: Substring(name)).flatMap { Int64(values[$0]) } ?? 0
        let six = try check(Command.run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp6"])).stdout.split(separator: "\n")
            .first { $0.hasPrefix(v6 + " ") || $0.hasPrefix(v6 + "\t") }?.split(whereSeparator: { $0 == " " || $0 == "\t" }).last
        return v4 + (six.flatMap { Int64($0) } ?? 0)
    }
}
