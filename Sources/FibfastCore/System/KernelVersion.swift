import Glibc

/// The running kernel's version, as `uname -r` gives it ("6.1.0-28-amd64").
public struct KernelVersion: Sendable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var release: String

    /// The oldest kernel fibfast runs on: managed neighbour entries (5.16)
    /// keep next hops resolved for traffic the kernel never sees; XDP links
    /// (5.9), DEVMAP_HASH (5.4) and BTF tracepoints (5.5) come before.
    public static let minimum = KernelVersion(major: 5, minor: 16, release: "5.16")

    public init(major: Int, minor: Int, release: String) {
        self.major = major
        self.minor = minor
        self.release = release
    }

    /// nil when the release does not start with MAJOR.MINOR.
    public init?(release: String) {
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard numbers.count == 2, release.first?.isNumber == true else { return nil }
        self.init(major: numbers[0], minor: numbers[1], release: release)
    }

    public static var running: KernelVersion? {
        var names = utsname()
        uname(&names)
        return KernelVersion(release: withUnsafeBytes(of: names.release) {
            String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
        })
    }

    public static func < (a: KernelVersion, b: KernelVersion) -> Bool {
        (a.major, a.minor) < (b.major, b.minor)
    }

    public static func == (a: KernelVersion, b: KernelVersion) -> Bool {
        (a.major, a.minor) == (b.major, b.minor)
    }

    public var description: String { release }
}
