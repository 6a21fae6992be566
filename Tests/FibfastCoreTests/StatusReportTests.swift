import CFastPath
import FibfastCore
import XCTest

final class StatusReportTests: XCTestCase {
    func testStatusWarnsOnATagMismatch() {
        let port = StatusReport.Port(name: "p0", ifindex: 2, mode: "native", programID: 9)
        func status(_ tag: String) -> StatusReport {
            StatusReport(embeddedTag: "aaaa", fastPaths: [.init(
                programID: 9, tag: tag, tagMatches: tag == "aaaa", ports: [port],
                agent: .init(pid: 42, started: 0, uptimeSeconds: 3725), failureTracepoints: [])])
        }
        XCTAssertEqual(status("aaaa").warnings, [])
        XCTAssertEqual(status("bbbb").warnings.count, 1)
        XCTAssertTrue(status("bbbb").lines.contains("prog 9 tag bbbb (not this binary's: aaaa)"))
        XCTAssertTrue(status("aaaa").lines.contains("agent: pid 42 up 1h02m"))
        XCTAssertTrue(status("aaaa").lines.contains("failures: not counted (no XDP tracepoints attached)"))
        XCTAssertEqual(StatusReport.duration(42), "42s")
        XCTAssertEqual(StatusReport.duration(187), "3m07s")
        XCTAssertEqual(StatusReport.duration(2 * 86400 + 3 * 3600 + 5), "2d03h")
        XCTAssertTrue(StatusReport(embeddedTag: nil, fastPaths: []).lines[0].contains("not attached"))
    }
}
