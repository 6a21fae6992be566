import CFastPath
import Foundation

/// What runs where: the shape `fibfast status --json` prints (docs/json.md).
public struct StatusReport: Sendable, Codable, Equatable {
    public struct Port: Sendable, Codable, Equatable {
        public var name: String
        public var ifindex: UInt32
        /// native or generic; nil when the kernel reports another mode.
        public var mode: String?
        public var programID: UInt32
        /// Whether frames forwarded from native-mode ports may leave by it
        /// (its device takes XDP redirects); when false the kernel forwards
        /// what is routed out of it. nil when the fast path does not say.
        public var takesRedirects: Bool?
        /// Handed to the kernel, both ways, because tc on it acts on
        /// forwarded packets (see the agent's log for what).
        public var steppedAside: Bool
        /// A VLAN port's tag: its frames arrive and leave by the lower
        /// device, which runs the program (mode is nil: none is attached
        /// to the VLAN device itself). nil for other ports.
        public var vlan: VLAN?
        /// The VRF device the port is enslaved to, whose table its lookups
        /// use; nil outside any VRF.
        public var vrf: String?
        /// A bond port's mode and slaves, as the kernel has them now.
        public var bond: BondStatus?

        public init(name: String, ifindex: UInt32, mode: String?, programID: UInt32,
                    takesRedirects: Bool? = nil, steppedAside: Bool = false, vlan: VLAN? = nil,
                    vrf: String? = nil, bond: BondStatus? = nil) {
            self.vrf = vrf
            self.bond = bond
            self.name = name
            self.ifindex = ifindex
            self.mode = mode
            self.programID = programID
            self.takesRedirects = takesRedirects
            self.steppedAside = steppedAside
            self.vlan = vlan
        }
    }

    public struct VLAN: Sendable, Codable, Equatable {
        public var lower: String
        public var lowerIfindex: UInt32
        public var id: UInt16
        /// "802.1Q" or "802.1ad".
        public var proto: String
    }

    public struct Agent: Sendable, Codable, Equatable {
        public var pid: Int32
        /// Seconds since the epoch.
        public var started: UInt64
        public var uptimeSeconds: UInt64

        public init(pid: Int32, started: UInt64, uptimeSeconds: UInt64) {
            self.pid = pid
            self.started = started
            self.uptimeSeconds = uptimeSeconds
        }
    }

    public struct FastPath: Sendable, Codable, Equatable {
        public var programID: UInt32
        public var tag: String
        /// Whether the running program is the one embedded in this binary;
        /// nil when the embedded object could not be loaded to compare.
        public var tagMatches: Bool?
        public var ports: [Port]
        /// nil when no live agent owns the fast path.
        public var agent: Agent?
        /// The tracepoint programs counting failures; empty when none is attached.
        public var failureTracepoints: [String]
        /// The FIB answer cache: on or off, and which kernel hooks
        /// invalidate it; nil for a program without one.
        public var fibCache: FibCacheReport?

        public init(programID: UInt32, tag: String, tagMatches: Bool?, ports: [Port], agent: Agent?,
                    failureTracepoints: [String]) {
            self.programID = programID
            self.tag = tag
            self.tagMatches = tagMatches
            self.ports = ports
            self.agent = agent
            self.failureTracepoints = failureTracepoints
        }
    }

    /// Tag of the XDP program embedded in this binary.
    public var embeddedTag: String?
    /// Every fibfast program attached in this namespace; empty when none is.
    public var fastPaths: [FastPath]

    public init(embeddedTag: String?, fastPaths: [FastPath]) {
        self.embeddedTag = embeddedTag
        self.fastPaths = fastPaths
    }

    /// Looks at this namespace now. Loading the embedded object is the only
    /// way to learn its tag: the kernel computes it over the instructions
    /// libbpf produces at load time.
    public static func current(now: Date = Date()) throws -> StatusReport {
        let running = try RunningFastPath.discover()
        let links = running.isEmpty ? [] : try Links.all()
        var embeddedTag: String?
        if !running.isEmpty { embeddedTag = (try? FastPathProgram.load())?.info.tag }
        let names = running.isEmpty ? [:] : Dictionary(try Links.all().map { ($0.ifindex, $0.name) }) { first, _ in first }
        let fastPaths = running.map { fastPath in
            let agent = fastPath.agent.map { agent in
                Agent(pid: agent.pid, started: agent.started,
                      uptimeSeconds: UInt64(max(0, now.timeIntervalSince1970 - Double(agent.started))))
            }
            var made = FastPath(
                programID: fastPath.program.id, tag: fastPath.program.tag,
                tagMatches: embeddedTag.map { $0 == fastPath.program.tag },
                ports: fastPath.ports.map {
                    let info = fastPath.maps.port($0.ifindex)
                    let flags = info?.flags
                    return Port(name: $0.name, ifindex: $0.ifindex, mode: $0.mode?.rawValue, programID: fastPath.program.id,
                                takesRedirects: flags.map { $0 & UInt16(FF_PORT_XDP_TRANSMIT) != 0 },
                                steppedAside: (flags ?? 0) & UInt16(FF_PORT_STEPPED_ASIDE) != 0,
                                vrf: info.flatMap { $0.source_ifindex != 0 ? Interfaces.name($0.source_ifindex) : nil },
                                bond: Self.bond(ifindex: $0.ifindex, links: links))
                } + vlanPorts(fastPath, names: names),
                agent: agent, failureTracepoints: fastPath.failureTracepoints)
            made.fibCache = FibCacheReport(maps: fastPath.maps)
            return made
        }
        return StatusReport(embeddedTag: embeddedTag, fastPaths: fastPaths)
    }

    /// The VLAN ports among the fast path's port entries: no program is
    /// attached to them, so the attachment query does not find them.
    static func vlanPorts(_ fastPath: RunningFastPath, names: [UInt32: String]) -> [Port] {
        fastPath.maps.portSlots().keys.sorted().compactMap { ifindex in
            guard let info = fastPath.maps.port(ifindex), info.vlan_proto != 0 else { return nil }
            let lower = info.transmit_ifindex
            let vlan = VLAN(lower: names[lower] ?? "if\(lower)", lowerIfindex: lower, id: info.vlan_id,
                            proto: UInt16(bigEndian: info.vlan_proto) == 0x88a8 ? "802.1ad" : "802.1Q")
            return Port(name: names[ifindex] ?? "if\(ifindex)", ifindex: ifindex, mode: nil, programID: fastPath.program.id,
                        takesRedirects: info.flags & UInt16(FF_PORT_XDP_TRANSMIT) != 0,
                        steppedAside: info.flags & UInt16(FF_PORT_STEPPED_ASIDE) != 0, vlan: vlan,
                        vrf: info.source_ifindex != 0 ? names[info.source_ifindex] ?? "if\(info.source_ifindex)" : nil)
        }
    }

    private static func bond(ifindex: UInt32, links: [Link]) -> BondStatus? {
        guard let link = links.first(where: { $0.ifindex == ifindex }) else { return nil }
        return Bond.read(link, links: links).map(BondStatus.init)
    }

    /// Human output, bpftool-terse.
    public var lines: [String] {
        if fastPaths.isEmpty { return ["fibfast: " + FibfastError.notAttached.description] }
        var lines: [String] = []
        for fastPath in fastPaths {
            for port in fastPath.ports {
                var line = "\(port.name): ifindex \(port.ifindex) "
                if let vlan = port.vlan {
                    line += "vlan \(vlan.id) (\(vlan.proto)) on \(vlan.lower)"
                } else {
                    line += "xdp \(port.mode ?? "?")"
                }
                line += " prog \(port.programID)"
                if let vrf = port.vrf { line += " vrf \(vrf)" }
                if port.takesRedirects == false { line += " redirects-to: no (the kernel forwards what leaves by it)" }
                if port.steppedAside { line += " stepped-aside (tc: the kernel forwards its traffic)" }
                if let bond = port.bond { line += " " + bond.summary }
                lines.append(line)
            }
            var program = "prog \(fastPath.programID) tag \(fastPath.tag)"
            switch fastPath.tagMatches {
            case true?: program += " (this binary's)"
            case false?: program += " (not this binary's: \(embeddedTag ?? "?"))"
            case nil: break
            }
            lines.append(program)
            if let agent = fastPath.agent {
                lines.append("agent: pid \(agent.pid) up \(Self.duration(agent.uptimeSeconds))")
            } else {
                lines.append("agent: none (the program outlives its agent; `fibfast detach` removes it)")
            }
            lines.append(fastPath.failureTracepoints.isEmpty
                ? "failures: not counted (no XDP tracepoints attached)"
                : "failures: counted (\(fastPath.failureTracepoints.joined(separator: ", ")))")
            if let cache = fastPath.fibCache {
                lines.append(cache.enabled
                    ? "fib-cache: on, invalidated by the agent's netlink events" + (cache.hooks.isEmpty ? "" : " and \(cache.hooks.joined(separator: ", "))")
                        + (cache.hooksRefused.isEmpty ? "" : "; refused by this kernel: \(cache.hooksRefused.joined(separator: ", "))")
                    : "fib-cache: off" + (cache.hooksRefused.isEmpty ? "" : " (invalidation hooks refused by this kernel: \(cache.hooksRefused.joined(separator: ", ")))"))
            }
        }
        return lines
    }

    /// Warnings an operator must not miss: the running fast path was built
    /// from other sources than this binary.
    public var warnings: [String] {
        fastPaths.compactMap { fastPath in
            guard fastPath.tagMatches == false else { return nil }
            return "program \(fastPath.programID) (tag \(fastPath.tag)) is not the fast path embedded in this binary (tag \(embeddedTag ?? "?")): the agent runs another build of fibfast"
        }
    }

    /// 42s, 3m07s, 2h05m, 4d03h: two units are enough to tell a restart.
    public static func duration(_ seconds: UInt64) -> String {
        let days = seconds / 86400, hours = seconds / 3600 % 24, minutes = seconds / 60 % 60, secs = seconds % 60
        if days > 0 { return String(format: "%llud%02lluh", days, hours) }
        if hours > 0 { return String(format: "%lluh%02llum", hours, minutes) }
        if minutes > 0 { return String(format: "%llum%02llus", minutes, secs) }
        return "\(secs)s"
    }
}
