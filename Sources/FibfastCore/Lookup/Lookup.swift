import CFastPath
import Glibc

/// What the operator asks `fibfast lookup` about.
public struct LookupRequest: Sendable {
    public var destination: IPAddress
    /// The port the packet arrives on; chosen from the routes when nil.
    public var ingress: String?
    public var source: IPAddress?
    public var proto: ProbeProtocol
    public var port: UInt16?
    public var ttl: UInt8

    public init(destination: IPAddress, ingress: String? = nil, source: IPAddress? = nil,
                proto: ProbeProtocol = .udp, port: UInt16? = nil, ttl: UInt8 = 64) {
        self.destination = destination
        self.ingress = ingress
        self.source = source
        self.proto = proto
        self.port = port
        self.ttl = ttl
    }
}

/// What the live fast path did with the probe, and what the kernel's FIB
/// says beside it: the shape `fibfast lookup --json` prints (docs/json.md).
public struct LookupResult: Sendable, Codable, Equatable {
    public var destination: IPAddress
    public var source: IPAddress
    public var ingress: String
    public var ingressIfindex: UInt32
    public var proto: ProbeProtocol
    public var destinationPort: UInt16?
    public var ttl: UInt8
    /// The XDP action the program returned: redirect or pass.
    public var action: String
    /// forwarded, or the reason the packet goes to the kernel; nil when live
    /// traffic kept the counters from telling.
    public var verdict: String?
    public var explanation: String
    /// Where a forwarded packet leaves, and as what.
    public var egress: String?
    public var egressIfindex: UInt32?
    public var nextHopMAC: String?
    public var sourceMAC: String?
    public var ttlOut: UInt8?
    /// `ip route get DESTINATION from SOURCE iif INGRESS`, from netlink.
    public var kernel: KernelRoute
    /// Test runs count in the live counters like real packets: how many this
    /// lookup added (one, more when live traffic forced a retry).
    public var countedRuns: Int
    /// Where the fast path's FIB answer came from: "cache" (a hit), "fib"
    /// (a miss: asked the FIB), "bypassed" (asked the FIB without looking:
    /// the cache had not been paying on that CPU), "off" (the cache is
    /// off); nil when the probe
    /// never reached the lookup or live traffic blurred the counters.
    public var fibAnswer: String?

    public var lines: [String] {
        var head = "\(destination) from \(source) iif \(ingress) \(proto)"
        if let destinationPort { head += " dport \(destinationPort)" }
        head += " ttl \(ttl)"
        var fastPath: String
        if action == XDPAction.redirect.description {
            fastPath = "fast path: forwarded dev \(egress ?? "?") lladdr \(nextHopMAC ?? "?") ttl \(ttlOut.map(String.init) ?? "?")"
        } else if let verdict {
            fastPath = "fast path: \(action) to kernel, \(verdict): \(explanation)"
        } else {
            fastPath = "fast path: \(action): \(explanation)"
        }
        switch fibAnswer {
        case "cache"?: fastPath += " (FIB answer from the fast path's cache)"
        case "fib"?: fastPath += " (FIB asked: not in the fast path's cache)"
        case "bypassed"?: fastPath += " (FIB asked: the cache is skipped on this CPU, where nearly every recent lookup missed)"
        default: break
        }
        return [head, fastPath, "kernel:    \(kernel.line)",
                "note: counted in the live counters (\(countedRuns) packet\(countedRuns == 1 ? "" : "s") on \(ingress))"]
    }
}

public enum Lookup {
    public static func run(_ request: LookupRequest) throws -> LookupResult {
        guard let running = try RunningFastPath.discover().first else { throw FibfastError.notAttached }
        let links = try Links.all()
        let names = Dictionary(links.map { ($0.ifindex, $0.name) }, uniquingKeysWith: { a, _ in a })
        let family = request.destination.family
        if let source = request.source, source.family != family {
            throw FibfastError.lookupFamilyMismatch(source: source.description, destination: request.destination.description)
        }

        let ingress = try ingressPort(request, running: running, links: links, names: names)
        let source = try request.source ?? neighbourAddress(on: ingress, family: family)
        let probe = ProbeFrame(source: source, destination: request.destination, proto: request.proto,
                               destinationPort: request.port ?? (request.proto == .icmp ? 0 : 9),
                               ttl: request.ttl, sourceMAC: [0x02, 0x66, 0x66, 0, 0, 1],
                               destinationMAC: ingress.mac)

        let slots = running.maps.portSlots()
        guard let ingressSlot = slots[ingress.ifindex] else { throw FibfastError.notFastPathPort(ingress.name) }
        let (run, moved, runs) = try testRun(running, frame: probe.bytes, ingress: ingress.ifindex,
                                             ingressSlot: ingressSlot, slots: slots)

        var result = LookupResult(
            destination: request.destination, source: source, ingress: ingress.name, ingressIfindex: ingress.ifindex,
            proto: request.proto, destinationPort: request.proto == .icmp ? nil : probe.destinationPort,
            ttl: request.ttl, action: run.action.description, verdict: moved.verdict?.description,
            explanation: moved.verdict?.explanation ?? "live traffic on this CPU hid the reason; run it again",
            kernel: try RouteQuery.get(request.destination, source: source, ingress: ingress.ifindex, names: names),
            countedRuns: runs)
        result.fibAnswer = moved.fibAnswer
        if run.action == .redirect && run.frame.count >= 34 {
            let egressMAC = Array(run.frame[6..<12])
            let egress = moved.egress ?? links.first { $0.mac == egressMAC && slots[$0.ifindex] != nil }?.ifindex
            result.egressIfindex = egress
            result.egress = egress.map { names[$0] ?? "if\($0)" }
            result.nextHopMAC = MACAddress.text(run.frame[0..<6])
            result.sourceMAC = MACAddress.text(egressMAC)
            result.ttlOut = family == .ipv4 ? run.frame[22] : run.frame[21]
        }
        return result
    }

    /// --from, else the port the kernel would reach --source by, else the
    /// first fast-path port that is not the destination's own: the packet
    /// should be transit traffic, not one sent back where it came from.
    static func ingressPort(_ request: LookupRequest, running: RunningFastPath, links: [Link],
                            names: [UInt32: String]) throws -> Link {
        let ports = Set(running.ports.map(\.ifindex))
        func fastPathPort(_ ifindex: UInt32?, _ what: String) throws -> Link {
            guard let ifindex, let link = links.first(where: { $0.ifindex == ifindex }) else {
                throw FibfastError.unknownPort(what)
            }
            guard ports.contains(ifindex) else { throw FibfastError.notFastPathPort(link.name) }
            return link
        }
        if let name = request.ingress {
            return try fastPathPort(links.first { $0.name == name }?.ifindex, name)
        }
        if let source = request.source {
            let route = try RouteQuery.get(source, names: names)
            guard route.ifindex != nil else { throw FibfastError.noRouteToSource(source.description) }
            return try fastPathPort(route.ifindex, source.description)
        }
        let egress = (try? RouteQuery.get(request.destination, names: names))?.ifindex
        let candidates = running.ports.filter { $0.ifindex != egress }
        return try fastPathPort((candidates.first ?? running.ports.first)?.ifindex, "any fast-path port")
    }

    /// A host address next to the port's own on its subnet: the kind of
    /// sender a packet arriving there comes from.
    static func neighbourAddress(on port: Link, family: AddressFamily) throws -> IPAddress {
        let own = try Links.addresses().filter { $0.ifindex == port.ifindex && $0.family == family && !$0.isLinkLocal }
        guard let address = own.first else {
            throw FibfastError.lookupNeedsSource(port: port.name, family: family)
        }
        return neighbour(of: address)
    }

    /// The next address in the prefix, or the previous one when the next is
    /// outside it or the IPv4 broadcast address.
    public static func neighbour(of address: InterfaceAddress) -> IPAddress {
        let bits = address.bytes.count * 8
        func inPrefix(_ candidate: [UInt8]) -> Bool {
            for bit in 0..<min(address.prefixLength, bits) {
                let mask = UInt8(0x80) >> UInt8(bit % 8)
                if candidate[bit / 8] & mask != address.bytes[bit / 8] & mask { return false }
            }
            return true
        }
        func isBroadcast(_ candidate: [UInt8]) -> Bool {
            guard address.family == .ipv4, address.prefixLength < 31 else { return false }
            return (address.prefixLength..<bits).allSatisfy { candidate[$0 / 8] & (UInt8(0x80) >> UInt8($0 % 8)) != 0 }
        }
        func step(_ bytes: [UInt8], up: Bool) -> [UInt8] {
            var result = bytes
            for index in result.indices.reversed() {
                let (value, carry) = up ? result[index].addingReportingOverflow(1) : result[index].subtractingReportingOverflow(1)
                result[index] = value
                if !carry { break }
            }
            return result
        }
        let next = step(address.bytes, up: true)
        let chosen = inPrefix(next) && !isBroadcast(next) ? next : step(address.bytes, up: false)
        return IPAddress(family: address.family, bytes: chosen)
    }

    struct Moved { var verdict: Verdict?; var egress: UInt32?; var fibAnswer: String? }

    /// Runs the probe and reads which counter it moved. The program says
    /// "pass" for every reason alike; only the counter it bumped tells which.
    /// Test runs execute on the calling CPU, so the thread is pinned and only
    /// that CPU's counters compared; live traffic on the same CPU in between
    /// can still blur the difference, hence the retries.
    static func testRun(_ running: RunningFastPath, frame: [UInt8], ingress: UInt32, ingressSlot: UInt32,
                        slots: [UInt32: UInt32]) throws -> (XDPTestRun, Moved, Int) {
        let pin = try CPUPin()
        defer { pin.release() }
        var last: (XDPTestRun, Moved)?
        for attempt in 1...5 {
            let before = snapshot(running.maps, cpu: pin.cpu, ingressSlot: ingressSlot, slots: slots)
            let run = try XDPTestRun.run(programFD: running.programDescriptor.rawValue, frame: frame,
                                         ingressIfindex: ingress)
            let after = snapshot(running.maps, cpu: pin.cpu, ingressSlot: ingressSlot, slots: slots)
            let verdicts = Verdict.allCases.filter { $0 != .transmitted && after.verdicts[$0] != before.verdicts[$0] }
            let egress = slots.keys.filter { after.transmitted[$0] != before.transmitted[$0] }
            let hits = after.cacheHits &- before.cacheHits, misses = after.cacheMisses &- before.cacheMisses
            let bypassed = after.cacheBypassed &- before.cacheBypassed
            let answer: String? = switch (after.cacheOn, hits, misses, bypassed) {
            case (false, _, _, _): "off"
            case (true, 1, 0, 0): "cache"
            case (true, 0, 1, 0): "fib"
            case (true, 0, 1, 1): "bypassed"
            default: nil
            }
            let moved = Moved(verdict: verdicts.count == 1 ? verdicts[0] : nil,
                              egress: egress.count == 1 ? egress[0] : nil, fibAnswer: answer)
            last = (run, moved)
            let consistent = verdicts.count == 1 && (verdicts[0] != .forwarded || egress.count == 1)
            if consistent { return (run, moved, attempt) }
        }
        return (last!.0, last!.1, 5)
    }

    private struct Snapshot {
        var verdicts: [Verdict: UInt64] = [:]
        var transmitted: [UInt32: UInt64] = [:]
        var cacheOn = false
        var cacheHits: UInt64 = 0
        var cacheMisses: UInt64 = 0
        var cacheBypassed: UInt64 = 0
    }

    private static func snapshot(_ maps: FastPathMaps, cpu: Int, ingressSlot: UInt32, slots: [UInt32: UInt32]) -> Snapshot {
        var snapshot = Snapshot()
        func packets(_ slot: UInt32, _ verdict: Verdict) -> UInt64 {
            let index = ff_counter_index(slot, verdict.rawValue)
            let values = maps.counters.lookupPerCPU(index)
            return cpu < values.count ? values[cpu].packets : 0
        }
        for verdict in Verdict.allCases where verdict != .transmitted {
            snapshot.verdicts[verdict] = packets(ingressSlot, verdict)
        }
        for (ifindex, slot) in slots { snapshot.transmitted[ifindex] = packets(slot, .transmitted) }
        snapshot.cacheOn = (maps.fibCacheControl?.lookup(0)?.enabled ?? 0) != 0
        if let stats = maps.fibCacheStats?.lookupPerCPU(0), cpu < stats.count {
            snapshot.cacheHits = stats[cpu].hits
            snapshot.cacheMisses = stats[cpu].misses
            snapshot.cacheBypassed = stats[cpu].bypassed
        }
        return snapshot
    }
}
