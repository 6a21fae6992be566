import Foundation

/// The kernel's own counters in a lab namespace: what the fast path takes
/// off the router's kernel must not show there.
extension Lab {
    /// Every counter of /proc/net/snmp, named "Group.Name" (Ip.ForwDatagrams),
    /// and of /proc/net/snmp6, named as there (Ip6OutForwDatagrams).
    func snmp(_ ns: String) throws -> [String: Int64] {
        let text = try check(Command.run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp", "/proc/net/snmp6"])).stdout
        var counters: [String: Int64] = [:]
        var header: (group: Substring, names: [Substring])?
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = fields.first else { continue }
            if first.hasSuffix(":") {
                // snmp: a line of names under "Group:", then one of values.
                let group = first.dropLast()
                if let names = header, names.group == group {
                    for (name, value) in zip(names.names, fields.dropFirst()) { counters["\(group).\(name)"] = Int64(value) }
                    header = nil
                } else {
                    header = (group, Array(fields.dropFirst()))
                }
            } else if fields.count == 2, let value = Int64(fields[1]) {
                counters[String(first)] = value
            }
        }
        return counters
    }

    /// Packets the router's kernel has forwarded, per family.
    func kernelForwarded() throws -> (v4: Int, v6: Int) {
        let counters = try snmp(namespace(.rtr))
        return (Int(counters["Ip.ForwDatagrams"] ?? -1), Int(counters["Ip6OutForwDatagrams"] ?? -1))
    }
}
