import CFastPath
@testable import FibfastCore
import XCTest

/// The fast path hands every packet to the kernel while the firewall has
/// rules XDP would bypass, or cannot be read; the operator's --bypass-netfilter
/// overrides both, and only the newest firewall answer counts.
final class StepAsideTests: XCTestCase {
    func testRulesOrNoAnswerStepAsideUnlessBypassed() {
        XCTAssertEqual(StepAside.aside(rulesFound: true, bypass: false), true)
        XCTAssertEqual(StepAside.aside(rulesFound: false, bypass: false), false)
        XCTAssertEqual(StepAside.aside(rulesFound: nil, bypass: false), true, "not knowing counts as rules")
        XCTAssertNil(StepAside.aside(rulesFound: true, bypass: true))
        XCTAssertNil(StepAside.aside(rulesFound: nil, bypass: true))
    }

    func testALateOlderAnswerDoesNotUndoANewerOne() {
        var state = StepAside()
        let poll = state.readStarted()
        let event = state.readStarted()
        XCTAssertTrue(state.use(event), "the newer read answers first")
        XCTAssertFalse(state.use(poll), "the older answer, arriving late, is dropped")
        let next = state.readStarted()
        XCTAssertTrue(state.use(next))
    }

    /// Stepping aside and coming back go through ff_config's one owner and
    /// keep what the source check decided.
    func testSteppingAsideKeepsTheRestOfTheConfig() throws {
        var written: [UInt32] = []
        let entry = try FastPathConfigEntry(FastPathConfig(fullSourceCheck: true)) { written.append($0.flags) }
        try entry.change { $0.stepAside = StepAside.aside(rulesFound: true, bypass: false)! }
        try entry.change { $0.stepAside = StepAside.aside(rulesFound: false, bypass: false)! }
        let full = UInt32(FF_CONFIG_FULL_SOURCE_CHECK), aside = UInt32(FF_CONFIG_STEP_ASIDE)
        XCTAssertEqual(written, [full, full | aside, full])
    }
}
