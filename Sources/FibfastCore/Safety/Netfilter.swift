import Foundation

/// A netfilter rule (or chain policy) that the kernel applies to forwarded
/// packets and that XDP forwarding would skip: bpf_fib_lookup + redirect
/// never enters the prerouting, forward or postrouting hooks, nor the
/// netdev ingress/egress hooks of the ports.
public struct NetfilterRule: Sendable, Equatable, CustomStringConvertible {
    /// "nftables" (which includes iptables-nft), "iptables-legacy" or "ip6tables-legacy".
    public var source: String
    /// "inet filter", "ip nat", ... or the iptables table name.
    public var table: String
    public var chain: String
    public var hook: String
    /// The rule as its tool prints it, or "policy drop" for a chain that drops by default.
    public var rule: String

    public init(source: String, table: String, chain: String, hook: String, rule: String) {
        self.source = source
        self.table = table
        self.chain = chain
        self.hook = hook
        self.rule = rule
    }

    public var description: String {
        "\(source) table \(table) chain \(chain) (\(hook) hook): \(rule)"
    }
}

/// Finds forward-path filtering and NAT in this network namespace.
public enum Netfilter {
    /// Hooks a forwarded packet passes through, per nftables family. The
    /// input and output hooks see only the router's own traffic, which the
    /// fast path never touches.
    static let forwardHooks: [String: Set<String>] = [
        "ip": ["prerouting", "forward", "postrouting"],
        "ip6": ["prerouting", "forward", "postrouting"],
        "inet": ["prerouting", "forward", "postrouting", "ingress"],
        "netdev": ["ingress", "egress"],
    ]

    /// Every rule fibfast would bypass, from nftables and legacy iptables.
    /// Throws when it cannot tell: an unchecked firewall is not a clean one.
    public static func forwardPathRules() throws -> [NetfilterRule] {
        try read().forward
    }

    /// What the firewall means for the fast path: the rules it would bypass,
    /// and what makes the kernel reassemble forwarded fragments.
    public struct Findings: Sendable, Equatable {
        public var forward: [NetfilterRule] = []
        /// Users of conntrack (or of its defragmentation alone). Any one of
        /// them, in any chain of any hook, registers the conntrack defrag
        /// hooks for the whole namespace (nf_ct_netns_get,
        /// nf_defrag_ipv4/ipv6_enable) at prerouting: the kernel then holds
        /// every fragment, forwarded ones too, until the packet is whole,
        /// and forwards that. Rules on the input hook alone, which the
        /// forward-path check lets through, are enough.
        public var reassembly: [NetfilterRule] = []
    }

    public static func read() throws -> Findings {
        var rules: [NetfilterRule] = []
        var reassembly: [NetfilterRule] = []
        let json = try run("nft", ["-j", "list", "ruleset"])
        // Rule text for the message; the JSON is what is trusted.
        let text = (try? run("nft", ["-a", "list", "ruleset"])) ?? ""
        let items = try nftItems(json)
        rules += nftRules(items: items, text: text)
        reassembly += nftReassembly(items: items)
        // iptables-legacy keeps its tables outside nftables. The kernel lists
        // loaded legacy tables in /proc; without them there is nothing to save,
        // and running the save command would only load modules.
        for (tool, names, source) in [("iptables-legacy-save", "/proc/net/ip_tables_names", "iptables-legacy"),
                                      ("ip6tables-legacy-save", "/proc/net/ip6_tables_names", "ip6tables-legacy")] {
            // No file: the legacy module is not loaded, so there are no
            // tables. A file that cannot be read (not root) says nothing.
            guard FileManager.default.fileExists(atPath: names) else { continue }
            guard let tables = try? String(contentsOfFile: names, encoding: .utf8) else {
                throw FibfastError.netfilterUnreadable(tool: names, reason: "cannot read it; run fibfast as root")
            }
            if tables.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { continue }
            let save = try run(tool, [])
            rules += iptablesRules(save: save, source: source)
            reassembly += iptablesReassembly(save: save, source: source)
        }
        rules += try ipsecPolicies()
        return Findings(forward: rules, reassembly: reassembly)
    }

    /// nftables statements and expressions that take conntrack (or its
    /// defragmentation) into the namespace, as JSON keys; iptables-nft's
    /// matches and targets show up as "xt" with the extension's name.
    static let conntrackKeys: Set<String> = [
        "ct", "ct helper", "ct timeout", "ct expectation", "ct count", "notrack", "synproxy",
        "tproxy", "socket", "snat", "dnat", "masquerade", "redirect",
    ]
    static let conntrackExtensions: Set<String> = [
        "conntrack", "state", "ct", "CT", "NOTRACK", "helper", "connmark", "CONNMARK", "connlimit",
        "connbytes", "connlabel", "CONNSECMARK", "socket", "TPROXY", "SYNPROXY", "SNAT", "DNAT",
        "MASQUERADE", "REDIRECT", "NETMAP", "cluster",
    ]

    /// Conntrack users in `nft -j list ruleset`: NAT chains (a NAT base
    /// chain registers conntrack even empty), conntrack objects, and rules
    /// with a conntrack expression or statement, in any chain of an ip, ip6
    /// or inet table.
    public static func nftReassembly(json: String) throws -> [NetfilterRule] {
        nftReassembly(items: try nftItems(json))
    }

    static func nftReassembly(items: [[String: Any]]) -> [NetfilterRule] {
        let families: Set<String> = ["ip", "ip6", "inet"]
        var result: [NetfilterRule] = []
        for item in items {
            for (kind, value) in item {
                guard let body = value as? [String: Any], let family = body["family"] as? String,
                      families.contains(family) else { continue }
                let table = "\(family) \(body["table"] as? String ?? "?")"
                switch kind {
                case "chain" where body["type"] as? String == "nat":
                    let name = body["name"] as? String ?? "?"
                    result.append(NetfilterRule(source: "nftables", table: table, chain: name,
                                                hook: body["hook"] as? String ?? "?", rule: "type nat chain"))
                case "rule":
                    guard let found = conntrackUse(in: body["expr"] ?? []) else { continue }
                    result.append(NetfilterRule(source: "nftables", table: table, chain: body["chain"] as? String ?? "?",
                                                hook: "-", rule: "\(found) # handle \(body["handle"] as? Int ?? -1)"))
                case "ct helper", "ct timeout", "ct expectation", "synproxy":
                    result.append(NetfilterRule(source: "nftables", table: table, chain: "-", hook: "-",
                                                rule: "\(kind) \(body["name"] as? String ?? "?")"))
                default:
                    continue
                }
            }
        }
        return result
    }

    /// The first conntrack expression or statement in a rule's JSON, by name.
    static func conntrackUse(in json: Any) -> String? {
        if let list = json as? [Any] {
            return list.lazy.compactMap { conntrackUse(in: $0) }.first
        }
        guard let object = json as? [String: Any] else { return nil }
        for (key, value) in object {
            if conntrackKeys.contains(key) { return key }
            if key == "xt", let name = (value as? [String: Any])?["name"] as? String, conntrackExtensions.contains(name) {
                return "xt \(name)"
            }
            if let found = conntrackUse(in: value) { return found }
        }
        return nil
    }

    /// Conntrack users in an iptables-legacy save: a loaded nat table
    /// (registers conntrack even empty), and rules in any chain that match
    /// on or act through conntrack.
    public static func iptablesReassembly(save: String, source: String) -> [NetfilterRule] {
        var result: [NetfilterRule] = []
        for (table, line) in iptablesLines(save) {
            if line == "*nat" {
                result.append(NetfilterRule(source: source, table: table, chain: "-", hook: "-", rule: "table nat loaded"))
            } else if line.hasPrefix("-A "), table != "nat" {
                let words = line.split(separator: " ").map(String.init)
                let uses = zip(words, words.dropFirst()).contains { option, name in
                    (option == "-m" || option == "--match" || option == "-j" || option == "--jump")
                        && conntrackExtensions.contains(name)
                }
                if uses {
                    result.append(NetfilterRule(source: source, table: table, chain: words.count > 1 ? words[1] : "?",
                                                hook: "-", rule: line))
                }
            }
        }
        return result
    }

    /// IPsec (xfrm) policies: forwarded packets are checked against "fwd"
    /// policies (ip_forward's xfrm4_policy_check) and transformed by "out"
    /// ones (xfrm_lookup on the forward route); XDP skips both. So do the
    /// default policies (`ip xfrm policy setdefault`, kernel 5.16): with
    /// "fwd block" or "out block" the kernel drops every forwarded packet
    /// no policy lets through.
    static func ipsecPolicies() throws -> [NetfilterRule] {
        let output: String
        do {
            output = try run("ip", ["xfrm", "policy", "list"])
        } catch FibfastError.netfilterUnreadable(_, let reason) where reason.contains("not supported") {
            return []  // no xfrm in this kernel: no policies either
        }
        // Default policies came with 5.16, the oldest kernel fibfast runs
        // on (KernelVersion.minimum): a refusal here is a failure like any.
        let defaults: String
        do {
            defaults = try run("ip", ["xfrm", "policy", "getdefault"])
        } catch FibfastError.netfilterUnreadable(let tool, let reason) where reason.contains("is unknown") {
            throw FibfastError.netfilterUnreadable(
                tool: tool, reason: "this iproute2 cannot show the kernel's xfrm default policies; install iproute2 5.16 or later")
        }
        return ipsecPolicies(list: output) + (try ipsecDefaults(getdefault: defaults))
    }

    /// Parses `ip xfrm policy getdefault`: "Default policies:", then one
    /// line per direction, " in:  accept", " fwd: block", " out: accept".
    /// Output that says neither is not a clean bill: it throws.
    public static func ipsecDefaults(getdefault: String) throws -> [NetfilterRule] {
        var found: [String: String] = [:]
        for line in getdefault.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard words.count == 2, words[0].hasSuffix(":") else { continue }
            found[String(words[0].dropLast())] = String(words[1])
        }
        var defaults: [NetfilterRule] = []
        for direction in ["fwd", "out"] {
            switch found[direction] {
            case "accept":
                continue
            case "block":
                defaults.append(NetfilterRule(source: "ipsec", table: "xfrm policy", chain: "default", hook: direction,
                                              rule: "default policy \(direction) block (ip xfrm policy setdefault)"))
            default:
                throw FibfastError.netfilterUnreadable(tool: "ip xfrm policy getdefault",
                                                       reason: "no \(direction) default in its output")
            }
        }
        return defaults
    }

    /// Parses `ip xfrm policy list`: a policy is a line with its selector,
    /// followed by indented lines, one of them "dir in|out|fwd ...".
    public static func ipsecPolicies(list: String) -> [NetfilterRule] {
        var policies: [NetfilterRule] = []
        var selector: String?
        for line in list.split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            if !line.hasPrefix("\t") && !line.hasPrefix(" ") {
                selector = text
                continue
            }
            let words = text.split(separator: " ")
            guard words.first == "dir", words.count > 1, let selector else { continue }
            let direction = String(words[1])
            guard direction == "fwd" || direction == "out" else { continue }
            policies.append(NetfilterRule(source: "ipsec", table: "xfrm policy", chain: "dir \(direction)",
                                          hook: direction, rule: selector + " " + text))
        }
        return policies
    }

    /// Base chains on a forward-path hook that have rules or drop by
    /// default, from `nft -j list ruleset`; `text` is `nft -a list ruleset`
    /// and only lends the rules' wording.
    public static func nftRules(json: String, text: String = "") throws -> [NetfilterRule] {
        nftRules(items: try nftItems(json), text: text)
    }

    /// The objects of `nft -j list ruleset`.
    static func nftItems(_ json: String) throws -> [[String: Any]] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let items = object["nftables"] as? [[String: Any]]
        else { throw FibfastError.netfilterUnreadable(tool: "nft -j list ruleset", reason: "unexpected JSON") }
        return items
    }

    static func nftRules(items: [[String: Any]], text: String) -> [NetfilterRule] {

        struct ChainKey: Hashable { var family: String, table: String, chain: String }
        var hooked: [ChainKey: (hook: String, policy: String?)] = [:]
        var order: [ChainKey] = []
        var rulesByChain: [ChainKey: [Int]] = [:]
        for item in items {
            if let chain = item["chain"] as? [String: Any],
               let family = chain["family"] as? String, let table = chain["table"] as? String,
               let name = chain["name"] as? String, let hook = chain["hook"] as? String,
               forwardHooks[family]?.contains(hook) == true {
                let key = ChainKey(family: family, table: table, chain: name)
                hooked[key] = (hook, chain["policy"] as? String)
                order.append(key)
            } else if let rule = item["rule"] as? [String: Any],
                      let family = rule["family"] as? String, let table = rule["table"] as? String,
                      let chain = rule["chain"] as? String {
                rulesByChain[ChainKey(family: family, table: table, chain: chain), default: []]
                    .append(rule["handle"] as? Int ?? -1)
            }
        }
        let wording = nftRuleText(text)
        var result: [NetfilterRule] = []
        for key in order {
            guard let (hook, policy) = hooked[key] else { continue }
            let table = "\(key.family) \(key.table)"
            for handle in rulesByChain[key] ?? [] {
                let words = wording["\(table)/\(key.chain)/\(handle)"] ?? "rule"
                result.append(NetfilterRule(source: "nftables", table: table, chain: key.chain, hook: hook,
                                            rule: "\(words) # handle \(handle)"))
            }
            if policy == "drop" {
                result.append(NetfilterRule(source: "nftables", table: table, chain: key.chain, hook: hook,
                                            rule: "policy drop"))
            }
        }
        return result
    }

    /// "family table/chain/handle" -> rule text, from `nft -a list ruleset`.
    static func nftRuleText(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        var table = "", chain = ""
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            let words = line.split(separator: " ").map(String.init)
            if words.first == "table", words.count >= 3 {
                table = "\(words[1]) \(words[2])"
            } else if words.first == "chain", words.count >= 2 {
                chain = words[1]
            } else if let marker = line.range(of: " # handle "), !line.hasPrefix("type ") {
                let handle = line[marker.upperBound...].trimmingCharacters(in: .whitespaces)
                // Counter values change with traffic; a rule must read the
                // same from one look to the next.
                let wording = String(line[..<marker.lowerBound]).replacingOccurrences(
                    of: #"packets \d+ bytes \d+"#, with: "", options: .regularExpression)
                    .replacingOccurrences(of: "  ", with: " ")
                result["\(table)/\(chain)/\(handle)"] = wording.trimmingCharacters(in: .whitespaces)
            }
        }
        return result
    }

    /// Built-in chains of each iptables table that forwarded packets cross.
    static let iptablesChains: [String: Set<String>] = [
        "filter": ["FORWARD"],
        "nat": ["PREROUTING", "POSTROUTING"],
        "mangle": ["PREROUTING", "FORWARD", "POSTROUTING"],
        "raw": ["PREROUTING"],
        "security": ["FORWARD"],
    ]

    /// Rules and non-ACCEPT policies on forward-path chains, from
    /// iptables-save output. User chains are reached only by jumps from
    /// these, so a rule there always shows up here as the jump.
    public static func iptablesRules(save: String, source: String) -> [NetfilterRule] {
        var result: [NetfilterRule] = []
        for (table, line) in iptablesLines(save) {
            if line.hasPrefix(":") {
                let words = line.dropFirst().split(separator: " ").map(String.init)
                if words.count >= 2, iptablesChains[table]?.contains(words[0]) == true,
                   words[1] != "ACCEPT" && words[1] != "-" {
                    result.append(NetfilterRule(source: source, table: table, chain: words[0],
                                                hook: words[0].lowercased(), rule: "policy \(words[1])"))
                }
            } else if line.hasPrefix("-A ") {
                let words = line.split(separator: " ", maxSplits: 2).map(String.init)
                if words.count >= 2, iptablesChains[table]?.contains(words[1]) == true {
                    result.append(NetfilterRule(source: source, table: table, chain: words[1],
                                                hook: words[1].lowercased(), rule: line))
                }
            }
        }
        return result
    }

    /// The lines of iptables-save output, each with the table it is in.
    static func iptablesLines(_ save: String) -> [(table: String, line: String)] {
        var table = ""
        return save.split(separator: "\n").map { raw in
            let line = String(raw)
            if line.hasPrefix("*") { table = String(line.dropFirst()) }
            return (table, line)
        }
    }

    /// Runs one of the netfilter tools from the usual sbin directories.
    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let directories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        guard let path = directories.map({ "\($0)/\(tool)" }).first(where: FileManager.default.isExecutableFile)
        else {
            throw FibfastError.netfilterUnreadable(tool: tool, reason: "not installed")
        }
        let result: Subprocess.Result
        do { result = try Subprocess.run(path, arguments) } catch {
            throw FibfastError.netfilterUnreadable(tool: tool, reason: "\(error)")
        }
        let command = ([tool] + arguments).joined(separator: " ")
        if result.timedOut {
            throw FibfastError.netfilterUnreadable(
                tool: command, reason: "no answer within \(Subprocess.defaultTimeout.components.seconds) s, stopped")
        }
        guard result.status == 0 else {
            let message = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw FibfastError.netfilterUnreadable(tool: command, reason: message)
        }
        return result.stdout
    }
}
