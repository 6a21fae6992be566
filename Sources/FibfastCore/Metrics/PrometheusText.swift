/// The counters of a StatsReport in Prometheus' text exposition format
/// (version 0.0.4). Every port gets every reason, zeros included, so a
/// series does not appear out of nowhere the first time a reason counts.
public enum PrometheusText {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ report: StatsReport) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: UInt64)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples {
                let labels = sample.labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",")
                out += "\(name){\(labels)} \(sample.value)\n"
            }
        }
        let ports = report.ports
        func perPort(_ value: (StatsReport.Port) -> UInt64) -> [(labels: [(String, String)], value: UInt64)] {
            ports.map { ([("port", $0.name)], value($0)) }
        }
        func perReason(_ value: (StatsReport.Port, String) -> UInt64) -> [(labels: [(String, String)], value: UInt64)] {
            ports.flatMap { port in
                Verdict.passReasons.map { ([("port", port.name), ("reason", $0.description)], value(port, $0.description)) }
            }
        }
        family("fibfast_forwarded_packets_total", "counter", "Packets forwarded in XDP, by ingress port.",
               perPort { $0.forwarded.packets })
        family("fibfast_forwarded_bytes_total", "counter", "Bytes forwarded in XDP, by ingress port.",
               perPort { $0.forwarded.bytes })
        family("fibfast_transmitted_packets_total", "counter", "Packets the fast path redirected out of this port.",
               perPort { $0.transmitted.packets })
        family("fibfast_transmitted_bytes_total", "counter", "Bytes the fast path redirected out of this port.",
               perPort { $0.transmitted.bytes })
        family("fibfast_passed_packets_total", "counter", "Packets handed to the kernel, by ingress port and reason.",
               perReason { $0.passReasons[$1]?.packets ?? 0 })
        family("fibfast_passed_bytes_total", "counter", "Bytes handed to the kernel, by ingress port and reason.",
               perReason { $0.passReasons[$1]?.bytes ?? 0 })
        family("fibfast_failed_packets_total", "counter",
               "Frames lost after the fast path chose to forward, by port and reason (kernel XDP tracepoints).",
               ports.flatMap { port in
                   XDPFailure.allCases.map { ([("port", port.name), ("reason", $0.description)], port.failures[$0.description]?.frames ?? 0) }
               })
        family("fibfast_failure_tracing", "gauge", "1 when the XDP tracepoints that count failures are attached.",
               [([], report.failureTracing ? 1 : 0)])
        if let cache = report.fibCache {
            family("fibfast_fib_cache_enabled", "gauge", "1 when the FIB answer cache is on.", [([], cache.enabled ? 1 : 0)])
            family("fibfast_fib_cache_lookups_total", "counter", "Lookups in the FIB answer cache, by result (hit or miss).",
                   [([("result", "hit")], cache.hits), ([("result", "miss")], cache.misses)])
            family("fibfast_fib_cache_invalidations_total", "counter", "Times every answer in the FIB answer cache was invalidated.",
                   [([], cache.invalidations)])
        }
        family("fibfast_program_info", "gauge", "The running fast-path program.",
               [([("program_id", "\(report.programID)")], 1)])
        return out.replacingOccurrences(of: "{}", with: "")
    }

    /// The agent's side: what it follows, to tell when it is in step with
    /// the kernel after a large change.
    public static func render(_ progress: FollowProgress.Snapshot) -> String {
        """
        # HELP fibfast_agent_routes Routes with a gateway on a fast-path port, as the agent tracks them.
        # TYPE fibfast_agent_routes gauge
        fibfast_agent_routes \(progress.routes)
        # HELP fibfast_agent_next_hops Next hops on fast-path ports whose neighbours the agent keeps resolved.
        # TYPE fibfast_agent_next_hops gauge
        fibfast_agent_next_hops \(progress.nextHops)
        # HELP fibfast_agent_netlink_events_total Netlink events the agent has taken in.
        # TYPE fibfast_agent_netlink_events_total counter
        fibfast_agent_netlink_events_total \(progress.events)
        # HELP fibfast_agent_last_event_seconds Unix time of the last netlink event the agent took in.
        # TYPE fibfast_agent_last_event_seconds gauge
        fibfast_agent_last_event_seconds \(String(format: "%.3f", progress.lastEvent))
        # HELP fibfast_agent_last_route_event_seconds Unix time of the last route event the agent took in.
        # TYPE fibfast_agent_last_route_event_seconds gauge
        fibfast_agent_last_route_event_seconds \(String(format: "%.3f", progress.lastRouteEvent))

        """
    }

    public static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
