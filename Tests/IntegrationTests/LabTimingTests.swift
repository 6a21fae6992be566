import Foundation
import XCTest

/// The lab's tools give a sender whatever time it takes: a capture's or a
/// sink's timeout runs from the end of sending, not from its own start, so
/// a slow machine (or a slow Python start) cannot make packets look lost.
final class LabTimingTests: XCTestCase {
    /// Sends 10 datagrams after a pause longer than the timeouts below, as a
    /// sender does on a machine where starting it takes that long.
    func slowly(_ lab: Lab, port: Int) throws {
        // The pause is the behaviour under test: a sender that starts later
        // than the capture's or the sink's timeout.
        Thread.sleep(forTimeInterval: 2)
        try lab.send(to: "10.2.0.2", count: 10, port: port)
    }

    func testACaptureWaitsForASlowSender() throws {
        let lab = try Lab(self)
        let got = try lab.capture(on: .dst, count: 10, proto: "udp", dport: 9999, timeout: 1) {
            try slowly(lab, port: 9999)
        }
        XCTAssertEqual(got.count, 10)
    }

    func testASinkWaitsForASlowSender() throws {
        let lab = try Lab(self)
        let sink = try Sink.start(inNamespace: lab.namespace(.dst), port: 9105, count: 10, timeout: 1)
        try slowly(lab, port: 9105)
        XCTAssertEqual(try sink.finish().received, 10)
    }

    /// One process sends a flow to each port, and one capture on two hosts
    /// tells where each arrived.
    func testOneSendSpreadsOverPortsAndOneCaptureSeesEveryHost() throws {
        let lab = try Lab(self)
        let hosts = [lab.namespace(.src), lab.namespace(.dst)]
        let got = try lab.capture(inNamespaces: hosts, count: 16, destination: "10.2.0.2", proto: "udp") {
            try lab.send(to: "10.2.0.2", count: 16, port: 20000, ports: 16)
        }
        XCTAssertEqual(Set(got.compactMap(\.dport)), Set(20000..<20016))
        XCTAssertEqual(got.map(\.netns), Array(repeating: lab.namespace(.dst), count: 16))
    }
}
