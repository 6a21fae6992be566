import XCTest

/// XDP runs before tc ingress, and a redirect leaves without the egress
/// port's qdisc and tc egress hook: where tc acts on forwarded packets,
/// fibfast refuses to attach (unless --bypass-tc), and a port on which such
/// tc appears while it runs is handed to the kernel until it goes.
final class TrafficControlTests: XCTestCase {
    /// A tc filter that drops UDP to port 7777 and lets everything else by.
    static let dropFilter = """
        #include <linux/bpf.h>
        #include <linux/if_ether.h>
        #include <linux/in.h>
        #include <linux/ip.h>
        #include <linux/udp.h>
        #include <linux/pkt_cls.h>
        #include <bpf/bpf_helpers.h>
        #include <bpf/bpf_endian.h>
        SEC("tc")
        int drop_udp_7777(struct __sk_buff *skb)
        {
            void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
            struct ethhdr *eth = data;
            struct iphdr *ip = (void *)(eth + 1);
            struct udphdr *udp = (void *)(ip + 1);
            if ((void *)(udp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
                ip->protocol != IPPROTO_UDP)
                return TC_ACT_OK;
            return udp->dest == bpf_htons(7777) ? TC_ACT_SHOT : TC_ACT_OK;
        }
        char _license[] SEC("license") = "GPL";
        """

    func addDropFilter(_ lab: Lab, on port: String) throws {
        let object = try BPFSource.compile(Self.dropFilter, name: "drop7777", test: self)
        try lab.check(lab.exec(.rtr, ["tc", "qdisc", "add", "dev", port, "clsact"]))
        try lab.check(lab.exec(.rtr, ["tc", "filter", "add", "dev", port, "ingress", "bpf", "da", "obj", object, "sec", "tc"]))
    }

    /// Datagrams to 9999 and to 7777 from src, as many of each; how many of
    /// each reach dst.
    func deliveries(_ lab: Lab, count: Int = 20) throws -> (kept: Int, dropped: Int) {
        var kept = 0
        let dropped = try lab.capture(on: .dst, count: count, proto: "udp", dport: 7777, timeout: 1) {
            kept = try lab.capture(on: .dst, count: count, proto: "udp", dport: 9999) {
                try lab.send(to: "10.2.0.2", count: count, port: 9999)
                try lab.send(to: "10.2.0.2", count: count, port: 7777)
            }.count
        }.count
        return (kept, dropped)
    }

    func testAnIngressFilterIsNamedAndRefused() throws {
        let lab = try Lab(self)
        try addDropFilter(lab, on: "p0")
        let (status, message) = try lab.attachRefused(["p0", "p1"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(message.contains("port p0: tc filter bpf on ingress (pref "), message)
        XCTAssertTrue(message.contains("--bypass-tc"), message)
        XCTAssertEqual(try lab.portsWithXDP(), [], "nothing attached")
    }

    func testAShapingQdiscIsNamedAndRefused() throws {
        let lab = try Lab(self)
        try lab.check(lab.exec(.rtr, ["tc", "qdisc", "add", "dev", "p1", "root", "tbf", "rate", "1mbit",
                                      "burst", "10k", "latency", "50ms"]))
        let (status, message) = try lab.attachRefused(["p0", "p1"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(message.contains("port p1: tc qdisc tbf (root)"), message)
        XCTAssertEqual(try lab.portsWithXDP(), [])
    }

    /// Hooks without filters and the kernel's own queueing disciplines
    /// change nothing a packet goes through.
    func testHarmlessQdiscsDoNotStopAttach() throws {
        let lab = try Lab(self)
        try lab.check(lab.exec(.rtr, ["tc", "qdisc", "add", "dev", "p0", "clsact"]))
        // pfifo_fast: this test kernel has no fq_codel; both are default root qdiscs.
        try lab.check(lab.exec(.rtr, ["tc", "qdisc", "add", "dev", "p1", "root", "pfifo_fast"]))
        let agent = try lab.attach()
        XCTAssertFalse(agent.log.contains("tc"), agent.log)
    }

    func testBypassingTcIsTheOperatorsChoice() throws {
        let lab = try Lab(self)
        try addDropFilter(lab, on: "p0")
        let agent = try lab.attach(["p0", "p1", "--bypass-tc"])
        XCTAssertTrue(agent.log.contains("bypassing tc (--bypass-tc): port p0: tc filter bpf on ingress"), agent.log)
        XCTAssertTrue(try lab.exec(.src, ["ping", "-c", "1", "-W", "2", "10.2.0.2"]).succeeded)
        let (kept, dropped) = try deliveries(lab)
        XCTAssertEqual(kept, 20)
        XCTAssertEqual(dropped, 20, "forwarded in XDP past the filter, as asked")
    }

    /// The filter appears while fibfast runs: from then on the port's
    /// traffic is the kernel's, and the filter drops exactly what it drops
    /// without fibfast. When it goes, the port comes back.
    func testAFilterAddedWhileRunningHandsThePortToTheKernel() throws {
        let lab = try Lab(self)
        let agent = try lab.attach()
        XCTAssertTrue(try lab.exec(.src, ["ping", "-c", "1", "-W", "2", "10.2.0.2"]).succeeded)
        try agent.waitForAnotherLog("port p0 stepped aside: filter bpf on ingress") {
            try addDropFilter(lab, on: "p0")
        }
        let before = try lab.stats()
        let (kept, dropped) = try deliveries(lab)
        XCTAssertEqual(kept, 20)
        XCTAssertEqual(dropped, 0, "the kernel's tc filter dropped them, as without fibfast")
        let after = try lab.stats()
        XCTAssertEqual(try after.port("p0").forwarded.packets, try before.port("p0").forwarded.packets)
        // Every frame arriving on p0 counts, the router's neighbour traffic too.
        XCTAssertGreaterThanOrEqual(try after.port("p0").passed("stepped-aside") - before.port("p0").passed("stepped-aside"), 40)

        try agent.waitForAnotherLog("port p0: no tc left that XDP would bypass: back in the fast path") {
            try lab.check(lab.exec(.rtr, ["tc", "qdisc", "del", "dev", "p0", "clsact"]))
        }
        let forwardedBefore = try lab.stats().port("p0").forwarded.packets
        let back = try deliveries(lab)
        XCTAssertEqual(back.kept, 20)
        XCTAssertEqual(back.dropped, 20)
        XCTAssertEqual(try lab.stats().port("p0").forwarded.packets - forwardedBefore, 40, "forwarded in XDP again")
    }

    /// A shaping qdisc on the egress port: what is routed out of it goes
    /// through the kernel, and so through the qdisc.
    func testAShapingQdiscAddedWhileRunningShapesForwardedTraffic() throws {
        let lab = try Lab(self)
        let agent = try lab.attach()
        XCTAssertTrue(try lab.exec(.src, ["ping", "-c", "1", "-W", "2", "10.2.0.2"]).succeeded)
        try agent.waitForAnotherLog("port p1 stepped aside: qdisc tbf (root)") {
            try lab.check(lab.exec(.rtr, ["tc", "qdisc", "add", "dev", "p1", "root", "tbf", "rate", "100mbit",
                                          "burst", "100k", "latency", "100ms"]))
        }
        let before = try lab.stats()
        let delivered = try lab.capture(on: .dst, count: 20, proto: "udp", dport: 9999) {
            try lab.send(to: "10.2.0.2", count: 20, port: 9999)
        }
        XCTAssertEqual(delivered.count, 20)
        let after = try lab.stats()
        XCTAssertGreaterThanOrEqual(try after.port("p0").passed("stepped-aside") - before.port("p0").passed("stepped-aside"), 20)
        XCTAssertEqual(try after.port("p0").forwarded.packets, try before.port("p0").forwarded.packets)
        let qdisc = try lab.check(lab.exec(.rtr, ["tc", "-s", "qdisc", "show", "dev", "p1"])).stdout
        let sent = qdisc.split(separator: "\n").first { $0.contains("Sent ") }.flatMap {
            $0.split(separator: " ").dropFirst(3).first.flatMap { Int($0) }
        }
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(sent, qdisc), 20, "the datagrams went through tbf: \(qdisc)")
        let status = try lab.check(lab.fibfast(["status"])).stdout
        XCTAssertTrue(status.contains("p1: ") && status.contains("stepped-aside"), status)
    }
}
