import Glibc

/// Everything that can stop a fibfast command, each case naming the port or
/// setting at fault and what the operator can do about it.
public enum FibfastError: Error, Equatable, CustomStringConvertible {
    case notPrivileged(missing: [String])
    case tooFewPorts(given: Int)
    case tooManyPorts(given: Int, limit: Int)
    case duplicatePort(String)
    case unknownPort(String)
    case loopbackPort(String)
    case notEthernet(port: String, linkType: UInt32)
    case forwardingDisabled(family: AddressFamily, sysctl: String)
    case portBusy(port: String, program: String, id: UInt32)
    case portServedByAgent(port: String, pid: Int32)
    case loadRejected(Errno, log: [String])
    case attachFailed(port: String, mode: XDPMode, Errno)
    case detachFailed(port: String, Errno)
    case mapUpdate(map: String, Errno)
    /// Key and value sizes of a map that differ from fastpath_abi.h's.
    case mapLayout(map: String, found: [Int], expected: [Int])
    case sysctl(name: String, value: String)
    case netlink(operation: String, code: Int32)
    case eventsStopped(reason: String)
    case bpf(operation: String, Errno)
    case notAttached
    case notFastPathPort(String)
    case noRouteToSource(String)
    case lookupNeedsSource(port: String, family: AddressFamily)
    case lookupFamilyMismatch(source: String, destination: String)
    case metricsAddress(String)
    case metricsListen(address: String, Errno)
    case metricsNotRunning
    case netfilterRules([NetfilterRule])
    case netfilterUnreadable(tool: String, reason: String)
    case bpffsMissing(path: String, mountFailed: Bool)
    case pinFailed(path: String, Errno)
    case pinnedPortNotRequested(port: String)
    case adoptionFailed(reason: String)
    case trafficControl([TrafficControlFinding])
    case trafficControlUnreadable(reason: String)
    case notAPort(option: String, name: String)
    case kernelTooOld(running: String, minimum: String)
    case vlanPort(port: String, problem: String)
    case vlanTagsStripped(device: String)
    case vrfDevicePort(String, members: [String])
    case bondNotServable(port: String, mode: String, reason: String)
    case bondMember(port: String, bond: String)

    public var description: String {
        switch self {
        case .notPrivileged(let missing):
            return "fibfast needs root or \(missing.joined(separator: " and ")); run it with sudo"
        case .tooFewPorts(let given):
            return "a router needs at least two ports, \(given) given: fibfast attach PORT PORT..."
        case .tooManyPorts(let given, let limit):
            return "one fast path serves at most \(limit) ports, \(given) given; split them over several "
                + "`fibfast attach` (traffic between ports of different ones goes through the kernel)"
        case .duplicatePort(let name):
            return "port \(name) is named more than once"
        case .unknownPort(let name):
            return "port \(name) does not exist in this network namespace (see `ip link`)"
        case .loopbackPort(let name):
            return "port \(name) is a loopback device; fibfast forwards between Ethernet ports"
        case .notEthernet(let port, let linkType):
            return "port \(port) has no Ethernet framing (link type \(linkType)); fibfast forwards between Ethernet ports"
        case .forwardingDisabled(let family, let sysctl):
            return "\(family) forwarding is off (\(sysctl) = 0): enable it with `sysctl -w \(sysctl)=1` or pass --enable-forwarding"
        case .portBusy(let port, let program, let id):
            return "port \(port) already has XDP program \(program) (id \(id)); detach it first or pass --force to replace it"
        case .portServedByAgent(let port, let pid):
            return "port \(port) is already served by a fibfast agent (pid \(pid)); stop it or run `fibfast detach \(port)`"
        case .loadRejected(let errno, let log):
            let lines = Self.verifierExcerpt(log).joined(separator: "\n  ")
            return "the kernel refused the fast-path program: \(errno)" + (lines.isEmpty ? "" : "\n  " + lines)
                + "\nthis kernel (\(Self.kernelRelease)) or its configuration does not accept fibfast's program; "
                + "the router keeps forwarding through the kernel. Report the lines above with `uname -a`"
        case .attachFailed(let port, let mode, let errno):
            var hint = ""
            if mode == .native && errno == .notSupported {
                hint = "; the driver has no native XDP, try --mode generic"
            } else if errno == .busy {
                hint = "; another XDP program is attached, see `fibfast status`"
            } else if errno == Errno(ENODEV) || errno == Errno(ENXIO) {
                hint = "; the port vanished while fibfast was attaching (deleted or moved to another namespace)"
            }
            return "attaching to port \(port) in \(mode) mode failed: \(errno)\(hint)"
        case .detachFailed(let port, let errno):
            return "detaching from port \(port) failed: \(errno)"
        case .mapUpdate(let map, let errno):
            return "updating the fast path's \(map) map failed: \(errno)"
        case .mapLayout(let map, let found, let expected):
            return "the fast path's \(map) map has \(found[0])-byte keys and \(found[1])-byte values where this "
                + "build of fibfast expects \(expected[0]) and \(expected[1]): it comes from another build"
        case .sysctl(let name, let value):
            return "could not set \(name) to \(value) (\(Sysctl.path(name)))"
        case .netlink(let operation, let code):
            return "netlink \(operation) failed: \(Netlink.errorString(code))"
        case .eventsStopped(let reason):
            return "the netlink event reader stopped (\(reason)): the agent no longer hears the kernel's changes"
        case .bpf(let operation, let errno):
            return "\(operation) failed: \(errno)"
        case .notAttached:
            return "not attached to any port in this network namespace; start the fast path with `fibfast attach PORT PORT...`"
        case .notFastPathPort(let name):
            return "port \(name) is not a fast-path port; see `fibfast status` for the ports fibfast runs on"
        case .noRouteToSource(let source):
            return "the kernel has no route back to \(source); name the ingress port with --from"
        case .lookupNeedsSource(let port, let family):
            return "port \(port) has no \(family) address to pick a sender from; pass --source ADDRESS"
        case .lookupFamilyMismatch(let source, let destination):
            return "--source \(source) and destination \(destination) are of different address families"
        case .metricsAddress(let text):
            return "--metrics \(text) is not ADDRESS:PORT or PORT (for example 127.0.0.1:9464 or [::1]:9464)"
        case .metricsListen(let address, let errno):
            return "cannot serve metrics on \(address): \(errno); pick another port with --metrics"
        case .metricsNotRunning:
            return "the fast path is not running yet: the counters are served once every port is attached"
        case .netfilterRules(let rules):
            let list = rules.prefix(20).map { "\n  " + $0.description }.joined()
            let more = rules.count > 20 ? "\n  ... and \(rules.count - 20) more" : ""
            return "netfilter or IPsec filters or rewrites forwarded packets here, and XDP forwarding would bypass it:"
                + list + more
                + "\nremove these rules, or pass --bypass-netfilter to forward past them anyway"
        case .bpffsMissing(let path, let mountFailed):
            if mountFailed {
                return "could not mount a bpffs at \(path) for --keep-on-exit; mount one yourself: mount -t bpf -o mode=0700 bpf \(path)"
            }
            return "\(path) is not a bpffs, and fibfast runs in a private mount namespace (ip netns exec?) where a mount would vanish with it; "
                + "mount it in the root mount namespace first: mkdir -p \(path) && mount -t bpf -o mode=0700 bpf \(path), or pass --bpffs"
        case .pinFailed(let path, let errno):
            let hint = errno == Errno(EROFS) || errno == .permission || errno == Errno(EACCES)
                ? "; the bpffs is read-only or not writable by fibfast: remount it read-write or pass --bpffs" : ""
            return "pinning \(path) for --keep-on-exit failed: \(errno)\(hint)"
        case .pinnedPortNotRequested(let port):
            return "the pinned fast path in this namespace also serves port \(port); name it too, or run `fibfast detach \(port)` first"
        case .adoptionFailed(let reason):
            return "cannot adopt the pinned fast path: \(reason); run `fibfast detach` first (the kernel forwards meanwhile)"
        case .trafficControl(let findings):
            return "tc on these ports acts on forwarded packets, and XDP forwarding would bypass it:"
                + findings.map { "\n  " + $0.description }.joined()
                + "\nremove it (tc qdisc del dev PORT clsact; tc qdisc del dev PORT root), or pass --bypass-tc to forward past it anyway"
        case .trafficControlUnreadable(let reason):
            return "cannot check the ports' tc configuration that XDP forwarding would bypass (\(reason)); "
                + "pass --bypass-tc to attach without the check"
        case .vrfDevicePort(let name, let members):
            // A frame never arrives on or leaves by the VRF device itself: the
            // kernel receives and sends on its member ports.
            return "port \(name) is a VRF device; name the ports enslaved to it instead ("
                + (members.isEmpty ? "it has none yet: `ip link set PORT master \(name)`" : members.joined(separator: " "))
                + "), whose lookups fibfast makes in \(name)'s table"
        case .kernelTooOld(let running, let minimum):
            return "this kernel (\(running)) is older than fibfast needs (Linux \(minimum): managed neighbour entries); "
                + "the router keeps forwarding through the kernel"
        case .vlanPort(let port, let problem):
            return "VLAN port \(port): \(problem)"
        case .vlanTagsStripped(let device):
            return "\(device): receive VLAN offload (rx-vlan-hw-parse) is on: the NIC strips VLAN tags before XDP sees them, and tagged frames would be forwarded as untagged; turn it off (ethtool -K \(device) rxvlan off)"
        case .bondNotServable(let port, let mode, let reason):
            return "port \(port) is a bond in mode \(mode) that the fast path cannot serve as the kernel would: \(reason)"
        case .bondMember(let port, let bond):
            return "port \(port) is a slave of bond \(bond): the kernel routes its frames as the bond's; name \(bond) instead"
        case .notAPort(let option, let name):
            return "\(option) \(name): \(name) is not one of the ports named to attach"
        case .netfilterUnreadable(let tool, let reason):
            return "cannot check for netfilter rules that XDP forwarding would bypass (\(tool): \(reason)); "
                + "install nftables, or pass --bypass-netfilter to attach without the check"
        }
    }
}

extension FibfastError {
    /// The lines of a libbpf log that explain a rejection: the end of the
    /// verifier's own log (its verdict sits just before the instruction
    /// count), then libbpf's summary. A verifier log runs to thousands of
    /// lines; the operator needs the last few.
    static func verifierExcerpt(_ log: [String]) -> [String] {
        guard let begin = log.firstIndex(where: { $0.contains("BEGIN PROG LOAD LOG") }),
              let end = log[begin...].firstIndex(where: { $0.contains("END PROG LOAD LOG") })
        else { return Array(log.suffix(12)) }
        let verifier = log[(begin + 1)..<end].filter { !$0.hasPrefix("processed ") && !$0.isEmpty }
        let summary = log[..<begin].suffix(1) + log[(end + 1)...].prefix(2)
        return Array(summary.prefix(1)) + verifier.suffix(8).map { "verifier: " + $0 } + Array(summary.dropFirst())
    }

    static var kernelRelease: String { KernelVersion.running?.release ?? "unknown" }
}
