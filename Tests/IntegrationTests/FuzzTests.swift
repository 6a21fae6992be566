import CFastPath
import FibfastCore
import Foundation
import XCTest

/// A seeded generator (SplitMix64): a failure names its seed, and
/// FIBFAST_FUZZ_SEED=that replays it exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Random and mutated frames through the real program with
/// BPF_PROG_TEST_RUN, inside a lab router (its routes, neighbours and
/// sysctls): the program may only pass a frame untouched or forward a
/// well-formed version of it with exactly a router's changes.
final class FuzzTests: XCTestCase {
    struct Port { var name: String; var ifindex: UInt32; var mac: [UInt8]; var peerMAC: [UInt8] }

    func testRandomAndMutatedFrames() throws {
        let lab = try Lab(self)
        let seed = ProcessInfo.processInfo.environment["FIBFAST_FUZZ_SEED"].flatMap { UInt64($0) }
            ?? UInt64.random(in: 0...UInt64.max)
        let iterations = ProcessInfo.processInfo.environment["FIBFAST_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 100_000
        var rng = SplitMix64(state: seed)
        print("fuzz seed \(seed) (replay with FIBFAST_FUZZ_SEED=\(seed)), \(iterations) frames")

        let p0 = Port(name: "p0", ifindex: try ifindex(lab, "p0"), mac: try lab.mac(.rtr, "p0"), peerMAC: try lab.mac(.src, "eth0"))
        let p1 = Port(name: "p1", ifindex: try ifindex(lab, "p1"), mac: try lab.mac(.rtr, "p1"), peerMAC: try lab.mac(.dst, "eth0"))

        var tally: [String: Int] = [:]
        try ThreadInNamespace.run(in: lab.namespace(.rtr)) {
            let program = try FastPathProgram.load()
            try program.maps.config.update(0, ff_config())
            for (slot, port) in [p0, p1].enumerated() {
                var info = ff_port_info()
                withUnsafeMutableBytes(of: &info.mac) { $0.copyBytes(from: port.mac) }
                info.flags = UInt16(FF_PORT_ENABLED | FF_PORT_XDP_TRANSMIT)
                info.slot = UInt32(slot)
                try program.maps.setPort(port.ifindex, info)
                try program.maps.ports.update(port.ifindex, port.ifindex)
            }

            let seeds = seedFrames(p0: p0, p1: p1)
            // Every seed must be forwarded unmutated, or the fuzzing below
            // would only ever exercise the pass paths.
            for (ingress, frame) in seeds {
                let run = try XDPTestRun.run(programFD: program.programFD, frame: frame, ingressIfindex: ingress.ifindex)
                XCTAssertEqual(run.action, .redirect, "seed \(RawFrames.hex(frame)) not forwarded")
            }
            for i in 0..<iterations {
                let (ingress, frame) = mutate(seeds, rng: &rng)
                let run = try XDPTestRun.run(programFD: program.programFD, frame: frame, ingressIfindex: ingress.ifindex)
                tally[run.action.description, default: 0] += 1
                if let problem = check(run, input: frame, ingress: ingress, ports: [p0, p1]) {
                    XCTFail("seed \(seed), frame #\(i) on \(ingress.name): \(problem)\n  in:  \(RawFrames.hex(frame))\n  out: \(RawFrames.hex(run.frame))")
                    return
                }
            }
        }
        print("fuzz actions: \(tally.sorted { $0.key < $1.key })")
        XCTAssertGreaterThan(tally["redirect"] ?? 0, iterations / 20, "too few mutants forwarded to test the rewrite")
        XCTAssertGreaterThan(tally["pass"] ?? 0, iterations / 4)
    }

    func ifindex(_ lab: Lab, _ name: String) throws -> UInt32 {
        let text = try lab.exec(.rtr, ["cat", "/sys/class/net/\(name)/ifindex"]).stdout
        return try XCTUnwrap(UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    /// Frames the router forwards, both ways, both families, several protocols.
    func seedFrames(p0: Port, p1: Port) -> [(Port, [UInt8])] {
        var seeds: [(Port, [UInt8])] = []
        for size in [0, 7, 100, 1000] {
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            seeds.append((p0, RawFrames.udp4(ethDst: p0.mac, ethSrc: p0.peerMAC, src: "10.1.0.2", dst: "10.2.0.2", payload: payload)))
            seeds.append((p1, RawFrames.udp4(ethDst: p1.mac, ethSrc: p1.peerMAC, src: "10.2.0.2", dst: "10.1.0.2", payload: payload)))
            seeds.append((p0, RawFrames.udp6(ethDst: p0.mac, ethSrc: p0.peerMAC, src: "fd00:1::2", dst: "fd00:2::2", payload: payload)))
            seeds.append((p1, RawFrames.udp6(ethDst: p1.mac, ethSrc: p1.peerMAC, src: "fd00:2::2", dst: "fd00:1::2", payload: payload)))
        }
        // TCP and ICMP echo: same IPv4 header, another protocol and L4 header.
        for proto: UInt8 in [6, 1] {
            var frame = RawFrames.udp4(ethDst: p0.mac, ethSrc: p0.peerMAC, src: "10.1.0.2", dst: "10.2.0.2",
                                    payload: Array(repeating: 0x55, count: 24))
            frame[23] = proto
            if proto == 1 { frame[34] = 8; frame[35] = 0 }  // echo request
            frame[24] = 0; frame[25] = 0
            frame[24...25] = RawFrames.be16(RawFrames.checksum(Array(frame[14..<34])))[...]
            seeds.append((p0, frame))
        }
        return seeds
    }

    func mutate(_ seeds: [(Port, [UInt8])], rng: inout SplitMix64) -> (Port, [UInt8]) {
        let (port, seed) = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
        var frame = seed
        switch Int.random(in: 0..<10, using: &rng) {
        case 0:
            // Pure noise, sometimes with the router's MAC up front.
            frame = (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if Bool.random(using: &rng) && frame.count >= 6 { frame.replaceSubrange(0..<6, with: port.mac) }
        case 1:
            frame = Array(frame.prefix(Int.random(in: 0...frame.count, using: &rng)))
        case 2:
            frame += (0..<Int.random(in: 1...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        case 3:
            // Edge values in the fields the program reads.
            let fields: [(Int, [UInt8])] = [
                (22, [0, 1, 2, 255]),            // IPv4 TTL / IPv6 payload length low byte
                (14, [0x45, 0x46, 0x4f, 0x44, 0x55, 0x60, 0x65]), // version / IHL
                (20, [0x20, 0x40, 0x00, 0x3f, 0xff]), // flags / fragment offset
                (21, [0x00, 0x01, 0xff, 0x40]),        // hop limit (v6) / frag offset
                (23, [0, 1, 6, 17, 58, 255]),     // protocol
                (12, [0x08, 0x86, 0x81, 0x88]),   // ethertype high byte
                (16, [0, 0x05, 0xff]),            // total length high byte
                (20, [0, 43, 44, 60, 6]),         // IPv6 next header
            ]
            let (offset, values) = fields[Int.random(in: 0..<fields.count, using: &rng)]
            if offset < frame.count { frame[offset] = values[Int.random(in: 0..<values.count, using: &rng)] }
            if Bool.random(using: &rng) { fixIPv4Checksum(&frame) }
        default:
            // Flip a few bytes, mostly in the headers.
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !frame.isEmpty {
                let limit = Bool.random(using: &rng) ? min(frame.count, 62) : frame.count
                frame[Int.random(in: 0..<limit, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            }
            if Int.random(in: 0..<3, using: &rng) != 0 { fixIPv4Checksum(&frame) }
        }
        // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header
        // (and no driver hands XDP one).
        while frame.count < 14 { frame.append(UInt8.random(in: 0...255, using: &rng)) }
        return (port, frame)
    }

    /// Mutants with a valid checksum reach the deeper checks.
    func fixIPv4Checksum(_ frame: inout [UInt8]) {
        guard frame.count >= 34, frame[12] == 0x08, frame[13] == 0x00, frame[14] >> 4 == 4 else { return }
        let length = Int(frame[14] & 0x0f) * 4
        guard length >= 20, frame.count >= 14 + length else { return }
        frame[24] = 0; frame[25] = 0
        frame[24...25] = RawFrames.be16(RawFrames.checksum(Array(frame[14..<(14 + length)])))[...]
    }

    /// nil when the verdict and output obey the program's contract.
    func check(_ run: XDPTestRun, input: [UInt8], ingress: Port, ports: [Port]) -> String? {
        switch run.action {
        case .pass:
            return run.frame == input ? nil : "passed frame was modified"
        case .redirect:
            break
        default:
            return "action \(run.action): only pass and redirect are allowed"
        }
        let out = run.frame
        guard input.count >= 34, input.starts(with: ingress.mac) else { return "forwarded a frame not addressed to the port" }
        guard let egress = ports.first(where: { Array(out[6..<12]) == $0.mac }), egress.name != ingress.name else {
            return "source MAC is not another port's"
        }
        if Array(out[0..<6]) != egress.peerMAC { return "destination MAC is not the next hop's" }
        if out[12..<14] != input[12..<14] { return "ethertype changed" }
        let ip = Array(input[14...])
        switch (input[12], input[13]) {
        case (0x08, 0x00):
            let length = Int(ip[2]) << 8 | Int(ip[3])
            guard ip[0] == 0x45 else { return "forwarded IPv4 with options or a bad version/IHL" }
            guard RawFrames.checksum(Array(ip[0..<20])) == 0 else { return "forwarded a bad header checksum" }
            guard ip[8] > 1 else { return "forwarded TTL \(ip[8])" }
            guard length >= 20, length <= ip.count else { return "forwarded a bad total length" }
            guard out.count == 14 + length else { return "output is \(out.count) bytes, IP says \(14 + length)" }
            var expected = Array(input[0..<(14 + length)])
            expected.replaceSubrange(0..<12, with: Array(out[0..<12]))
            expected[22] -= 1
            expected[24] = 0; expected[25] = 0
            expected[24...25] = RawFrames.be16(RawFrames.checksum(Array(expected[14..<34])))[...]
            return out == expected ? nil : "IPv4 rewrite differs from MACs + TTL-1 + checksum"
        case (0x86, 0xdd):
            guard ip.count >= 40, ip[0] >> 4 == 6 else { return "forwarded a bad IPv6 header" }
            let length = 40 + (Int(ip[4]) << 8 | Int(ip[5]))
            guard ip[7] > 1 else { return "forwarded hop limit \(ip[7])" }
            guard length <= ip.count else { return "forwarded a bad payload length" }
            guard out.count == 14 + length else { return "output is \(out.count) bytes, IPv6 says \(14 + length)" }
            var expected = Array(input[0..<(14 + length)])
            expected.replaceSubrange(0..<12, with: Array(out[0..<12]))
            expected[21] -= 1
            return out == expected ? nil : "IPv6 rewrite differs from MACs + hop limit-1"
        default:
            return "forwarded a non-IP frame"
        }
    }
}
