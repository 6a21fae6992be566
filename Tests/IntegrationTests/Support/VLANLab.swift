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
        let egressQoS = egressQoS200.map { " egress-qos-map \($0)" } ?? ""
        try batch(namespace(.rtr), """
            link add link p1 name p1.100 type vlan id 100
            addr add 10.3.0.1/24 dev p1.100
            addr add fd00:3::1/64 dev p1.100 nodad
            link set p1.100 up
            link add link p1 name p1.200 type vlan id 200\(egressQoS)
            addr add 10.4.0.1/24 dev p1.200
            addr add fd00:4::1/64 dev p1.200 nodad
            link set p1.200 up
            """)
        let dst = namespace(.dst)
        try check(Command.run(["ip", "netns", "exec", dst, "ethtool", "-K", "eth0", "txvlan", "off"]))
        try batch(dst, """
            link add link eth0 name eth0.100 type vlan id 100
            link add link eth0 name eth0.200 type vlan id 200
            link set eth0.200 netns \(v200)
            addr add 10.3.0.2/24 dev eth0.100
            addr add fd00:3::2/64 dev eth0.100 nodad
            link set eth0.100 up
            route add 10.1.0.0/24 via 10.3.0.1
            route add 10.4.0.0/24 via 10.3.0.1
            route add fd00:1::/64 via fd00:3::1
            route add fd00:4::/64 via fd00:3::1
            """)
        try batch(v200, """
            link set lo up
            addr add 10.4.0.2/24 dev eth0.200
            addr add fd00:4::2/64 dev eth0.200 nodad
            link set eth0.200 up
            route add default via 10.4.0.1
            route add ::/0 via fd00:4::1
            """)
        return v200
    }

    /// Resolves the router's neighbours on the VLANs both ways (the first
    /// packet to a next hop goes through the kernel, which resolves it).
    func warmVLANs(_ v200: String) throws {
        try warm("10.3.0.2", "fd00:3::2", "10.4.0.2", "fd00:4::2")
        try warm(fromNamespace: namespace(.dst), "10.1.0.2", "fd00:1::2", "10.4.0.2", "fd00:4::2")
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
        let router = try snmp(namespace(.rtr))
        return KernelForwarding(forwarded: router["Ip.ForwDatagrams", default: 0] + router["Ip6OutForwDatagrams", default: 0],
                                unreachables: try sinks.reduce(0) {
                                    let sink = try snmp($1)
                                    return $0 + sink["Icmp.OutDestUnreachs", default: 0] + sink["Icmp6OutDestUnreachs", default: 0]
                                })
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
}
