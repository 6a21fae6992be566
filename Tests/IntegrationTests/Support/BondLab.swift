import Foundation
import XCTest

/// Bonds in the lab (Tests/lab/bond.sh) and what tells the kernel's work
/// from the fast path's through them.
extension Lab {
    static let bondScript = Command.root.appendingPathComponent("Tests/lab/bond.sh").path

    /// Loads the bonding driver. This machine's own kernel has none, the
    /// Debian 12 VM's has: only there do these tests run.
    static func requireBonding() throws {
        // max_bonds=0: no bond0 in the root namespace.
        _ = try Command.run(["modprobe", "bonding", "max_bonds=0"])
        if !FileManager.default.fileExists(atPath: "/sys/module/bonding") {
            throw XCTSkip("this kernel has no bonding driver; the bond tests run in the Debian 12 VM (make test-vm)")
        }
    }

    /// Turns `side` (p0: towards src, p1: towards dst) into a bond of two
    /// slaves at both ends (rtr pXs0/pXs1 <-> host eth0s0/eth0s1).
    /// `carries`: wait until traffic crosses it (false for bonds only attached to).
    func makeBond(_ side: String, mode: String, hash: String? = nil, miimon: Int = 100, carries: Bool = true) throws {
        let result = try Command.run(["env", "BOND_MIIMON=\(miimon)", "BOND_WAIT=\(carries ? 1 : 0)",
                                      Lab.bondScript, name, side, mode]
                                     + (hash.map { [$0] } ?? []))
        guard result.succeeded else { throw LabError.setup("bond.sh \(side) \(mode): \(result.stderr)") }
    }

    /// Attaches to p0 and p1, of which `bonds` are bonds. Where the kernel
    /// cannot tell that a veth whose peer runs GRO takes redirects (before
    /// 6.3), it vouches for the bonds' slaves and the plain veth ports, as
    /// their operator would. Two minutes to start: the VM is emulated, and
    /// often shared.
    func attach(bonds: Set<String>, extra: [String] = []) throws -> AgentProcess {
        let vouched = Lab.kernelReportsXDPFeatures ? []
            : ["p0", "p1"].flatMap { bonds.contains($0) ? ["\($0)s0", "\($0)s1"] : [$0] }
        return try attach(["p0", "p1"] + vouched.flatMap { ["--xdp-transmit", $0] } + extra, vouch: false, timeout: 120)
    }

    /// Sends `flows` UDP datagrams to `destination` from port 40000, one per
    /// destination port from 20000 on, and returns the dst slave each
    /// arrived on, by port. The source port is fixed: a layer3+4 hash takes
    /// it in, and runs must send the same flows. dst drops them at input,
    /// so that it sends no port unreachable back, which the router's kernel
    /// would forward (ICMP errors are the kernel's).
    func slaveChoice(destination: String, flows: Int = 16) throws -> [Int: String] {
        try check(exec(.dst, ["nft", "add table inet bondlab; add chain inet bondlab in { type filter hook input priority 0; }; flush chain inet bondlab in; add rule inet bondlab in udp dport 20000-20999 drop"]))
        let got = try capture([namespace(.dst)], interfaces: "eth0s0,eth0s1", count: flows,
                              filters: ["--dst", destination, "--proto", "udp"], timeout: 3) {
            let result = try exec(.src, [Command.python, Lab.packetTool, "send", "--dst", destination,
                                         "--count", "\(flows)", "--port", "20000", "--ports", "\(flows)",
                                         "--sport", "40000"])
            guard result.succeeded else { throw LabError.command("send", result.stderr) }
            return nil
        }
        var choice: [Int: String] = [:]
        for packet in got { if let port = packet.dport { choice[port] = packet.iface ?? "?" } }
        return choice
    }

}
