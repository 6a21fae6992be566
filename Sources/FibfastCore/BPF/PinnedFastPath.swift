import CLibBPF
import Foundation
import Glibc

/// A fast path left pinned by an agent that ran with --keep-on-exit.
struct PinnedFastPath {
    var pins: Pins
    /// Links still attached, by ifindex, for the ports asked for.
    var links: [UInt32: OwnedDescriptor]
    var maps: [String: OwnedDescriptor]

    var mapDescriptors: [String: Int32] { maps.mapValues(\.rawValue) }

    /// What is pinned for this namespace and still attached. Throws when the
    /// pinned fast path serves a port the operator did not name: adopting
    /// only part of it would leave that port running a program nobody owns.
    static func find(pins: Pins, ports: [Link], allLinks: [Link]) throws -> PinnedFastPath? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: pins.directory)) ?? []
        var links: [UInt32: OwnedDescriptor] = [:]
        for name in names where name.hasPrefix("link-") {
            guard let ifindex = UInt32(name.dropFirst("link-".count)),
                  let link = pins.open(pins.directory + "/" + name)
            else { continue }
            guard let info = BPFLinks.info(fd: link.rawValue),
                  info.type == BPF_LINK_TYPE_XDP.rawValue, info.xdp.ifindex == ifindex,
                  let attached = try? XDPAttachment.query(ifindex: ifindex), attached.programID == info.prog_id
            else {
                // Detached meanwhile (port gone, `ip link set xdp off`): a stale pin.
                unlink(pins.directory + "/" + name)
                continue
            }
            guard ports.contains(where: { $0.ifindex == ifindex }) else {
                let port = allLinks.first { $0.ifindex == ifindex }?.name ?? "ifindex \(ifindex)"
                throw FibfastError.pinnedPortNotRequested(port: port)
            }
            links[ifindex] = link
        }
        guard !links.isEmpty else { return nil }
        var maps: [String: OwnedDescriptor] = [:]
        for name in FastPathMaps.pinned {
            guard let map = pins.open(pins.mapPath(name)) else {
                throw FibfastError.adoptionFailed(reason: "its map \(name) is not pinned in \(pins.directory)")
            }
            maps[name] = map
        }
        return PinnedFastPath(pins: pins, links: links, maps: maps)
    }
}
