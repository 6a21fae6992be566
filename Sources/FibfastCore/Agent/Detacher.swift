import Foundation
import Glibc

/// Takes fibfast off ports, whoever attached it: a running agent (through
/// its link), one that crashed mid-way, or a fast path left pinned.
public enum Detacher {
    /// Detaches from the named ports, or from every fibfast port when none
    /// is named. Returns the ports it detached from.
    public static func detach(ports names: [String], bpffs: String = Pins.defaultBPFFS) throws -> [String] {
        try Privileges.requireInspection()
        let links = try Links.all()
        var targets: [Link] = []
        for name in names where !targets.contains(where: { $0.name == name }) {
            guard let link = links.first(where: { $0.name == name }) else { throw FibfastError.unknownPort(name) }
            targets.append(link)
        }
        if names.isEmpty { targets = links }

        var detached: [String] = []
        for link in targets {
            guard let attachment = try XDPAttachment.query(ifindex: link.ifindex),
                  try RunningFastPath.open(programID: attachment.programID, ports: []) != nil
            else { continue }
            try XDPLinks.detach(port: link.name, ifindex: link.ifindex, attachment: attachment)
            detached.append(link.name)
        }
        // A detached link stays pinned as a husk; and once no port is left,
        // neither is a reason to keep the program and maps pinned.
        if let pins = Pins.existing(bpffs: bpffs) {
            for link in targets { unlink(pins.linkPath(ifindex: link.ifindex)) }
            let left = (try? FileManager.default.contentsOfDirectory(atPath: pins.directory)) ?? []
            if !left.contains(where: { $0.hasPrefix("link-") }) { pins.removeAll() }
        }
        return detached
    }
}
