import CFastPath

/// attach --fib-cache: when the FIB answer cache is used.
public enum FibCacheMode: String, CaseIterable, Sendable {
    /// Where route, rule, nexthop and device changes invalidate before the
    /// command that made them returns (the fexit hooks, or the netlink pair
    /// where its tracepoints exist, with the neighbour tracepoints); elsewhere off.
    case auto
    /// Also where only the agent's netlink events invalidate route, rule and
    /// nexthop changes: answers may outlive a change by the time the agent
    /// takes to hear of it (docs/safety.md).
    case on
    case off
}

/// What the operator asked `fibfast attach` for.
public struct AttachRequest: Sendable {
    public var ports: [String]
    public var mode: XDPMode
    /// Rule-free FIB lookup (BPF_FIB_LOOKUP_DIRECT): faster, ignores policy routing.
    public var direct: Bool
    /// Replace another XDP program already on a port.
    public var force: Bool
    /// Switch IP forwarding on where it is off, instead of refusing.
    public var enableForwarding: Bool
    /// Forward in XDP even where netfilter rules filter or rewrite forwarded
    /// packets (the fast path skips them); without it fibfast refuses to
    /// attach, and steps aside when such rules appear while it runs.
    public var bypassNetfilter: Bool
    /// Leave the fast path pinned and forwarding when the agent stops, for
    /// the next `fibfast attach` to adopt.
    public var keepOnExit: Bool
    /// The bpffs for --keep-on-exit pins (and where attach looks for a
    /// fast path to adopt).
    public var bpffs: String
    /// Forward in XDP even where tc filters or shaping qdiscs on a port
    /// would act on forwarded packets; without it fibfast refuses to
    /// attach, and hands a port to the kernel while such tc appears on it.
    public var bypassTrafficControl: Bool
    /// Ports the operator says can take XDP redirects although the kernel
    /// cannot tell (no XDP feature flags before Linux 6.3, a driver fibfast
    /// does not know).
    public var xdpTransmit: [String]
    /// Whether bpf_fib_lookup's answers are kept in the fast path's cache.
    public var fibCache: FibCacheMode

    public init(ports: [String], mode: XDPMode = .auto, direct: Bool = false,
                force: Bool = false, enableForwarding: Bool = false,
                bypassNetfilter: Bool = false, keepOnExit: Bool = false,
                bpffs: String = Pins.defaultBPFFS, bypassTrafficControl: Bool = false,
                xdpTransmit: [String] = [], fibCache: FibCacheMode = .auto) {
        self.fibCache = fibCache
        self.bypassTrafficControl = bypassTrafficControl
        self.xdpTransmit = xdpTransmit
        self.keepOnExit = keepOnExit
        self.bpffs = bpffs
        self.ports = ports
        self.mode = mode
        self.direct = direct
        self.force = force
        self.enableForwarding = enableForwarding
        self.bypassNetfilter = bypassNetfilter
    }
}

/// A request checked against the system as it is, before anything is
/// touched: every check that can fail without side effects runs here.
public struct AttachPlan: Sendable, Equatable {
    public var ports: [Link]
    /// Families whose forwarding sysctl must be switched on (only with
    /// --enable-forwarding; without it a disabled family is an error).
    public var forwardingToEnable: [AddressFamily]

    /// Ports one fast path serves: every port has a row of counters, and
    /// the last row counts frames from ports the agent has not set up.
    public static let maxPorts = Int(FF_SLOT_UNKNOWN)

    /// - Parameters:
    ///   - links, addresses: this namespace's interfaces, from netlink.
    ///   - sysctl: reads a sysctl by name.
    ///   - kernel: the running kernel; nil when its release cannot be read
    ///     (then the loader's own errors speak).
    public static func make(
        _ request: AttachRequest,
        privileges: Privileges,
        links: [Link],
        addresses: [InterfaceAddress],
        sysctl: SysctlReader,
        kernel: KernelVersion? = .running,
        bond: (Link, [Link]) -> Bond? = Bond.read
    ) throws(FibfastError) -> AttachPlan {
        if let kernel, kernel < KernelVersion.minimum {
            throw .kernelTooOld(running: kernel.release, minimum: KernelVersion.minimum.release)
        }
        let missing = privileges.missingForAttach
        if !missing.isEmpty { throw .notPrivileged(missing: missing) }
        if request.ports.count < 2 { throw .tooFewPorts(given: request.ports.count) }
        if request.ports.count > maxPorts { throw .tooManyPorts(given: request.ports.count, limit: maxPorts) }

        var seen = Set<String>()
        var ports: [Link] = []
        for name in request.ports {
            if !seen.insert(name).inserted { throw .duplicatePort(name) }
            guard let link = links.first(where: { $0.name == name }) else { throw .unknownPort(name) }
            if link.isLoopback { throw .loopbackPort(name) }
            if link.isVRF { throw .vrfDevicePort(name, members: links.filter { $0.master == link.ifindex }.map(\.name)) }
            if !link.isEthernet { throw .notEthernet(port: name, linkType: link.linkType) }
            if let master = links.first(where: { $0.ifindex == link.master }), master.kind == "bond" {
                throw .bondMember(port: name, bond: master.name)
            }
            if let bond = bond(link, links), let reason = bond.refusal {
                throw .bondNotServable(port: name, mode: bond.modeName, reason: reason)
            }
            ports.append(link)
        }
        // A bond's slaves may be vouched for too: redirects to the bond leave by them.
        let bondIndices = Set(ports.filter { $0.kind == "bond" }.map(\.ifindex))
        let slaves = Set(links.filter { bondIndices.contains($0.master) }.map(\.name))
        for name in request.xdpTransmit where !seen.contains(name) && !slaves.contains(name) {
            throw .notAPort(option: "--xdp-transmit", name: name)
        }

        // A family is in use when a port has an address of it; IPv6
        // link-local addresses exist everywhere and do not count.
        let indices = Set(ports.map(\.ifindex))
        let used = addresses.filter { indices.contains($0.ifindex) && !$0.isLinkLocal }
        var toEnable: [AddressFamily] = []
        for family in [AddressFamily.ipv4, .ipv6] where used.contains(where: { $0.family == family }) {
            if sysctl(family.forwardingSysctl) == "0" {
                if !request.enableForwarding {
                    throw .forwardingDisabled(family: family, sysctl: family.forwardingSysctl)
                }
                toEnable.append(family)
            }
        }
        return AttachPlan(ports: ports, forwardingToEnable: toEnable)
    }
}
