import ArgumentParser
import FibfastCore

struct Detach: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove the fast path from ports, leaving them to the kernel.",
        discussion: """
            Without ports, detaches fibfast from every port of this network namespace. \
            A running agent keeps running, but its ports forward through the kernel.
            """
    )

    @Argument(help: "Ports to detach from (default: every fibfast port).")
    var ports: [String] = []

    @Option(help: "The bpffs where a --keep-on-exit fast path is pinned.")
    var bpffs: String = Pins.defaultBPFFS

    func run() async throws {
        try await reportingErrors {
            let detached = try Detacher.detach(ports: ports, bpffs: bpffs)
            if detached.isEmpty {
                print("fibfast is not attached to \(ports.isEmpty ? "any port" : ports.joined(separator: ", "))")
            }
            for port in detached { print("detached \(port)") }
        }
    }
}
