import Foundation
import XCTest

/// A lab must not outlive whoever built it, even when that process dies
/// without running its teardown (a crash, SIGKILL, a timeout).
final class LabCleanupTests: XCTestCase {
    func namespacesExist(_ name: String) -> [String] {
        ["src", "rtr", "dst"].filter { FileManager.default.fileExists(atPath: "/run/netns/\(name)-\($0)") }
    }

    func testALabGoesWhenItsOwnerIsKilled() throws {
        try Lab.requireRoot()
        let name = "ffreap" + String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        addTeardownBlock { _ = try? Command.run([Lab.script, "down", name]) }
        // The shell that builds the lab is its owner; it then waits as a test would.
        let owner = try BackgroundProcess(["bash", "-c", "\"$0\" up \"$1\" --no-warm && echo built && exec sleep 120",
                                           Lab.script, name])
        try owner.waitForLine("built", timeout: 20)
        XCTAssertEqual(namespacesExist(name), ["src", "rtr", "dst"])

        owner.kill(signal: SIGKILL)
        _ = try owner.finish(timeout: 5)
        // The reaper notices its owner is gone within a second.
        try? eventually(10, "the lab goes with its owner") { namespacesExist(name).isEmpty }
        XCTAssertEqual(namespacesExist(name), [], "the lab outlived its owner")
    }
}
