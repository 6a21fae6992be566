import FibfastCore
import Foundation
import XCTest

final class SubprocessTests: XCTestCase {
    func testCollectsOutputAndStatus() throws {
        let result = try Subprocess.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"])
        XCTAssertEqual(result.status, 3)
        XCTAssertEqual(result.stdout, "out\n")
        XCTAssertEqual(result.stderr, "err\n")
        XCTAssertFalse(result.timedOut)
    }

    /// A started tool runs beside the caller, reads what it is given and
    /// ends when its input does.
    func testAStartedToolReadsItsInputUntilItEnds() throws {
        let child = try Subprocess.start("/bin/cat", [], input: true)
        XCTAssertEqual(write(child.stdin, "line\n", 5), 5)
        shutdown(child.stdin, Int32(SHUT_WR))
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while case let count = read(child.stdout, &buffer, buffer.count), count > 0 { output += buffer[..<count] }
        [child.stdin, child.stdout, child.stderr].forEach { close($0) }
        XCTAssertEqual(String(decoding: output, as: UTF8.self), "line\n")
        XCTAssertEqual(Subprocess.reap(child.pid), 0)
    }

    /// A tool that hangs is killed at the deadline, together with what it
    /// started (here a child that would hold the pipes open for 30 s).
    func testAHungToolIsKilledWithItsChildren() throws {
        let started = Date()
        let result = try Subprocess.run("/bin/sh", ["-c", "sleep 30 & echo $!; sleep 30"], timeout: .milliseconds(300))
        XCTAssertTrue(result.timedOut)
        XCTAssertEqual(result.status, 128 + SIGKILL)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20, "returned long before the tool's 30 s")
        let child = try XCTUnwrap(Int32(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), result.stdout)
        // Killed: gone, or a zombie until whoever adopted it reaps it.
        let deadline = Date().addingTimeInterval(10)
        func alive() -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8) else { return false }
            return !stat.contains(") Z ")
        }
        // The child is not this process's: its end raises no event here, so /proc is polled.
        while alive() && Date() < deadline { usleep(20_000) }
        XCTAssertFalse(alive(), "the tool's child outlived the timeout")
    }
}
