@preconcurrency import Dispatch
import Glibc

/// Termination signals as an async sequence, so the agent can wait for
/// SIGINT / SIGTERM beside its other work instead of dying in a handler.
public enum Signals {
    public static func termination() -> AsyncStream<Int32> {
        AsyncStream { continuation in
            let watch = Watch { continuation.yield($0) }
            continuation.onTermination = { _ in watch.cancel() }
        }
    }

    /// SIGINT and SIGTERM taken over from their default (ending the
    /// process): each calls `handler` on a global queue instead, until
    /// cancelled. The signals stay ignored afterwards, so one that arrives
    /// late cannot end the process halfway through its cleanup.
    public final class Watch: @unchecked Sendable {
        private let sources: [DispatchSourceSignal]

        public init(_ handler: @escaping @Sendable (Int32) -> Void) {
            sources = [SIGINT, SIGTERM].map { number in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { handler(number) }
                source.resume()
                return source
            }
        }

        public func cancel() { sources.forEach { $0.cancel() } }

        deinit { cancel() }
    }

    public static func name(_ number: Int32) -> String {
        switch number {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        default: return "signal \(number)"
        }
    }
}
