import Foundation

/// `pkt.py sink` on a UDP port in a namespace: takes a sequence-numbered
/// stream and reports what arrived and the longest silence. Its `timeout`
/// runs from `finish`, once everything was sent, not from its start.
struct Sink {
    let process: BackgroundProcess
    let timeout: Double

    static func start(inNamespace ns: String, port: Int = 9999, count: Int, timeout: Double = 3) throws -> Sink {
        let process = try BackgroundProcess(["ip", "netns", "exec", ns, Command.python, Lab.packetTool, "sink",
                                             "--port", "\(port)", "--count", "\(count)", "--timeout", "\(Deadline.seconds(timeout))",
                                             "--done-on-stdin"], input: true)
        try process.waitForLine("ready", timeout: 30)
        return Sink(process: process, timeout: timeout)
    }

    /// Call once the sender is done; `sent` for a stream that was stopped
    /// early, in place of the count it started with.
    func finish(sent: Int? = nil) throws -> SinkReport {
        if let sent { process.say("\(sent)") }
        process.closeInput()
        let output = try process.finish(timeout: timeout + 30)
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
            throw LabError.command("sink", process.stderr)
        }
        return try JSONDecoder().decode(SinkReport.self, from: Data(line.utf8))
    }
}

/// What `pkt.py sink` prints.
struct SinkReport: Decodable {
    var received: Int
    var missing: Int
    var max_gap_ms: Double?
    var gap_start: Double?
    var gap_end: Double?
}

/// A paced UDP stream (`pkt.py send --interval`) that runs until the test
/// has seen what it waits for, however long that takes here, and stops it.
/// Datagrams carry their sequence numbers, as a Sink expects.
struct Stream {
    let process: BackgroundProcess

    static func start(inNamespace ns: String, to destination: String, port: Int, sport: Int? = nil,
                      interval: Double) throws -> Stream {
        var arguments = ["ip", "netns", "exec", ns, Command.python, Lab.packetTool, "send", "--dst", destination,
                         "--port", "\(port)", "--interval", "\(interval)", "--count", "\(Int32.max)"]
        if let sport { arguments += ["--sport", "\(sport)"] }
        return Stream(process: try BackgroundProcess(arguments))
    }

    /// Stops the stream; returns how many datagrams it sent. Call it once
    /// its traffic was seen: before that, pkt.py may not yet listen for the signal.
    func stop() throws -> Int {
        process.kill(signal: SIGINT)
        let output = try process.finish(timeout: 30)
        struct Sent: Decodable { var sent: Int }
        guard process.exitStatus == 0, let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") })
        else { throw LabError.command("stream", "exit \(process.exitStatus ?? -1): \(process.stderr)") }
        return try JSONDecoder().decode(Sent.self, from: Data(line.utf8)).sent
    }

    func kill() { process.kill(signal: SIGKILL) }
}
