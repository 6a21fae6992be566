import ArgumentParser
import FibfastCore
import Foundation
import Glibc

struct Top: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Watch per-port rates and pass reasons live.",
        discussion: """
            Redraws in place every --interval seconds; q or Ctrl-C quits. When the output is \
            not a terminal, prints the table once per interval as plain lines.
            """
    )

    @Option(help: "Seconds between refreshes.")
    var interval: Double = 1

    @Option(help: "Stop after N refreshes (default: until q or Ctrl-C).")
    var count: Int?

    func validate() throws {
        try OptionLimits.check(interval: interval)
        try OptionLimits.check(count: count)
    }

    func run() async throws {
        try await reportingErrors {
            let sampler = try StatsSampler()
            let screen = isatty(STDOUT_FILENO) == 1 ? Screen() : nil
            defer { screen?.restore() }
            let quit = QuitSignal(keyboard: screen != nil && isatty(STDIN_FILENO) == 1)
            var shown = 0
            screen?.draw([TopView.title(sampler.first, interval: interval, time: Date()), "", "sampling..."])
            while count.map({ shown < $0 }) ?? true {
                if quit.wait(seconds: interval) { break }
                let report = try sampler.next()
                let table = TopView.table(report)
                if let screen {
                    screen.draw([TopView.title(report, interval: interval, time: Date()), ""] + table)
                } else {
                    print(table.joined(separator: "\n") + "\n")
                    fflush(nil)
                }
                shown += 1
            }
        }
    }
}

/// A terminal taken over for redrawing: alternate screen, no cursor, keys
/// delivered one at a time without echo. restore() gives it back as it was.
final class Screen {
    private var saved = termios()
    private let hasTTYInput: Bool

    init() {
        hasTTYInput = isatty(STDIN_FILENO) == 1 && tcgetattr(STDIN_FILENO, &saved) == 0
        if hasTTYInput {
            var raw = saved
            // No ISIG: Ctrl-C arrives as a byte, so the terminal is restored
            // on the way out instead of left in raw mode by a signal.
            raw.c_lflag &= ~tcflag_t(ICANON | ECHO | ISIG)
            tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        }
        write("\u{1B}[?1049h\u{1B}[?25l")
    }

    func draw(_ lines: [String]) {
        write("\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\r\n") + "\u{1B}[J")
    }

    func restore() {
        write("\u{1B}[?25h\u{1B}[?1049l")
        if hasTTYInput { tcsetattr(STDIN_FILENO, TCSANOW, &saved) }
    }

    private func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

/// Waits for the next refresh, returning early with true when the operator
/// quits: q or Ctrl-C on the keyboard, or SIGINT/SIGTERM from elsewhere.
final class QuitSignal: @unchecked Sendable {
    private let pipe: [Int32]
    private let keyboard: Bool
    private var signals: Signals.Watch?

    init(keyboard: Bool) {
        var fds: [Int32] = [0, 0]
        Glibc.pipe(&fds)
        pipe = fds
        self.keyboard = keyboard
        let writer = fds[1]
        signals = Signals.Watch { _ in var byte: UInt8 = 1; _ = Glibc.write(writer, &byte, 1) }
    }

    deinit {
        signals?.cancel()
        close(pipe[0])
        close(pipe[1])
    }

    func wait(seconds: Double) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Double(deadline.tv_sec) + Double(deadline.tv_nsec) / 1e9 + seconds
        while true {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = end - (Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
            if left <= 0 { return false }
            var fds = [pollfd(fd: pipe[0], events: Int16(POLLIN), revents: 0)]
            if keyboard { fds.append(pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&fds, nfds_t(fds.count), Int32(left * 1000) + 1)
            if ready <= 0 { continue }
            if fds[0].revents != 0 { return true }
            if keyboard && fds[1].revents != 0 {
                var byte: UInt8 = 0
                if read(STDIN_FILENO, &byte, 1) <= 0 { return true }
                if byte == UInt8(ascii: "q") || byte == UInt8(ascii: "Q") || byte == 3 { return true }
            }
        }
    }
}
