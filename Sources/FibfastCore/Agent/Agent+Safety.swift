import CFastPath
import Foundation
import Logging

/// What the agent's safety watch last saw, so that it logs changes once
/// rather than every round.
struct SafetyState: Sendable {
    var rules: [NetfilterRule] = []
    /// Conntrack users; nil when the firewall could not be read.
    var reassembly: [NetfilterRule]? = []
    var reversePath: [UInt32: ReversePathFilter] = [:]
    var netfilterError: String?
    var trafficControl: [TrafficControlFinding] = []
    var trafficControlError: String?
    /// A tc re-read is queued behind the events being handled.
    var trafficControlCheckPending = false
    var stepAside = StepAside()
}

extension Agent {
    /// How often the running agent re-reads rp_filter and the firewall.
    /// rp_filter changes arrive as netconf events and nftables commits as
    /// nfnetlink events, which the agent follows at once; this poll is their
    /// backstop. iptables-legacy announces nothing, so for it the bound on
    /// how long the fast path can lag a change is this interval;
    /// docs/safety.md says so.
    public static let safetyInterval: Duration = .seconds(1)

    /// Refuses to start where forward-path netfilter rules exist, unless the
    /// operator accepted bypassing them.
    func checkNetfilter() throws {
        var reassembly: [NetfilterRule]?
        safety.rules = try refuseUnlessAccepted(
            "netfilter", option: "--bypass-netfilter", accepted: request.bypassNetfilter,
            read: {
                let findings = try Netfilter.read()
                reassembly = findings.reassembly
                return findings.forward
            }, unreadable: { $0 }, refusal: FibfastError.netfilterRules)
        safety.reassembly = reassembly
        logReassembly(reassembly, was: [])
    }

    private func logReassembly(_ now: [NetfilterRule]?, was: [NetfilterRule]?) {
        guard let now, now != was else { return }
        if !now.isEmpty && (was ?? []).isEmpty {
            logger.notice("conntrack is in use (\(now[0])): the kernel reassembles fragments, so fragments go to the kernel")
        } else if now.isEmpty && was != nil {
            logger.notice("conntrack no longer in use: fragments forwarded in XDP again")
        }
    }

    /// While conntrack may be in use (or the firewall cannot be read),
    /// fragments are the kernel's.
    var fragmentsToKernel: Bool { safety.reassembly.map { !$0.isEmpty } ?? true }

    /// Refuses to start where tc on a port would act on forwarded packets,
    /// unless the operator accepted bypassing it.
    func checkTrafficControl(_ ports: [Link]) throws {
        safety.trafficControl = try refuseUnlessAccepted(
            "tc", option: "--bypass-tc", accepted: request.bypassTrafficControl,
            read: { try TrafficControl.findings(ports: ports) },
            unreadable: { FibfastError.trafficControlUnreadable(reason: "\($0)") }, refusal: FibfastError.trafficControl)
    }

    /// The start-up rule for whatever XDP forwarding would bypass: found,
    /// refuse unless the operator accepted it, and then log each; unreadable,
    /// refuse too, since an unchecked configuration is not a clean one.
    private func refuseUnlessAccepted<Finding: CustomStringConvertible>(
        _ what: String, option: String, accepted: Bool, read: () throws -> [Finding],
        unreadable: (Error) -> Error, refusal: ([Finding]) -> FibfastError
    ) throws -> [Finding] {
        let findings: [Finding]
        do {
            findings = try read()
        } catch {
            guard accepted else { throw unreadable(error) }
            logger.warning("\(unreadable(error)) (continuing: \(option))")
            return []
        }
        guard !findings.isEmpty else { return [] }
        guard accepted else { throw refusal(findings) }
        for finding in findings {
            logger.warning("bypassing \(what) (\(option)): \(finding)")
        }
        return findings
    }

    /// Runs until cancelled: keeps the fast path's rp_filter flags in step
    /// with the sysctls, steps aside while netfilter rules that XDP would
    /// bypass exist, hands ports with such tc to the kernel (unless the
    /// operator accepted the bypass), and follows which ports can take
    /// redirects.
    public func watch() async {
        let firewall = follow("nftables changes", "the firewall is re-read every second") {
            try ChangeSignal.nftablesCommits()
        }
        let features = ports?.transmitChangeGroup.flatMap { netdev in
            follow("XDP feature changes", "ports are re-checked when their link changes") {
                try ChangeSignal.xdpFeatureChanges(family: netdev.family, group: netdev.group)
            }
        }
        let onFirewall = Task { [weak self] in
            guard let firewall else { return }
            for await _ in firewall.changes { await self?.firewallChanged() }
        }
        let onFeatures = Task { [weak self] in
            guard let features else { return }
            for await _ in features.changes { await self?.transmitChanged() }
        }
        defer {
            onFirewall.cancel()
            onFeatures.cancel()
            firewall?.stop()
            features?.stop()
        }
        while !Task.isCancelled {
            do { try await Task.sleep(for: Self.safetyInterval) } catch { return }
            guard program != nil else { continue }
            rereadReversePath()
            await refreshNetfilter()
            // tcx programs (Linux 6.6+) announce nothing over rtnetlink.
            refreshTrafficControl()
        }
    }

    /// The kernel announced a change of some device's XDP features.
    private func transmitChanged() {
        ports?.recheckTransmit()
    }

    /// Starts a change signal; without it the poll is the only bound.
    private func follow(_ what: String, _ otherwise: String, _ make: () throws -> ChangeSignal) -> ChangeSignal? {
        do {
            let signal = try make()
            signal.start()
            return signal
        } catch {
            logger.warning("\(what) cannot be followed as they happen (\(error)); \(otherwise)")
            return nil
        }
    }

    /// A qdisc or filter changed on a port: look again once the events
    /// queued with it are handled, so that a burst costs one re-read.
    func scheduleTrafficControlCheck() {
        guard !safety.trafficControlCheckPending else { return }
        safety.trafficControlCheckPending = true
        Task { self.refreshTrafficControl() }
    }

    /// Re-reads the ports' tc; a port with tc that XDP would bypass goes to
    /// the kernel, both ways, until it is gone.
    func refreshTrafficControl() {
        safety.trafficControlCheckPending = false
        guard let ports else { return }
        let findings: [TrafficControlFinding]
        do {
            findings = try TrafficControl.findings(ports: ports.currentLinks)
            safety.trafficControlError = nil
        } catch {
            // Not knowing is treated like finding tc: the kernel forwards.
            let text = "cannot read the ports' tc configuration: \(error)"
            if safety.trafficControlError != text { logger.error("\(text)") }
            safety.trafficControlError = text
            if !request.bypassTrafficControl {
                for name in ports.names {
                    ports.setTrafficControl(port: name, [TrafficControlFinding(port: name, what: "configuration unreadable")])
                }
            }
            return
        }
        if findings != safety.trafficControl {
            for finding in findings where !safety.trafficControl.contains(finding) {
                logger.warning("tc appeared: \(finding)\(request.bypassTrafficControl ? " (bypassed: --bypass-tc)" : "")")
            }
            for finding in safety.trafficControl where !findings.contains(finding) {
                logger.info("tc gone: \(finding)")
            }
            safety.trafficControl = findings
        }
        if request.bypassTrafficControl { return }
        for name in ports.names {
            ports.setTrafficControl(port: name, findings.filter { $0.port == name })
        }
    }

    /// Brings every port's rp_filter flags in line with the sysctls, for the
    /// ports as they are now (a re-created port is a new ifindex). Returns
    /// whether the flags were written.
    @discardableResult
    func rereadReversePath() -> Bool {
        guard let table = ports else { return false }
        do {
            try refreshReversePath(table, ports: table.currentLinks)
            return true
        } catch {
            logger.error("updating rp_filter flags failed: \(error)")
            return false
        }
    }

    /// Hands each port's effective rp_filter to the port table, which
    /// writes it into the port's flags.
    func refreshReversePath(_ table: PortTable, ports: [Link]) throws {
        let v4Ports = Set(try Links.addresses().filter { $0.family == .ipv4 }.map(\.ifindex))
        for port in ports {
            let filter = ReversePathFilter.current(port: port.name)
            table.setReversePath(ifindex: port.ifindex,
                                 flags: filter.portFlags(portHasIPv4Address: v4Ports.contains(port.ifindex)))
            if safety.reversePath[port.ifindex] != filter {
                if safety.reversePath[port.ifindex] != nil || filter != .off {
                    logger.info("port \(port.name): rp_filter \(filter), the fast path checks IPv4 sources accordingly")
                }
                safety.reversePath[port.ifindex] = filter
            }
        }
    }

    /// nftables committed a change: look at the firewall now rather than at
    /// the next poll.
    private func firewallChanged() async {
        guard program != nil else { return }
        await refreshNetfilter()
        logger.debug("nftables ruleset changed: firewall re-read")
    }

    /// Re-reads the firewall; steps aside when forward-path rules appear
    /// and comes back when they are gone.
    func refreshNetfilter() async {
        let read = safety.stepAside.readStarted()
        // Off the actor: the tools may take seconds (or hang until they are
        // killed), and netlink events must not wait for them meanwhile.
        let result = await Task.detached { Result { try Netfilter.read() } }.value
        guard program != nil, safety.stepAside.use(read) else { return }
        let rules: [NetfilterRule]
        do {
            let findings = try result.get()
            rules = findings.forward
            logReassembly(findings.reassembly, was: safety.reassembly)
            safety.reassembly = findings.reassembly
            setFragmentsToKernel()
            safety.netfilterError = nil
        } catch {
            safety.reassembly = nil
            setFragmentsToKernel()
            // Not knowing is treated like finding rules: the kernel forwards.
            let text = "\(error)"
            if safety.netfilterError != text { logger.error("\(text)") }
            safety.netfilterError = text
            setSteppedAside(StepAside.aside(rulesFound: nil, bypass: request.bypassNetfilter))
            return
        }
        if rules != safety.rules {
            for rule in rules where !safety.rules.contains(rule) {
                logger.warning("netfilter rule appeared: \(rule)")
            }
            for rule in safety.rules where !rules.contains(rule) {
                logger.info("netfilter rule gone: \(rule)")
            }
            safety.rules = rules
        }
        setSteppedAside(StepAside.aside(rulesFound: !rules.isEmpty, bypass: request.bypassNetfilter))
    }

    private func setFragmentsToKernel() {
        guard let config, fragmentsToKernel != config.value.fragmentsToKernel else { return }
        let value = fragmentsToKernel
        do {
            try config.change { $0.fragmentsToKernel = value }
        } catch {
            logger.error("could not \(value ? "hand fragments to the kernel" : "forward fragments again"): \(error)")
        }
    }

    private func setSteppedAside(_ aside: Bool?) {
        guard let aside, let config, aside != config.value.stepAside else { return }
        do {
            try config.change { $0.stepAside = aside }
            if aside {
                logger.warning("fast path stepped aside: the kernel forwards every packet while netfilter rules exist (or pass --bypass-netfilter)")
            } else {
                logger.notice("no forward-path netfilter rules any more: fast path forwarding again")
            }
        } catch {
            logger.error("could not \(aside ? "step aside" : "resume"): \(error)")
        }
    }
}
