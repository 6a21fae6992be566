import ArgumentParser
import FibfastCore

struct Lookup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the live fast path what it does with a packet, and why.",
        discussion: """
            Builds the packet, runs the running fast-path program on it with BPF_PROG_TEST_RUN \
            against its live maps and this namespace's FIB, and prints the verdict beside the \
            kernel's own route (as `ip route get DEST from SOURCE iif PORT`). The packet goes \
            nowhere, but it is counted in the live counters like a real one.

            Example: fibfast lookup 10.2.0.2 --from eth0 --proto tcp --port 443
            """
    )

    @Argument(help: "The destination address (IPv4 or IPv6).")
    var destination: String

    @Option(help: "The port the packet arrives on (default: the one the kernel reaches --source by, else a port that is not the destination's).")
    var from: String?

    @Option(help: "The sender's address (default: a neighbour address on the ingress port's subnet).")
    var source: String?

    @Option(help: "Transport: udp, tcp (a SYN) or icmp (an echo request).")
    var proto: ProbeProtocol = .udp

    @Option(help: "Destination port for udp and tcp (default 9).")
    var port: UInt16?

    @Option(help: "TTL / hop limit of the packet as it arrives.")
    var ttl: UInt8 = 64

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func validate() throws {
        guard IPAddress(destination) != nil else { throw ValidationError("\(destination) is not an IPv4 or IPv6 address") }
        if let source, IPAddress(source) == nil { throw ValidationError("--source \(source) is not an IPv4 or IPv6 address") }
        if port != nil && proto == .icmp { throw ValidationError("--port applies to udp and tcp only") }
    }

    func run() async throws {
        try await reportingErrors {
            let result = try FibfastCore.Lookup.run(LookupRequest(
                destination: IPAddress(destination)!, ingress: from, source: source.flatMap(IPAddress.init),
                proto: proto, port: port, ttl: ttl))
            print(json ? try Output.json(result) : result.lines.joined(separator: "\n"))
        }
    }
}

extension ProbeProtocol: ExpressibleByArgument {}
