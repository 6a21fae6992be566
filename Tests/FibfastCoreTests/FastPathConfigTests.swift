import CFastPath
import CLibBPF
@testable import FibfastCore
import XCTest

/// ff_config has one writer, which holds the agent's decisions as one value
/// and writes it whole: a change of one part keeps every other part, and
/// nothing is read back from the kernel.
final class FastPathConfigTests: XCTestCase {
    final class Store {
        var written: [ff_config] = []
        var fail = false
        func write(_ config: ff_config) throws {
            if fail { throw FibfastError.mapUpdate(map: FF_MAP_CONFIG, .busy) }
            written.append(config)
        }
    }

    func testTheFirstEntryIsWrittenWholeBeforeAnythingElse() throws {
        let store = Store()
        _ = try FastPathConfigEntry(FastPathConfig(direct: true, agentPID: 42, agentStarted: 7), write: store.write)
        XCTAssertEqual(store.written.count, 1)
        XCTAssertEqual(store.written[0].fib_flags, UInt32(BPF_FIB_LOOKUP_DIRECT))
        XCTAssertEqual(store.written[0].flags, 0)
        XCTAssertEqual(store.written[0].agent_pid, 42)
        XCTAssertEqual(store.written[0].agent_started, 7)
    }

    func testStepAsideAndTheFullSourceCheckKeepEachOther() throws {
        let store = Store()
        let entry = try FastPathConfigEntry(FastPathConfig(agentPID: 42), write: store.write)
        try entry.change { $0.fullSourceCheck = true }
        try entry.change { $0.stepAside = true }
        XCTAssertEqual(store.written.last?.flags, UInt32(FF_CONFIG_STEP_ASIDE | FF_CONFIG_FULL_SOURCE_CHECK))
        try entry.change { $0.stepAside = false }
        XCTAssertEqual(store.written.last?.flags, UInt32(FF_CONFIG_FULL_SOURCE_CHECK), "resuming keeps the full check")
        try entry.change { $0.agentPID = 0 }
        XCTAssertEqual(store.written.last?.agent_pid, 0)
        XCTAssertEqual(store.written.last?.flags, UInt32(FF_CONFIG_FULL_SOURCE_CHECK), "leaving it pinned keeps the flags")
    }

    func testNoWriteWithoutAChangeAndNoChangeWithoutAWrite() throws {
        let store = Store()
        let entry = try FastPathConfigEntry(FastPathConfig(), write: store.write)
        try entry.change { $0.stepAside = false }
        XCTAssertEqual(store.written.count, 1, "an unchanged value is not written again")
        store.fail = true
        XCTAssertThrowsError(try entry.change { $0.stepAside = true })
        XCTAssertFalse(entry.value.stepAside, "a failed write leaves the value as the kernel has it")
        store.fail = false
        try entry.change { $0.stepAside = true }
        XCTAssertEqual(store.written.count, 2, "the change is written when it can be")
    }
}
