import ArgumentParser
import FibfastCore
import Glibc

struct Attach: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the fast path on these ports until stopped.",
        discussion: """
            Checks every port and setting first, then attaches to all ports or none. Runs in \
            the foreground until SIGINT or SIGTERM; on exit, and if the process dies, the ports \
            go back to plain kernel forwarding.

            Example: fibfast attach eth0 eth1
            """
    )

    @Argument(help: "The router ports to forward between (at least two).")
    var ports: [String] = []

    @Option(help: "XDP mode: native (in the driver), generic (any device, slower) or auto (native, else generic).")
    var mode: XDPMode = .auto

    @Flag(help: "Rule-free FIB lookup: faster, but ignores policy-routing rules (ip rule).")
    var direct = false

    @Flag(help: "Replace an XDP program that is already attached to a port.")
    var force = false

    @Flag(help: "Switch on IP forwarding for the families in use instead of refusing to start.")
    var enableForwarding = false

    @Flag(help: "Forward in XDP although netfilter rules filter or NAT forwarded packets; XDP skips them.")
    var bypassNetfilter = false

    @Flag(name: .customLong("bypass-tc"),
          help: "Forward in XDP although tc filters or shaping qdiscs on the ports act on forwarded packets; XDP skips them.")
    var bypassTrafficControl = false

    @Option(name: .customLong("xdp-transmit"), help: ArgumentHelp(
        "Treat this port as able to take XDP redirects where the kernel cannot say (repeatable).",
        discussion: "Kernels before 6.3 do not report XDP features; fibfast then trusts a list of drivers, and the kernel forwards what is routed out of other ports. Frames lost if the driver cannot transmit are counted in `fibfast stats` (failed).",
        valueName: "port"))
    var xdpTransmit: [String] = []

    @Option(help: ArgumentHelp(
        "FIB answer cache: auto (on where every change invalidates it before the command that made it returns), on, or off.",
        discussion: "auto turns it on where the kernel lets the agent hook route, rule and nexthop changes: fexit (Debian 12's 6.1) or, where the kernel has the sk_data_ready and sock_send_length tracepoints, its own netlink notifications (tp_btf). Elsewhere only the agent's netlink events would invalidate it, and answers could outlive a change by a fraction of a millisecond, so auto leaves it off; `fibfast status` says which hooks attached (docs/safety.md).",
        valueName: "mode"))
    var fibCache: FibCacheMode = .auto

    @Flag(help: "On exit, leave the fast path pinned and forwarding; the next attach on these ports adopts it without a gap.")
    var keepOnExit = false

    @Option(help: "The bpffs for --keep-on-exit pins, mounted in the root mount namespace (visible from every ip netns exec).")
    var bpffs: String = Pins.defaultBPFFS

    @Option(help: ArgumentHelp(
        "Serve the counters for Prometheus at http://ADDRESS:PORT/metrics (off by default).",
        discussion: "A bare PORT or ADDRESS binds to 127.0.0.1 (port 9464 if omitted); use [::1]:PORT for IPv6.",
        valueName: "address:port"))
    var metrics: String?

    func validate() throws {
        if let metrics, MetricsAddress(metrics) == nil {
            throw ValidationError(FibfastError.metricsAddress(metrics).description)
        }
        try OptionLimits.check(eventBufferSize: eventBufferSize)
    }

    @Flag(name: .shortAndLong, help: "Also log every route and address event (debug level).")
    var verbose = false

    @Option(help: ArgumentHelp("Receive buffer of the netlink event socket, in bytes (tests use a small one to provoke overruns).",
                               visibility: .hidden))
    var eventBufferSize: Int = EventSocket.defaultBufferSize

    func run() async throws {
        // Taken over before anything is attached: a SIGINT or SIGTERM that
        // arrives while the agent starts is held until it runs, and stops it
        // cleanly then, instead of killing the process mid-way.
        let signals = Signals.termination()
        // A write to a reader that is gone (a metrics client that reset, a
        // closed log pipe) must fail with EPIPE, not end the process and the
        // fast path with it. Spawned tools get the default back (Subprocess).
        signal(SIGPIPE, SIG_IGN)
        let logger = Output.logger(verbose: verbose)
        let agent = Agent(
            request: AttachRequest(ports: ports, mode: mode, direct: direct, force: force,
                                   enableForwarding: enableForwarding, bypassNetfilter: bypassNetfilter,
                                   keepOnExit: keepOnExit, bpffs: bpffs,
                                   bypassTrafficControl: bypassTrafficControl, xdpTransmit: xdpTransmit,
                                   fibCache: fibCache),
            logger: logger, eventBufferSize: eventBufferSize)
        // Listening before the agent starts: an address that is taken fails
        // while every port and setting is still as the kernel had it.
        let page = MetricsPage()
        let server = try await reportingErrors {
            try metrics.flatMap(MetricsAddress.init).map { try MetricsServer(address: $0, body: page.render) }
        }
        do {
            try await reportingErrors {
                try await agent.start()
            }
        } catch {
            server?.stop()
            throw error
        }
        if let server {
            await page.show(agent)
            logger.info("metrics at http://\(server.address)/metrics")
        }
        // The agent follows the kernel (netlink events) and watches the
        // firewall and rp_filter until a signal arrives or following fails;
        // then every task ends and the ports are handed back to the kernel.
        let failure: Error? = await withTaskGroup(of: Error?.self) { group in
            group.addTask {
                do {
                    try await agent.run()
                    return nil
                } catch {
                    return error
                }
            }
            group.addTask {
                await agent.watch()
                return nil
            }
            group.addTask {
                for await signal in signals {
                    logger.info("\(Signals.name(signal)) received, stopping")
                    break
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        server?.stop()
        await agent.stop()
        if let failure {
            Output.error("the agent stopped following the kernel: \(failure)")
            throw ExitCode.failure
        }
    }
}

extension FibCacheMode: ExpressibleByArgument {}
