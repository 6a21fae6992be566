import Foundation
import XCTest

/// --keep-on-exit: the fast path outlives its agent, pinned in a bpffs that
/// every `ip netns exec` sees, and the next agent adopts it without a gap.
final class KeepOnExitTests: XCTestCase {
    /// A bpffs of the test's own, in the root mount namespace (where the
    /// test runs), removed afterwards.
    func bpffs(readOnly: Bool = false) throws -> String {
        let path = "/run/fibfast-test-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))/bpffs"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let options = readOnly ? "mode=0700,ro" : "mode=0700"
        let result = try Command.run(["mount", "-t", "bpf", "-o", options, "bpf", path])
        XCTAssertTrue(result.succeeded, result.stderr)
        addTeardownBlock {
            _ = try? Command.run(["umount", path])
            try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        }
        return path
    }

    func mode(_ path: String) throws -> (mode: Int, owner: Int) {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return ((attributes[.posixPermissions] as? Int) ?? -1, (attributes[.ownerAccountID] as? Int) ?? -1)
    }

    func testRestartUnderTrafficDropsNothingAndKeepsCounting() throws {
        let lab = try Lab(self)
        let bpffs = try bpffs()
        let first = try lab.attach(["p0", "p1", "--keep-on-exit", "--bpffs", bpffs])
        var second: AgentProcess?
        var sent = 0
        // Each step waits until the fast path has forwarded more of the stream,
        // so the restart happens under traffic on any machine, fast or slow.
        func forwardsMore(_ what: String) throws -> UInt64 {
            let from = try lab.forwarded()
            try eventually(30, what) { try lab.forwarded() >= from + 200 }
            return try lab.forwarded()
        }
        let seen = try lab.captureStream(on: .dst, proto: "udp", dport: 7002) {
            let stream = try Stream.start(inNamespace: lab.namespace(.src), to: "10.2.0.2", port: 7002, interval: 0.002)
            defer { stream.kill() }
            _ = try forwardsMore("agent 1 forwarding the stream in XDP")
            // Agent 1 stops (as for an upgrade); the pinned fast path forwards on alone.
            XCTAssertEqual(try first.stop(signal: SIGTERM), 0)
            XCTAssertTrue(first.log.contains("leaving the fast path pinned"), first.log)
            XCTAssertEqual(try lab.portsWithXDP(), ["p0", "p1"])
            let forwardedWhileAlone = try forwardsMore("the pinned fast path forwarding with no agent")
            second = try lab.attach(["p0", "p1", "--keep-on-exit", "--bpffs", bpffs])
            XCTAssertTrue(second!.log.contains("adopted the pinned fast path"), second!.log)
            _ = try forwardsMore("the adopted fast path forwarding the stream")
            sent = try stream.stop()
            print("keep-on-exit: \(forwardedWhileAlone) datagrams forwarded in XDP before agent 2 adopted the fast path")
            return sent
        }
        let p0 = try lab.stats(when: { try $0.port("p0").forwarded.packets >= UInt64(sent) }).port("p0")
        print("keep-on-exit: sent \(sent), received \(seen.count) at dst, XDP forwarded \(p0.forwarded.packets) on p0")
        XCTAssertEqual(seen.count, sent, "every datagram arrived across the restart")
        XCTAssertEqual(p0.forwarded.packets, UInt64(sent), "all went through XDP, counted by the same maps")

        // Root only: the namespace directory and every pin.
        let directories = try FileManager.default.contentsOfDirectory(atPath: bpffs).filter { $0.hasPrefix("net-") }
        XCTAssertEqual(directories.count, 1)
        let directory = bpffs + "/" + directories[0]
        XCTAssertEqual(try mode(directory).mode, 0o700)
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            let (mode, owner) = try mode(directory + "/" + name)
            XCTAssertEqual(mode & 0o077, 0, "\(name) is readable by others: \(String(mode, radix: 8))")
            XCTAssertEqual(owner, 0)
        }

        // Even a crash leaves it forwarding (that is what --keep-on-exit asks
        // for); detach is what ends it, pins included.
        second!.kill(signal: SIGKILL)
        _ = try second!.background.finish(timeout: 5)
        XCTAssertEqual(try lab.portsWithXDP(), ["p0", "p1"])
        let detach = try lab.fibfast(["detach", "--bpffs", bpffs])
        XCTAssertTrue(detach.succeeded, detach.stderr)
        XCTAssertEqual(try lab.portsWithXDP(), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory), "detach removes the pins")
    }

    func testWithoutKeepOnExitAnAdoptedFastPathEndsWithItsAgent() throws {
        let lab = try Lab(self, warm: false)
        let bpffs = try bpffs()
        XCTAssertEqual(try lab.attach(["p0", "p1", "--keep-on-exit", "--bpffs", bpffs]).stop(signal: SIGTERM), 0)
        let second = try lab.attach(["p0", "p1", "--bpffs", bpffs])
        XCTAssertTrue(second.log.contains("adopted"), second.log)
        XCTAssertEqual(try second.stop(signal: SIGTERM), 0)
        XCTAssertEqual(try lab.portsWithXDP(), [])
    }

    func testABpffsThatIsMissingOrReadOnly() throws {
        let lab = try Lab(self, warm: false)
        let plain = FileManager.default.temporaryDirectory.appendingPathComponent("ff-not-bpffs-\(getpid())").path
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: plain) }
        var (status, message) = try lab.attachRefused(["p0", "p1", "--keep-on-exit", "--bpffs", plain])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(message.contains("\(plain) is not a bpffs") && message.contains("mount -t bpf"), message)
        XCTAssertEqual(try lab.portsWithXDP(), [])

        let readOnly = try bpffs(readOnly: true)
        (status, message) = try lab.attachRefused(["p0", "p1", "--keep-on-exit", "--bpffs", readOnly])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(message.contains(readOnly) && message.contains("read-only"), message)
        XCTAssertEqual(try lab.portsWithXDP(), [])
    }
}
