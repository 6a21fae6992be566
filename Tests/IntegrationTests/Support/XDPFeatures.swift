import Foundation

/// What the kernel under test reports of XDP, for tests whose expectations
/// differ between kernels with XDP feature flags (Linux 6.3 and later) and
/// without (Debian 12's 6.1, `make test-vm`).
extension Lab {
    /// Whether the kernel reports XDP features (its "netdev" generic netlink
    /// family, Linux 6.3 and later).
    static let kernelReportsXDPFeatures: Bool =
        (try? Command.run(["genl", "ctrl", "get", "name", "netdev"]))?.succeeded ?? true

    /// Without XDP features fibfast cannot tell that a veth whose peer runs
    /// GRO takes redirects, and leaves what is routed out of it to the
    /// kernel. The lab's hosts run GRO, so on such kernels the lab vouches for
    /// its veth ports (p0, p1, ...) as their operator would, and the tests
    /// exercise the fast path rather than that fallback.
    static func vouching(_ arguments: [String]) -> [String] {
        guard !kernelReportsXDPFeatures else { return [] }
        let ports = arguments.filter { $0.count > 1 && $0.first == "p" && $0.dropFirst().allSatisfy { $0.isNumber || $0 == "." } }
        return ports.flatMap { ["--xdp-transmit", $0] }
    }
}
