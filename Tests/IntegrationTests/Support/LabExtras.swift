import Foundation
import XCTest

/// Additions to the Lab for the agent's tests: more hosts behind more
/// router ports, captures in any namespace, and a look at the agent.
extension Lab {
    /// Adds a host behind a new router port:
    /// rtr PORT 10.N.0.1/24 fd00:N::1/64 -- host eth0 10.N.0.2/24 fd00:N::2/64,
    /// with a default route back through the router. Returns its namespace.
    /// The namespace is removed by the test's teardown.
    @discardableResult
    func addHost(_ host: String, port: String, subnet: Int, test: XCTestCase) throws -> String {
        let ns = "\(name)-\(host)"
        try check(Command.run(["ip", "netns", "add", ns]))
        test.addTeardownBlock { _ = try? Command.run(["ip", "netns", "del", ns]) }
        try check(Command.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                               "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0",
                               "net.ipv6.conf.default.accept_ra=0", "net.ipv6.conf.all.accept_ra=0"]))
        try check(Command.run(["ip", "-n", ns, "link", "set", "lo", "up"]))
        try connect(host: ns, port: port, subnet: subnet)
        return ns
    }

    /// (Re)creates the veth pair rtr PORT <-> host eth0 with the addresses
    /// of subnet N, as lab.sh does for p1, in as few commands as lab.sh
    /// (each costs a second or more in the VM lane's emulated guest).
    func connect(host ns: String, port: String, subnet: Int) throws {
        let rtr = namespace(.rtr)
        try check(Command.run(["ip", "-n", rtr, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns]))
        try batch(rtr, """
            addr add 10.\(subnet).0.1/24 dev \(port)
            addr add fd00:\(subnet)::1/64 dev \(port) nodad
            link set \(port) up
            """)
        try batch(ns, """
            addr add 10.\(subnet).0.2/24 dev eth0
            addr add fd00:\(subnet)::2/64 dev eth0 nodad
            link set eth0 up
            route replace default via 10.\(subnet).0.1
            route replace ::/0 via fd00:\(subnet)::1
            """)
        try check(Command.run(["ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "gro", "on"]))
    }

    /// Writes an `ip -batch` file of `count` /24 routes from 20.0.0.0/24 on,
    /// `route VERB PREFIX via GATEWAY` each; the test's teardown removes it.
    func routeBatch(_ verb: String, count: Int, gateway: String, test: XCTestCase) throws -> String {
        let path = "/tmp/\(name)-\(verb)-\(gateway).batch"
        var text = ""
        text.reserveCapacity(count * 40)
        for i in 0..<count {
            text += "route \(verb) \(20 + i / 65536).\((i / 256) % 256).\(i % 256).0/24 via \(gateway)\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// Runs `ip -batch` in a namespace: one command per line, one process.
    func batch(_ namespace: String, _ commands: String) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fibfast-batch-\(UUID().uuidString)")
        try (commands + "\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        try check(Command.run(["ip", "-n", namespace, "-batch", file.path]))
    }

    /// Sends UDP datagrams from any lab namespace (Lab.send sends from src).
    func send(from ns: String, to destination: String, count: Int = 20, port: Int = 9999) throws {
        try check(Command.run(["ip", "netns", "exec", ns, Command.python, Lab.packetTool, "send",
                               "--dst", destination, "--count", "\(count)", "--port", "\(port)"]))
    }

    /// Resolves the neighbours on the way (the kernel forwards the ping), so
    /// that a burst sent next is not partly held back by ARP / ND.
    func warm(fromNamespace ns: String? = nil, _ destinations: String...) throws {
        for destination in destinations {
            try check(Command.run(["ip", "netns", "exec", ns ?? namespace(.src), "ping", "-q", "-n", "-c", "1", "-w", "5", destination]))
        }
    }

    /// Runs `ip ARGS` in the router.
    @discardableResult
    func ip(_ arguments: String) throws -> CommandResult {
        try check(Command.run(["ip", "-n", namespace(.rtr)] + arguments.split(separator: " ").map(String.init)))
    }

    @discardableResult
    func check(_ result: CommandResult) throws -> CommandResult {
        guard result.succeeded else { throw LabError.command("command", result.stderr + result.stdout) }
        return result
    }

    /// Packets forwarded in XDP from p0 so far.
    func forwarded(from port: String = "p0") throws -> UInt64 {
        let stats = try stats()
        return stats.ports.contains { $0.name == port } ? try stats.port(port).forwarded.packets : 0
    }

    /// The ifindexes in the devmap (ff_ports) of the fast path attached to
    /// `port`, via bpftool (map names are not unique across namespaces).
    func devmapIfindexes(via port: String = "p0") throws -> Set<UInt32> {
        let link = try check(exec(.rtr, ["ip", "-d", "-j", "link", "show", "dev", port])).stdout
        guard let links = try JSONSerialization.jsonObject(with: Data(link.utf8)) as? [[String: Any]],
              let xdp = links.first?["xdp"] as? [String: Any], let prog = xdp["prog"] as? [String: Any],
              let programID = prog["id"] as? Int else { return [] }
        let info = try check(exec(.rtr, ["bpftool", "-j", "prog", "show", "id", "\(programID)"])).stdout
        guard let program = try JSONSerialization.jsonObject(with: Data(info.utf8)) as? [String: Any],
              let mapIDs = program["map_ids"] as? [Int] else { return [] }
        var devmap: Int?
        for id in mapIDs {
            let text = try check(exec(.rtr, ["bpftool", "-j", "map", "show", "id", "\(id)"])).stdout
            if let map = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
               map["name"] as? String == "ff_ports" { devmap = id }
        }
        guard let devmap else { return [] }
        let result = try check(exec(.rtr, ["bpftool", "-j", "map", "dump", "id", "\(devmap)"]))
        guard let entries = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] else { return [] }
        var keys = Set<UInt32>()
        for entry in entries {
            if let key = entry["key"] as? Int { keys.insert(UInt32(key)) }
            else if let bytes = entry["key"] as? [String] {
                let value = bytes.prefix(4).enumerated().reduce(UInt32(0)) { $0 | UInt32(UInt8($1.element.dropFirst(2), radix: 16) ?? 0) << (8 * UInt32($1.offset)) }
                keys.insert(value)
            }
        }
        return keys
    }

    func ifindex(_ port: String) throws -> UInt32 {
        let text = try check(exec(.rtr, ["cat", "/sys/class/net/\(port)/ifindex"])).stdout
        return UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// `ip -d neigh show ADDR dev PORT` in the router.
    func neighbour(_ address: String, dev: String) throws -> String {
        try exec(.rtr, ["ip", "-d", "neigh", "show", address, "dev", dev]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension AgentProcess {
    var pid: Int32 { background.pid }

    /// Waits until the agent's log contains `text`.
    func waitForLog(_ text: String, timeout: Double = 60) throws {
        try background.waitForLine(text, inStderr: true, timeout: timeout)
    }

    /// Runs `action`, then waits for the log to hold `text` once more than
    /// it did before: for messages the agent logs more than once.
    func waitForAnotherLog(_ text: String, timeout: Double = 10, after action: () throws -> Void) throws {
        let before = log.components(separatedBy: text).count
        try action()
        guard background.wait(timeout: timeout, until: { $0.stderr.components(separatedBy: text).count > before })
        else { throw LabError.timeout("another '\(text)' in the agent's log: \(log)") }
    }

    /// A line of /proc/PID/status, in kB (VmRSS, VmHWM).
    func memory(_ field: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ").dropFirst().first.map(String.init) ?? "") ?? 0
        }
        return 0
    }
}

/// Polls until `condition` holds or `timeout` passes: for kernel state
/// (tables, namespaces, counters) that raises no event a test can wait on.
/// The timeout only catches a condition that never comes.
func eventually(_ timeout: Double = 30, _ what: String, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(Deadline.seconds(timeout))
    while Date() < deadline {
        if try condition() { return }
        usleep(100_000)
    }
    if try condition() { return }
    throw LabError.timeout(what)
}

extension Lab {
    /// How many of `flows` datagrams to `destination` (one per destination
    /// port, all sent from one process) arrive at each of the given hosts' eth0.
    func arrivals(at namespaces: [String], destination: String, flows: Int = 1) throws -> [Int] {
        // Only UDP to the destination counts: the router's neighbour probes and
        // MLD reports reach these hosts too.
        let got = try capture(inNamespaces: namespaces, count: flows, destination: destination, proto: "udp") {
            try send(to: destination, count: flows, port: 20000, ports: flows)
        }
        return namespaces.map { ns in got.filter { $0.netns == ns }.count }
    }

    /// The counters once `condition` holds. The fast path counts a packet in
    /// softirq, which may run after its sender has exited, so counters read
    /// straight after a send can be short. After `timeout`, the last reading,
    /// for the test's assertions to report.
    func stats(when condition: (Stats) throws -> Bool, timeout: Double = 10) throws -> Stats {
        let deadline = Date().addingTimeInterval(Deadline.seconds(timeout))
        var reading = try stats()
        while try !condition(reading) && Date() < deadline {
            usleep(100_000)  // a counter has no event to wait on: poll it
            reading = try stats()
        }
        return reading
    }
}

/// Packets an interface in a namespace has received (the kernel's counter:
/// XDP and kernel paths alike).
func receivedPackets(inNamespace ns: String, _ interface: String) throws -> UInt64 {
    let text = try Command.run(["ip", "netns", "exec", ns, "cat", "/sys/class/net/\(interface)/statistics/rx_packets"]).stdout
    return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
}
