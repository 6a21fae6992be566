import CFastPath
import Foundation
import Logging

/// What the agent's safety watch last saw, so that it logs changes once
/// rather than every round.
struct SafetyState: Sendable {
    var rules: [NetfilterRule] = []
    var steppedAside = false
    var reversePath: [UInt32: ReversePathFilter] = [:]
    var netfilterError: String?
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
        let rules: [NetfilterRule]
        do {
            rules = try Netfilter.forwardPathRules()
        } catch let error as FibfastError where request.bypassNetfilter {
            logger.warning("\(error) (continuing: --bypass-netfilter)")
            return
        }
        safety.rules = rules
        guard !rules.isEmpty else { return }
        guard request.bypassNetfilter else { throw FibfastError.netfilterRules(rules) }
        for rule in rules {
            logger.warning("bypassing netfilter (--bypass-netfilter): \(rule)")
        }
    }

    /// Runs until cancelled: keeps the fast path's rp_filter flags in step
    /// with the sysctls, and steps aside while netfilter rules that XDP
    /// would bypass exist (unless the operator accepted the bypass).
    public func watch() async {
        let firewall: FirewallEvents?
        do {
            firewall = try FirewallEvents()
        } catch {
            firewall = nil
            logger.warning("nftables changes cannot be followed as they happen (\(error)); the firewall is re-read every second")
        }
        firewall?.start()
        let onChange = Task { [weak self] in
            guard let firewall else { return }
            for await _ in firewall.changes { await self?.firewallChanged() }
        }
        defer {
            onChange.cancel()
            firewall?.stop()
        }
        while !Task.isCancelled {
            do { try await Task.sleep(for: Self.safetyInterval) } catch { return }
            guard let program else { continue }
            rereadReversePath()
            refreshNetfilter(program.maps)
        }
    }

    /// Brings every port's rp_filter flags in line with the sysctls, for the
    /// ports as they are now (a re-created port is a new ifindex). Returns
    /// whether the flags were written.
    @discardableResult
    func rereadReversePath() -> Bool {
        guard let program, let current = ports?.currentLinks else { return false }
        do {
            try refreshReversePath(program.maps, ports: current)
            return true
        } catch {
            logger.error("updating rp_filter flags failed: \(error)")
            return false
        }
    }

    /// Writes each port's effective rp_filter into its ff_port_info flags,
    /// leaving the other flags as they are.
    func refreshReversePath(_ maps: FastPathMaps, ports: [Link]) throws {
        let v4Ports = Set(((try? Links.addresses()) ?? [])
            .filter { $0.family == .ipv4 }.map(\.ifindex))
        let mask = UInt16(FF_PORT_RPF_STRICT | FF_PORT_RPF_LOOSE)
        for port in ports {
            let filter = ReversePathFilter.current(port: port.name)
            guard var info = maps.port(port.ifindex) else { continue }
            let flags = (info.flags & ~mask) | filter.portFlags(portHasIPv4Address: v4Ports.contains(port.ifindex))
            if flags != info.flags {
                info.flags = flags
                try maps.setPort(port.ifindex, info)
            }
            if safety.reversePath[port.ifindex] != filter {
                if safety.reversePath[port.ifindex] != nil || filter != .off {
                    logger.info("port \(port.name): rp_filter \(filter), the fast path checks IPv4 sources accordingly")
                }
                safety.reversePath[port.ifindex] = filter
            }
        }
    }

    /// Re-reads the firewall; steps aside when forward-path rules appear
    /// and comes back when they are gone.
    /// nftables committed a change: look at the firewall now rather than at
    /// the next poll.
    private func firewallChanged() {
        guard let program else { return }
        refreshNetfilter(program.maps)
        logger.debug("nftables ruleset changed: firewall re-read")
    }

    func refreshNetfilter(_ maps: FastPathMaps) {
        let rules: [NetfilterRule]
        do {
            rules = try Netfilter.forwardPathRules()
            safety.netfilterError = nil
        } catch {
            // Not knowing is treated like finding rules: the kernel forwards.
            let text = "\(error)"
            if safety.netfilterError != text { logger.error("\(text)") }
            safety.netfilterError = text
            if !request.bypassNetfilter { setSteppedAside(true, maps) }
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
        if request.bypassNetfilter { return }
        setSteppedAside(!rules.isEmpty, maps)
    }

    private func setSteppedAside(_ aside: Bool, _ maps: FastPathMaps) {
        guard aside != safety.steppedAside,
              var config = maps.config.lookup(UInt32(0), as: ff_config.self)
        else { return }
        if aside {
            config.flags |= UInt32(FF_CONFIG_STEP_ASIDE)
        } else {
            config.flags &= ~UInt32(FF_CONFIG_STEP_ASIDE)
        }
        do {
            try maps.config.update(UInt32(0), config)
            safety.steppedAside = aside
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
