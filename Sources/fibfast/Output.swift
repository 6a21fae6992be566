import ArgumentParser
import FibfastCore
import Foundation
import Logging

/// Terse log lines on stderr, as daemons and iproute2 print them.
struct TerseLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let prefix = event.level >= .warning ? "fibfast: \(event.level): " : "fibfast: "
        FileHandle.standardError.write(Data((prefix + "\(event.message)\n").utf8))
    }
}

enum Output {
    static func logger(verbose: Bool = false) -> Logger {
        var logger = Logger(label: "fibfast") { _ in TerseLogHandler() }
        logger.logLevel = verbose ? .debug : .info
        return logger
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data("fibfast: \(text)\n".utf8))
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// One JSON document per line, for streams of samples.
    static func jsonLine<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

extension XDPMode: ExpressibleByArgument {}

/// Turns a FibfastError into an operator's message and exit status 1,
/// instead of ArgumentParser's generic error dump.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as FibfastError {
        Output.error(error.description)
        throw ExitCode.failure
    }
}
