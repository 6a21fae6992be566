#!/usr/bin/python3
"""Differential corpus for fibfast: what the lab router does with each frame (stdlib only).

  difftest.py run --lab NAME [--only CASE,...]   inject the corpus from NAME-src, print JSON
  difftest.py list --lab NAME                    print the cases and their frames
  difftest.py spread --lab NAME --sinks dst,dst2  IPv6 fragments over a multipath route (JSON)

Run from the root network namespace as root. For every case the frame is written out of src's
eth0 towards the router's p0; whatever then arrives at src's eth0 (ICMP errors, ARP replies, echo
replies) and at dst's eth0 (forwarded packets, fragments) is recorded as hex, in arrival order,
until the case's barrier is back (see BARRIER). Run it once with the kernel alone and once with
fibfast attached: the two outputs must be equal.

The lab must be prepared by the caller (DifferentialTests.swift): p1 and dst's eth0 at MTU 1400
(so that 1450-byte packets exercise fragmentation and "too big"), ICMP rate limits off on the
router (else the second run would be rate-limited differently from the first), and dst dropping
all its input with nftables so the sink never answers and only the router's behaviour is seen, and p1's neighbour
resolution giving up quickly (see SLOW).

Normalisation, the only one: an IPv4 packet the router itself originates (an ICMP error, an echo
reply) carries an IP ID the kernel picks afresh every time, and a header checksum that covers it;
both are zeroed in packets whose IPv4 source is one of the router's addresses. Nothing else is
touched. Noise that belongs to no case is dropped: ARP requests (and, at the sink, all ARP) and
IPv6 neighbour discovery / MLD, which hosts send on their own schedule (neighbour probes), and
frames we sent ourselves.
"""

import argparse
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

# The lab's packet tool, beside this file.
from pkt import PACKET_OUTGOING, csum, fail_on_capture_drops, in_netns, libc, open_capture

ROUTER_V4 = {socket.inet_aton("10.1.0.1"), socket.inet_aton("10.2.0.1")}
# Behind each case go two frames marked BARRIER: a datagram the router forwards to dst and an
# echo request it answers to src. Whatever the router does with a frame at once, it does in
# order: the process stays on one CPU, so every frame it sends takes that CPU's backlog, and
# each queue from there to dst and back to src is first in, first out. So once both barriers
# are back, so is all the case caused at once, however slow the machine: no quiet period.
BARRIER = b"fibfast-difftest-barrier"
# A barrier not back after this long is an error, not the end of a case.
LONGEST = 30.0
# Answers that come from a timer rather than at once: when neighbour resolution gives up (ICMP
# host / address unreachable). The caller shortens that to ~0.2 s with the neighbour sysctls of
# p0 and p1; these cases are recorded for this long.
SLOW = {"v4-dst-no-neighbour": 1.5, "v6-dst-no-neighbour": 1.5, "v6-dst-link-local": 1.5}
# IPv4 cases start at least this far apart, as they did when a quiet period ended each one: the
# kernel answers "no route" (ip_error) from a token bucket per source address, a token a second
# and five at most (net.ipv4.route.error_cost and error_burst, global, and no ICMP rate-limit
# sysctl turns it off). A corpus run back to back would empty it at a point that depends on the
# machine's speed, and which cases get an answer with it. A floor, not a wait: slower only adds
# tokens. IPv6 has no such bucket (the lab sets net.ipv6.icmp.ratelimit to 0).
PACE = 0.2
# Whatever still arrives this long after the last case is recorded as a case of its own, so a
# late answer shows up as such instead of being credited to the first case of the next run.
AFTER = 2.0

def mac_of(ns, ifname):
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show", ifname], check=True,
                         capture_output=True, text=True).stdout
    return bytes.fromhex(json.loads(out)[0]["address"].replace(":", ""))


def a4(text):
    return socket.inet_aton(text)


def a6(text):
    return socket.inet_pton(socket.AF_INET6, text)


class Corpus:
    """Builds the frames; every case differs in its UDP source port or ICMP id, so the
    router's answers to one case can never be taken for another's."""

    def __init__(self, router_mac, src_mac):
        self.rmac, self.smac = router_mac, src_mac
        self.cases = []
        self.tag = 20000

    def next_tag(self):
        self.tag += 1
        return self.tag

    def add(self, name, frame):
        self.cases.append((name, frame))

    def eth(self, ethertype, payload, dst=None):
        return (dst or self.rmac) + self.smac + struct.pack("!H", ethertype) + payload

    def l4(self, proto, src, dst, size, v6=False, tcp_flags=0x02, icmp_type=None):
        tag = self.next_tag()
        data = (struct.pack("!I", tag) + b"fibfast-difftest" * (size // 16 + 1))[:size]
        if proto == 17:
            h = struct.pack("!HHHH", tag, 9999, 8 + len(data), 0)
        elif proto == 6:
            h = struct.pack("!HHIIBBHHH", tag, 9999, tag * 7919, 0, 5 << 4, tcp_flags, 64240, 0, 0)
        else:
            t = icmp_type if icmp_type is not None else (128 if v6 else 8)
            h = struct.pack("!BBHHH", t, 0, 0, tag, 1)
        seg = h + data
        if v6:
            pseudo = src + dst + struct.pack("!IxxxB", len(seg), proto)
        elif proto == 1:
            pseudo = b""
        else:
            pseudo = src + dst + struct.pack("!xBH", proto, len(seg))
        c = csum(pseudo + seg)
        off = {17: 6, 6: 16, 1: 2, 58: 2}[proto]
        if proto == 17 and c == 0:
            c = 0xFFFF
        return seg[:off] + struct.pack("!H", c) + seg[off + 2:]

    def ip4(self, payload, proto, src="10.1.0.2", dst="10.2.0.2", ttl=64, tos=0, frag=0x4000,
            options=b"", ident=None, bad_csum=False, tot_len=None):
        ihl = 5 + len(options) // 4
        ident = self.tag & 0xFFFF if ident is None else ident
        length = tot_len if tot_len is not None else 4 * ihl + len(payload)
        h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, length, ident, frag, ttl, proto, 0,
                        a4(src), a4(dst)) + options
        c = csum(h)
        if bad_csum:
            c ^= 0x00FF
        return h[:10] + struct.pack("!H", c) + h[12:] + payload

    def ip6(self, payload, nh, src="fd00:1::2", dst="fd00:2::2", hlim=64, plen=None):
        plen = len(payload) if plen is None else plen
        return struct.pack("!IHBB16s16s", 0x60000000, plen, nh, hlim, a6(src), a6(dst)) + payload

    def ip6_frame(self, payload, nh, **kw):
        return self.eth(0x86DD, self.ip6(payload, nh, **kw))

    def v4(self, name, proto=17, size=32, src="10.1.0.2", dst="10.2.0.2", l4src=None, l4dst=None,
           dmac=None, pad=0, **kw):
        seg = self.l4(proto, a4(l4src or src), a4(l4dst or dst), size)
        self.add(name, self.eth(0x0800, self.ip4(seg, proto, src, dst, **kw), dmac) + b"\0" * pad)

    def v6(self, name, proto=17, size=32, src="fd00:1::2", dst="fd00:2::2", dmac=None, pad=0,
           ext=b"", ext_nh=None, **kw):
        seg = self.l4(proto, a6(src), a6(dst), size, v6=True)
        body = ext + seg
        self.add(name, self.eth(0x86DD, self.ip6(body, ext_nh or proto, src, dst, **kw), dmac)
                 + b"\0" * pad)

    def v6_fragment(self, name, proto=17, offset=0, more=False, behind=None, icmp_type=None,
                    size=32, label=0, **kw):
        """A transport header (first fragments) or data (later ones) behind a Fragment header
        whose next header is PROTO, or BEHIND when another header is to follow it."""
        frag = bytes([behind if behind is not None else proto, 0]) + struct.pack(
            "!HI", offset << 3 | int(more), 0x10000 + self.tag)
        if offset == 0:
            seg = self.l4(proto, a6(kw.get("src", "fd00:1::2")), a6(kw.get("dst", "fd00:2::2")), size,
                          v6=True, icmp_type=icmp_type)
        else:
            seg = struct.pack("!I", self.next_tag()) + b"fibfast-fragment" * (size // 16 + 1)
            seg = seg[:size - size % 8]
        frame = self.eth(0x86DD, self.ip6(frag + seg, 44, **kw))
        if label:
            frame = frame[:14] + struct.pack("!I", 0x60000000 | label) + frame[18:]
        return frame


def build(router_mac, src_mac):
    c = Corpus(router_mac, src_mac)
    bcast = b"\xff" * 6
    other = bytes.fromhex("020000abcdef")

    # IPv4: what the fast path forwards.
    c.v4("v4-udp")
    c.v4("v4-tcp-syn", proto=6)
    c.v4("v4-icmp-echo", proto=1)
    c.v4("v4-udp-ttl2", ttl=2)
    c.v4("v4-udp-ttl255", ttl=255)
    c.v4("v4-udp-tos-ecn", tos=0xB9)
    c.v4("v4-udp-no-df", frag=0)
    c.v4("v4-udp-1400-df", size=1372)
    c.v4("v4-udp-padded", size=2, pad=20)
    c.v4("v4-udp-zero-payload", size=0)
    c.v4("v4-spoofed-src-behind-p1", src="10.2.0.99")
    c.v4("v4-unroutable-src", src="192.0.2.1")
    c.v4("v4-fragment-first", frag=0x2000)
    c.v4("v4-fragment-middle", frag=0x2000 | 100)
    c.v4("v4-fragment-last", frag=200)
    # IPv4: what goes to the kernel.
    c.v4("v4-udp-ttl1", ttl=1)
    c.v4("v4-udp-ttl0", ttl=0)
    c.v4("v4-tcp-ttl1", proto=6, ttl=1)
    c.v4("v4-options-nop", options=b"\x01\x01\x01\x00")
    c.v4("v4-options-router-alert", options=b"\x94\x04\x00\x00")
    c.v4("v4-options-record-route", options=b"\x07\x07\x04" + b"\0" * 4 + b"\0")
    c.v4("v4-df-over-mtu", size=1500 - 28)
    c.v4("v4-over-mtu-fragmented", size=1500 - 28, frag=0)
    c.v4("v4-bad-checksum", bad_csum=True)
    c.v4("v4-truncated", tot_len=200)
    c.v4("v4-tot-len-too-small", tot_len=19)
    c.v4("v4-echo-to-router", proto=1, dst="10.1.0.1")
    c.v4("v4-udp-to-far-router-port", dst="10.2.0.1")
    c.v4("v4-dst-no-neighbour", dst="10.2.0.77")
    c.v4("v4-dst-no-route", dst="198.51.100.1")
    c.v4("v4-dst-link-local", dst="169.254.1.1")
    c.v4("v4-dst-multicast", dst="239.1.1.1", dmac=bytes.fromhex("01005e010101"))
    c.v4("v4-dst-multicast-unicast-mac", dst="239.1.1.1")
    c.v4("v4-dst-limited-broadcast", dst="255.255.255.255", dmac=bcast)
    c.v4("v4-dst-directed-broadcast", dst="10.2.0.255")
    c.v4("v4-dst-loopback", dst="127.0.0.1")
    c.v4("v4-dst-zero", dst="0.0.0.1")
    c.v4("v4-src-loopback", src="127.0.0.1")
    c.v4("v4-src-zero", src="0.0.0.0")
    c.v4("v4-src-multicast", src="224.0.0.5")
    c.v4("v4-src-broadcast", src="255.255.255.255")
    c.v4("v4-src-routers-own", src="10.2.0.1")
    c.v4("v4-src-link-local", src="169.254.7.7")
    c.v4("v4-l2-broadcast", dmac=bcast)
    c.v4("v4-l2-other-host", dmac=other)
    c.add("v4-icmp-error-in-transit", c.eth(0x0800, c.ip4(
        c.l4(1, b"", b"", 28, icmp_type=3), 1)))
    c.add("v4-version-6-in-v4-ethertype", c.eth(0x0800, c.ip6(c.l4(17, a6("fd00:1::2"), a6("fd00:2::2"), 16, v6=True), 17)))
    c.add("v4-ihl-4", c.eth(0x0800, bytes([0x44]) + c.ip4(c.l4(17, a4("10.1.0.2"), a4("10.2.0.2"), 16), 17)[1:]))

    # IPv6: forwarded.
    c.v6("v6-udp")
    c.v6("v6-tcp-syn", proto=6)
    c.v6("v6-icmp-echo", proto=58)
    c.v6("v6-udp-hlim2", hlim=2)
    c.v6("v6-udp-hlim255", hlim=255)
    c.v6("v6-udp-1400", size=1400 - 48)
    c.v6("v6-udp-padded", size=2, pad=20)
    c.v6("v6-src-routers-own", src="fd00:2::1")
    c.v6("v6-spoofed-src-behind-p1", src="fd00:2::99")
    # A lone Fragment header: ip6_forward forwards every kind unchanged.
    c.add("v6-fragment-first", c.v6_fragment("", more=True))
    c.add("v6-fragment-middle", c.v6_fragment("", offset=100, more=True))
    c.add("v6-fragment-last", c.v6_fragment("", offset=200))
    c.add("v6-fragment-atomic", c.v6_fragment(""))
    c.add("v6-fragment-tcp-first", c.v6_fragment("", proto=6, more=True))
    c.add("v6-fragment-icmp-echo", c.v6_fragment("", proto=58, more=True))
    c.add("v6-fragment-icmp-error", c.v6_fragment("", proto=58, icmp_type=1, size=48))
    c.add("v6-fragment-flow-label", c.v6_fragment("", offset=3, more=True, label=0x12345))
    c.add("v6-fragment-1400", c.v6_fragment("", more=True, size=1400 - 56))
    # IPv6: to the kernel.
    c.v6("v6-udp-hlim1", hlim=1)
    c.v6("v6-udp-hlim0", hlim=0)
    c.v6("v6-too-big", size=1500 - 48)
    c.v6("v6-truncated", plen=400)
    hbh_ra = bytes([17, 0, 5, 2, 0, 0, 1, 0])   # hop-by-hop: router alert (MLD), PadN
    c.v6("v6-hop-by-hop", ext=hbh_ra, ext_nh=0)
    dstopt = bytes([17, 0, 1, 4, 0, 0, 0, 0])    # destination options: PadN
    c.v6("v6-destination-options", ext=dstopt, ext_nh=60)
    c.add("v6-fragment-then-destination-options", c.ip6_frame(
        bytes([60, 0, 0, 1]) + struct.pack("!I", 0x1234) + dstopt
        + c.l4(17, a6("fd00:1::2"), a6("fd00:2::2"), 32, v6=True), 44))
    c.add("v6-fragment-nested", c.v6_fragment("", behind=44, offset=10))
    c.add("v6-fragment-hlim1", c.v6_fragment("", more=True, hlim=1))
    c.add("v6-fragment-middle-hlim0", c.v6_fragment("", offset=100, more=True, hlim=0))
    c.add("v6-fragment-too-big", c.v6_fragment("", more=True, size=1500 - 56))
    c.add("v6-fragment-no-route", c.v6_fragment("", offset=7, dst="2001:db8::1"))
    c.add("v6-fragment-header-cut-short", c.ip6_frame(bytes([17, 0, 0, 0]), 44))
    rh = bytes([17, 2, 0, 0, 0, 0, 0, 0]) + a6("fd00:2::2")  # type 0 routing header, 0 left
    c.v6("v6-routing-header", ext=rh, ext_nh=43)
    c.v6("v6-echo-to-router", proto=58, dst="fd00:1::1")
    c.v6("v6-dst-no-neighbour", dst="fd00:2::77")
    c.v6("v6-dst-no-route", dst="2001:db8::1")
    c.v6("v6-src-link-local", src="fe80::1234")
    c.v6("v6-dst-link-local", dst="fe80::1")
    c.v6("v6-dst-multicast", dst="ff0e::1", dmac=bytes.fromhex("333300000001"))
    c.v6("v6-dst-multicast-unicast-mac", dst="ff0e::1")
    c.v6("v6-src-multicast", src="ff0e::1")
    c.v6("v6-src-loopback", src="::1")
    c.v6("v6-dst-loopback", dst="::1")
    c.v6("v6-src-v4-mapped", src="::ffff:10.1.0.2")
    c.v6("v6-src-unspecified", src="::")
    c.v6("v6-l2-other-host", dmac=other)
    c.add("v6-icmp-error-in-transit", c.eth(0x86DD, c.ip6(
        c.l4(58, a6("fd00:1::2"), a6("fd00:2::2"), 48, v6=True, icmp_type=1), 58)))

    # Not IP, or not enough of it.
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, src_mac, a4("10.1.0.2"),
                      b"\0" * 6, a4("10.1.0.1"))
    c.add("arp-request-for-router", c.eth(0x0806, arp, bcast))
    c.add("ethertype-unknown", c.eth(0x88B5, b"fibfast" * 8))
    c.add("vlan-tagged", c.eth(0x8100, struct.pack("!HH", 100, 0x0800)
                                + c.ip4(c.l4(17, a4("10.1.0.2"), a4("10.2.0.2"), 16), 17)))
    c.add("eth-header-only-ipv4", c.eth(0x0800, b""))
    c.add("eth-header-only-ipv6", c.eth(0x86DD, b""))
    c.add("ipv4-10-bytes", c.eth(0x0800, c.ip4(b"", 17)[:10]))
    c.add("ipv6-30-bytes", c.eth(0x86DD, c.ip6(b"", 17)[:30]))
    return c.cases


def barriers(router_mac, src_mac):
    c = Corpus(router_mac, src_mac)
    udp = struct.pack("!HHHH", 19999, 9, 8 + len(BARRIER), 0) + BARRIER
    c4 = csum(a4("10.1.0.2") + a4("10.2.0.2") + struct.pack("!xBH", 17, len(udp)) + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c4) + udp[8:]
    echo = struct.pack("!BBHHH", 8, 0, 0, 19999, 1) + BARRIER
    echo = echo[:2] + struct.pack("!H", csum(echo)) + echo[4:]
    return [c.eth(0x0800, c.ip4(udp, 17, dst="10.2.0.2")), c.eth(0x0800, c.ip4(echo, 1, dst="10.1.0.1"))]


def is_noise(frame, at_sink):
    if len(frame) < 14:
        return False
    et = struct.unpack_from("!H", frame, 12)[0]
    if et == 0x0806 and (at_sink or (len(frame) >= 22 and struct.unpack_from("!H", frame, 20)[0] == 1)):
        # Neighbour probes and their answers, on the hosts' own schedule. The one ARP
        # exchange that belongs to a case is the router's reply to src's request.
        return True
    if et == 0x86DD and len(frame) >= 55:
        nh, off = frame[20], 54
        if nh == 0 and len(frame) >= 62:   # MLD reports come behind a hop-by-hop header
            nh, off = frame[54], 54 + (frame[55] + 1) * 8
        if nh == 58 and len(frame) > off and frame[off] in (130, 131, 132, 133, 134, 135, 136, 143):
            return True
    return False


def normalise(frame):
    if len(frame) >= 34 and frame[12:14] == b"\x08\x00" and frame[26:30] in ROUTER_V4:
        frame = frame[:18] + b"\0\0" + frame[20:24] + b"\0\0" + frame[26:]
    return frame


def drain(s):
    while True:
        try:
            s.recvfrom(1 << 17)
        except BlockingIOError:
            return


def cmd_run(a):
    rmac, smac = mac_of(f"{a.lab}-rtr", "p0"), mac_of(f"{a.lab}-src", "eth0")
    cases = build(rmac, smac)
    if a.only:
        wanted = set(a.only.split(","))
        cases = [c for c in cases if c[0] in wanted]

    sink = in_netns(f"{a.lab}-dst", lambda: open_capture("eth0"))
    source = in_netns(f"{a.lab}-src", lambda: open_capture("eth0"))
    tx = in_netns(f"{a.lab}-src", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
    tx.bind(("eth0", 0))
    for s in (sink, source):
        s.setblocking(False)

    # One CPU for every frame sent, so that they all take the same backlog (see BARRIER).
    os.sched_setaffinity(0, {libc.sched_getcpu()})
    behind = barriers(rmac, smac)
    result = {}
    for name, frame in cases:
        drain(sink)
        drain(source)
        seen = {"dst": [], "src": []}
        back = {"dst": False, "src": False}
        tx.send(frame)
        for b in behind:
            tx.send(b)
        start = time.monotonic()
        least = SLOW.get(name, PACE if frame[12:14] == b"\x08\x00" else 0)  # recorded at least this long
        while not (all(back.values()) and time.monotonic() - start >= least):
            left = start + max(LONGEST, least) - time.monotonic()
            if left <= 0:
                sys.exit(f"difftest.py: {name}: the barrier did not come back in {LONGEST:.0f} s "
                         f"(back: {back})")
            timeout = max(0, min(left, start + least - time.monotonic())) if all(back.values()) else left
            for s in select.select([sink, source], [], [], timeout)[0]:
                side = "dst" if s is sink else "src"
                while True:
                    try:
                        data, addr = s.recvfrom(1 << 17)
                    except BlockingIOError:
                        break
                    if addr[2] == PACKET_OUTGOING or is_noise(data, s is sink):
                        continue
                    if BARRIER in data:
                        back[side] = True
                        continue
                    seen[side].append(normalise(data).hex())
        result[name] = {"sent": frame.hex(), **seen}
    late = {"dst": [], "src": []}
    deadline = time.monotonic() + AFTER
    while time.monotonic() < deadline:
        for s in select.select([sink, source], [], [], 0.1)[0]:
            while True:
                try:
                    data, addr = s.recvfrom(1 << 17)
                except BlockingIOError:
                    break
                if addr[2] != PACKET_OUTGOING and not is_noise(data, s is sink):
                    late["dst" if s is sink else "src"].append(normalise(data).hex())
    result["(after the corpus)"] = {"sent": "", **late}
    fail_on_capture_drops({sink: "dst", source: "src"}, "difftest.py")
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    print()


def spread_frames(router_mac, src_mac, count):
    """IPv6 fragments of COUNT flows to fd00:9::/64, every kind (first, middle, last, atomic;
    UDP, TCP, ICMPv6 echo and error; with and without a flow label), for a multipath route
    there: which next hop each takes is the multipath hash's choice. Named by their
    fragment identification, which the router does not touch."""
    c = Corpus(router_mac, src_mac)
    kinds = [dict(more=True), dict(offset=100, more=True), dict(offset=200), dict(),
             dict(proto=6, more=True), dict(proto=58, more=True), dict(proto=58, icmp_type=1, size=48)]
    frames = {}
    for i in range(count):
        kw = dict(kinds[i % len(kinds)])
        frame = c.v6_fragment("", dst=f"fd00:9::{i // len(kinds) + 1:x}", src="fd00:1::2",
                              label=(i * 40503) & 0xFFFFF if i % 3 == 0 else 0, **kw)
        ident = 0x20000000 + i
        frame = frame[:58] + struct.pack("!I", ident) + frame[62:]
        frames[f"{ident:08x}"] = frame
    return frames


def cmd_spread(a):
    rmac, smac = mac_of(f"{a.lab}-rtr", "p0"), mac_of(f"{a.lab}-src", "eth0")
    frames = spread_frames(rmac, smac, a.count)
    sinks = {in_netns(f"{a.lab}-{host}", lambda: open_capture("eth0")): host for host in a.sinks.split(",")}
    tx = in_netns(f"{a.lab}-src", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
    tx.bind(("eth0", 0))
    for s in sinks:
        s.setblocking(False)
    for frame in frames.values():
        tx.send(frame)
    seen = {}
    deadline = time.monotonic() + LONGEST
    while len(seen) < len(frames) and time.monotonic() < deadline:
        for s in select.select(list(sinks), [], [], max(0, deadline - time.monotonic()))[0]:
            while True:
                try:
                    data, addr = s.recvfrom(1 << 17)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING or len(data) < 62 or data[12:14] != b"\x86\xdd" or data[20] != 44:
                    continue
                name = data[58:62].hex()
                if name in frames:
                    seen.setdefault(name, []).append({"sink": sinks[s], "hex": data.hex()})
    fail_on_capture_drops(sinks, "difftest.py")
    json.dump({name: seen.get(name, []) for name in frames}, sys.stdout, indent=1, sort_keys=True)
    print()


def cmd_list(a):
    rmac, smac = mac_of(f"{a.lab}-rtr", "p0"), mac_of(f"{a.lab}-src", "eth0")
    for name, frame in build(rmac, smac):
        print(f"{name}\t{len(frame)}\t{frame.hex()}")


def main():
    ap = argparse.ArgumentParser(prog="difftest.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run")
    p.add_argument("--lab", required=True)
    p.add_argument("--only", help="comma-separated case names")
    p = sub.add_parser("list")
    p.add_argument("--lab", required=True)
    p = sub.add_parser("spread", help="IPv6 fragments over a multipath route: which sink gets each")
    p.add_argument("--lab", required=True)
    p.add_argument("--sinks", required=True, help="comma-separated hosts, e.g. dst,dst2")
    p.add_argument("--count", type=int, default=140)
    a = ap.parse_args()
    {"run": cmd_run, "list": cmd_list, "spread": cmd_spread}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
