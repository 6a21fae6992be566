import CLibBPF
import Glibc

/// Something in a port's traffic control (tc) that a packet forwarded in XDP
/// would skip: XDP runs before tc ingress, and a redirect leaves through the
/// egress driver without the port's qdisc or tc egress hook.
public struct TrafficControlFinding: Sendable, Equatable, CustomStringConvertible {
    public var port: String
    /// What it is, in tc's words: "filter u32 on ingress (pref 49152)", "qdisc tbf (root)".
    public var what: String

    public var description: String { "port \(port): tc \(what)" }
}

/// Reads the tc configuration of ports and names what the fast path would
/// bypass. Harmless, and so not named:
///  - the root queueing disciplines the kernel installs by itself (noqueue,
///    mq, pfifo_fast, fq_codel, and whatever net.core.default_qdisc names):
///    they decide only the order and the dropping of packets under
///    congestion, never which packets leave or what they carry, and XDP's
///    own transmit queue takes their place for what it forwards;
///  - clsact and ingress qdiscs without filters: hooks with nothing on them.
/// Everything else is named: any filter (and so any action, since actions
/// run from filters) on ingress, egress or a qdisc, any other qdisc
/// (shaping, policing, prioritising, delaying), and BPF programs attached
/// through tcx (Linux 6.6 and later), which tc's qdisc dump does not show.
public enum TrafficControl {
    static let defaultRootQdiscs: Set<String> = ["noqueue", "mq", "pfifo_fast", "fq_codel"]

    // Parents as the kernel numbers them (linux/pkt_sched.h).
    static let rootParent: UInt32 = 0xFFFF_FFFF            // TC_H_ROOT
    static let ingressParent: UInt32 = 0xFFFF_FFF1         // TC_H_INGRESS (also clsact's)
    static let clsactIngress: UInt32 = 0xFFFF_FFF2         // TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)
    static let clsactEgress: UInt32 = 0xFFFF_FFF3          // TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)
    static let tcxIngress: UInt32 = 46                     // BPF_TCX_INGRESS
    static let tcxEgress: UInt32 = 47                      // BPF_TCX_EGRESS

    /// Whether a qdisc of this type is one of the kernel's own defaults.
    static func isDefault(_ type: String, defaultQdisc: String?) -> Bool {
        defaultRootQdiscs.contains(type) || type == defaultQdisc
    }

    /// Everything on these ports that the fast path would bypass, in port
    /// order. Throws when the kernel could not be asked: not knowing is not
    /// the same as finding nothing.
    public static func findings(ports: [Link]) throws -> [TrafficControlFinding] {
        let defaultQdisc = Sysctl.read("net.core.default_qdisc")
        var qdiscs: [TrafficControlObject] = []
        try Dump.qdiscs { qdiscs.append($0) }
        return try ports.flatMap { port in
            try findings(port: port, qdiscs: qdiscs.filter { $0.ifindex == port.ifindex }, defaultQdisc: defaultQdisc)
        }
    }

    static func findings(port: Link, qdiscs: [TrafficControlObject], defaultQdisc: String?) throws -> [TrafficControlFinding] {
        var findings: [TrafficControlFinding] = []
        func found(_ what: String) { findings.append(TrafficControlFinding(port: port.name, what: what)) }
        func filters(parent: UInt32, on hook: String) throws {
            try Dump.filters(ifindex: port.ifindex, parent: parent) { filter in
                // A u32 filter, for one, is dumped as several entries (its
                // hash tables and keys): name each kind and preference once.
                let what = "filter \(filter.type.isEmpty ? "?" : filter.type) on \(hook) (pref \(filter.priority))"
                if !findings.contains(where: { $0.what == what }) { found(what) }
            }
        }
        for qdisc in qdiscs {
            switch qdisc.type {
            case "clsact":
                try filters(parent: clsactIngress, on: "ingress")
                try filters(parent: clsactEgress, on: "egress")
            case "ingress":
                try filters(parent: clsactIngress, on: "ingress")
            case let type where isDefault(type, defaultQdisc: defaultQdisc):
                // fq_codel can classify with filters of its own.
                if qdisc.parent == rootParent { try filters(parent: 0, on: "qdisc \(type)") }
            default:
                found("qdisc \(qdisc.type) (\(position(of: qdisc)))")
            }
        }
        for (attachType, hook) in [(tcxIngress, "ingress"), (tcxEgress, "egress")] {
            let count = tcxPrograms(ifindex: port.ifindex, attachType: attachType)
            if count > 0 { found("\(count) BPF program\(count == 1 ? "" : "s") (tcx) on \(hook)") }
        }
        return findings
    }

    static func position(of qdisc: TrafficControlObject) -> String {
        if qdisc.parent == rootParent { return "root" }
        return "parent \(String(qdisc.parent >> 16, radix: 16)):\(String(qdisc.parent & 0xFFFF, radix: 16))"
    }

    /// Programs attached through tcx; 0 on kernels before 6.6, which
    /// refuse the query (and have no tcx).
    static func tcxPrograms(ifindex: UInt32, attachType: UInt32) -> UInt32 {
        var options = bpf_prog_query_opts()
        zeroPadding(&options)
        options.sz = MemoryLayout<bpf_prog_query_opts>.size
        let rc = bpf_prog_query_opts(Int32(bitPattern: ifindex), bpf_attach_type(rawValue: attachType), &options)
        return rc == 0 ? options.prog_cnt : 0
    }
}
