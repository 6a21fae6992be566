import CLibBPF
import Foundation
import Glibc

/// Where a fast path kept with --keep-on-exit lives while no agent runs:
/// its program, maps and XDP links pinned in a bpffs, one directory per
/// network namespace. The bpffs must be one every `ip netns exec` sees, so
/// not /sys/fs/bpf (which `ip netns exec` remounts empty) but one mounted in
/// the root mount namespace, by default under /run.
public struct Pins: Sendable {
    public static let defaultBPFFS = "/run/fibfast/bpffs"

    /// This network namespace's directory, e.g. /run/fibfast/bpffs/net-4026532301.
    public let directory: String

    public var programPath: String { directory + "/prog" }
    public func mapPath(_ name: String) -> String { directory + "/map-" + name }
    public func linkPath(ifindex: UInt32) -> String { directory + "/link-\(ifindex)" }

    /// The directory for this namespace under `bpffs`, without creating
    /// anything; nil when `bpffs` is not a bpffs (nothing can be pinned there).
    public static func existing(bpffs: String) -> Pins? {
        guard isBPFFS(bpffs), let namespace = networkNamespaceID() else { return nil }
        return Pins(directory: bpffs + "/net-\(namespace)")
    }

    /// Makes sure `bpffs` is a usable bpffs (mounting it when that is safe)
    /// and creates this namespace's directory, readable by root only.
    public static func prepare(bpffs: String) throws -> Pins {
        if !isBPFFS(bpffs) {
            // A mount made inside `ip netns exec` vanishes with its mount
            // namespace, taking the pins (and so the fast path) along: mount
            // only from the root mount namespace.
            guard inInitialMountNamespace else { throw FibfastError.bpffsMissing(path: bpffs, mountFailed: false) }
            try FileManager.default.createDirectory(atPath: bpffs, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            if mount("bpf", bpffs, "bpf", 0, "mode=0700") != 0 {
                throw FibfastError.bpffsMissing(path: bpffs, mountFailed: true)
            }
        }
        guard let namespace = networkNamespaceID() else {
            throw FibfastError.bpf(operation: "reading this network namespace's id", .current)
        }
        let directory = bpffs + "/net-\(namespace)"
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            let error = Errno.current
            throw FibfastError.pinFailed(path: directory, error)
        }
        // mkdir honours the umask, and the directory may predate this run.
        if chmod(directory, 0o700) != 0 { throw FibfastError.pinFailed(path: directory, .current) }
        return Pins(directory: directory)
    }

    func pin(_ fd: Int32, at path: String) throws {
        unlink(path)
        try Errno.libbpf(bpf_obj_pin(fd, path)) { FibfastError.pinFailed(path: path, $0) }
    }

    /// Opens a pinned object; nil when nothing is pinned there.
    func open(_ path: String) -> OwnedDescriptor? {
        let fd = bpf_obj_get(path)
        return fd >= 0 ? OwnedDescriptor(fd) : nil
    }

    /// Removes every pin of this namespace (the objects live on while
    /// anything else holds them).
    public func removeAll() {
        if let names = try? FileManager.default.contentsOfDirectory(atPath: directory) {
            for name in names { unlink(directory + "/" + name) }
        }
        rmdir(directory)
    }

    /// Whether a bpffs is mounted exactly at `path`, as this process's
    /// mount namespace sees it (statfs is not in Glibc's module map).
    static func isBPFFS(_ path: String) -> Bool {
        guard let table = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return false }
        let target = URL(fileURLWithPath: path).standardizedFileURL.path
        return table.split(separator: "\n").contains { line in
            // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPEROPTIONS"
            let fields = line.split(separator: " ")
            guard fields.count > 4, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { return false }
            let mountPoint = fields[4].replacingOccurrences(of: "\\040", with: " ")
            return mountPoint == target && fields[dash + 1] == "bpf"
        }
    }

    /// The inode of this process's network namespace: unique while the
    /// namespace lives, and the same from every `ip netns exec` into it.
    static func networkNamespaceID() -> UInt64? {
        var info = stat()
        guard stat("/proc/self/ns/net", &info) == 0 else { return nil }
        return UInt64(info.st_ino)
    }

    static var inInitialMountNamespace: Bool {
        var mine = stat(), initial = stat()
        guard stat("/proc/self/ns/mnt", &mine) == 0, stat("/proc/1/ns/mnt", &initial) == 0 else { return false }
        return mine.st_ino == initial.st_ino && mine.st_dev == initial.st_dev
    }
}
