#!/usr/bin/python3
"""Packet helper for fibfast lab tests (stdlib only; run inside a namespace with ip netns exec).

  pkt.py send --dst ADDR [--ttl N] [--count N] [--port N] [--ports N] [--sport N] [--size N]
              [--proto udp|tcp] [--flows N] [--interval S]
  pkt.py capture --iface IF[,IF...] [--netns NS ...] --count N --timeout S [--done-on-stdin]
                 [--dst ADDR] [--proto P] [--dport N] [--icmp-type N] [--family 4|6]
  pkt.py frame --iface IF --hex HEX [--count N]
  pkt.py sink --port N --count N --timeout S [--done-on-stdin]

send: --size is the L4 payload in bytes. udp goes through an ordinary socket; tcp sends bare
SYNs from a raw socket (nothing listens for the answer, the kernel of the sender ignores it).
--flows N (udp) spreads the datagrams round-robin over N source ports, from --sport on (or from
ports the system picks), and --ports N over N destination ports, from --port on, so an ECMP
hash on ports sees many flows from one process. --interval S paces datagrams S seconds apart (no
drift; after a stall of the sender it resumes the pace, no burst); each carries its sequence
number, 0 to count-1, in its first 4 payload bytes. A paced send stops early on SIGINT, and prints {"sent": N} when it ends.
sink: receives --count sequence-numbered datagrams on UDP port --port (until the last one or
--timeout) and prints one JSON object: how many arrived, how many are missing, and the longest
silence between two arrivals (when it began and ended, as Unix time, and the sequence numbers
either side), which under a steady --interval stream is the length of an outage.
capture: prints "ready" once bound, then one JSON line per matching IPv4/IPv6 packet received;
exits 0 after --count matches or at --timeout, so callers count lines. --netns NS (repeatable,
run from the root namespace) captures on IF in each of these namespaces at once, and tags each
line with "netns".
--done-on-stdin (capture, sink): the caller closes stdin once it has sent everything, and only
then does --timeout start, so a slow sender cannot use up the time its packets have to arrive.
A number written on stdin before it closes replaces --count (for a stream stopped early).
Either way, whatever has already arrived when the time is up is still read and counted.
"""

import argparse
import ctypes
import ipaddress
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_STATISTICS = 6
SO_RCVBUFFORCE = 33  # not in Python's socket module
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
VLAN_TPIDS = (0x8100, 0x88A8)
PACKET_OUTGOING = 4

CLONE_NEWNET = 0x40000000

PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}
PROTO_NUMS = {v: k for k, v in PROTO_NAMES.items()}
# IPv6 headers to step over to reach the transport header (fragment handled apart).
IPV6_EXT = {0, 43, 60}
IPV6_FRAG = 44


def die(msg):
    print(f"pkt.py: {msg}", file=sys.stderr)
    sys.exit(1)


def family_of(addr):
    try:
        return ipaddress.ip_address(addr).version
    except ValueError:
        die(f"not an IP address: {addr}")


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def payload(seq, size):
    # A sequence number up front lets a test tell datagrams apart in a hex dump.
    return (struct.pack("!I", seq) + b"fibfast-lab" * (size // 11 + 1))[:size]


def sendto_retry(sock, data, addr):
    # A burst can fill the veth's queue; ENOBUFS means "later", not "lost". The queue drains
    # with no event a socket can wait on, so retry until a deadline that only catches a queue
    # that never drains, however slow the machine.
    deadline = time.monotonic() + 30
    while True:
        try:
            return sock.sendto(data, addr)
        except OSError as e:
            if e.errno not in (105, 11) or time.monotonic() > deadline:  # ENOBUFS, EAGAIN
                raise
            time.sleep(0.001)


def source_for(fam, dst):
    # connect() on a UDP socket asks the routing table which source the kernel will use.
    s = socket.socket(socket.AF_INET if fam == 4 else socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.connect((dst, 9))
        return s.getsockname()[0]
    finally:
        s.close()


def set_ttl(sock, fam, ttl):
    if ttl is None:
        return
    if fam == 4:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)


def cmd_send(a):
    fam = family_of(a.dsts[0])
    af = socket.AF_INET if fam == 4 else socket.AF_INET6
    if a.proto == "udp":
        socks = []
        for f in range(a.flows):
            s = socket.socket(af, socket.SOCK_DGRAM)
            set_ttl(s, fam, a.ttl)
            if a.sport:
                s.bind(("0.0.0.0" if fam == 4 else "::", a.sport + f))
            socks.append(s)
        # --hosts: consecutive addresses from --dst on, a destination each in turn; or the
        # addresses --dst lists.
        if len(a.dsts) > 1:
            dsts = a.dsts
        else:
            first = ipaddress.ip_address(a.dst)
            dsts = [str(first + h) for h in range(a.hosts)]
        stop = []
        if a.interval:
            # A flag, not an exception: the datagram being sent when the signal comes is counted.
            signal.signal(signal.SIGINT, lambda *_: stop.append(True))
        start = time.monotonic()
        sent = 0
        for i in range(a.count):
            if a.interval:
                delay = start + i * a.interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -a.interval:
                    # Late by more than a step (the sender was not scheduled): resume the pace
                    # from now rather than catch up in a burst, which overflows queues on the way
                    # whoever forwards. The silence shows at the sink as a gap, as an outage does.
                    start -= delay
                if stop:
                    break
            # sendto, not connect: an unconnected socket does not turn ICMP errors into send failures.
            sendto_retry(socks[i % a.flows], payload(i, a.size), (dsts[i % len(dsts)], a.port + i % a.ports))
            sent += 1
        if a.interval:
            print(json.dumps({"sent": sent}), flush=True)
        return
    # tcp: the kernel adds the IP header (no IP_HDRINCL), we supply a SYN segment.
    s = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_TCP)
    set_ttl(s, fam, a.ttl)
    if fam == 6:
        # Raw IPv6 sockets compute no L4 checksum unless told where it lives (offset 16 in TCP).
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_CHECKSUM, 16)
    src = source_for(fam, a.dst)
    sport = a.sport or random.randint(32768, 60999)
    for i in range(a.count):
        data = payload(i, a.size)
        seq = random.getrandbits(32)
        hdr = struct.pack("!HHIIBBHHH", sport, a.port + i % a.ports, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
        if fam == 4:
            pseudo = struct.pack("!4s4sBBH", socket.inet_aton(src), socket.inet_aton(a.dst),
                                 0, 6, len(hdr) + len(data))
            c = csum(pseudo + hdr + data)
            hdr = hdr[:16] + struct.pack("!H", c) + hdr[18:]
        sendto_retry(s, hdr + data, (a.dst, 0))


class Wait:
    """How long a capture or sink waits: --timeout from its start, or with --done-on-stdin,
    from when the caller closes stdin to say that everything was sent. Until then there is no
    deadline: however long the sending takes, its packets are not short of time to arrive."""

    def __init__(self, a):
        self.count = a.count
        self.timeout = a.timeout
        self.said = b""
        self.end = None if a.done_on_stdin else time.monotonic() + a.timeout

    def fds(self):
        return [sys.stdin] if self.end is None else []

    def left(self):
        return None if self.end is None else max(0.0, self.end - time.monotonic())

    def read_stdin(self):
        data = os.read(sys.stdin.fileno(), 4096)
        if data:
            self.said += data
            return
        words = self.said.split()
        if words:
            self.count = int(words[-1])
        self.end = time.monotonic() + self.timeout

    def until_done(self, socks, take, done):
        """Calls take(sock) for what arrives until done() or the time is up; then reads what is
        already queued, which arrived in time even if this process did not get the CPU to."""
        while not done():
            left = self.left()
            if left == 0:
                break
            ready = select.select(socks + self.fds(), [], [], left)[0]
            if sys.stdin in ready:
                self.read_stdin()
            for s in ready:
                if s is not sys.stdin and not done():
                    take(s)
        for s in socks:
            s.setblocking(False)
            while not done():
                try:
                    take(s)
                except BlockingIOError:
                    break


def cmd_sink(a):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    receive_buffer(s, 4 << 20)
    s.bind(("::", a.port))
    print("ready", flush=True)
    seen = set()
    arrivals = []  # (unix time, seq) in arrival order
    wait = Wait(a)

    def take(sock):
        data = sock.recv(65536)
        if len(data) >= 4:
            seq = struct.unpack_from("!I", data)[0]
            seen.add(seq)
            arrivals.append((time.time(), seq))

    # Done once the last one is in: a stream arrives in order, so what is missing then is lost.
    wait.until_done([s], take, lambda: wait.count - 1 in seen)
    count = wait.count
    r = {"received": len(seen), "missing": count - len(seen & set(range(count))),
         "max_gap_ms": None, "gap_start": None, "gap_end": None,
         "seq_before_gap": None, "seq_after_gap": None}
    for (t0, s0), (t1, s1) in zip(arrivals, arrivals[1:]):
        gap = (t1 - t0) * 1000
        if r["max_gap_ms"] is None or gap > r["max_gap_ms"]:
            r.update(max_gap_ms=round(gap, 3), gap_start=t0, gap_end=t1,
                     seq_before_gap=s0, seq_after_gap=s1)
    print(json.dumps(r), flush=True)


def mac(b):
    return ":".join(f"{x:02x}" for x in b)


def parse(frame):
    """Returns a dict for an IPv4/IPv6 frame, None for anything else (ARP, truncated, ...)."""
    if len(frame) < 14:
        return None
    etype = struct.unpack_from("!H", frame, 12)[0]
    off = 14
    while etype in VLAN_TPIDS and len(frame) >= off + 4:
        etype = struct.unpack_from("!H", frame, off + 2)[0]
        off += 4
    r = {"family": None, "src": None, "dst": None, "ttl": None, "proto": None,
         "len": len(frame), "sport": None, "dport": None, "icmp_type": None,
         "icmp_code": None, "eth_src": mac(frame[6:12]), "eth_dst": mac(frame[0:6])}
    l4 = None
    first_frag = True
    if etype == ETH_P_IP:
        if len(frame) < off + 20:
            return None
        vihl, _, _, _, frag, ttl, proto = struct.unpack_from("!BBHHHBB", frame, off)
        ihl = (vihl & 0xF) * 4
        if vihl >> 4 != 4 or ihl < 20:
            return None
        r.update(family=4, ttl=ttl,
                 src=socket.inet_ntop(socket.AF_INET, frame[off + 12:off + 16]),
                 dst=socket.inet_ntop(socket.AF_INET, frame[off + 16:off + 20]))
        first_frag = (frag & 0x1FFF) == 0
        l4 = off + ihl
    elif etype == ETH_P_IPV6:
        if len(frame) < off + 40:
            return None
        proto, hlim = struct.unpack_from("!BB", frame, off + 6)
        r.update(family=6, ttl=hlim,
                 src=socket.inet_ntop(socket.AF_INET6, frame[off + 8:off + 24]),
                 dst=socket.inet_ntop(socket.AF_INET6, frame[off + 24:off + 40]))
        l4 = off + 40
        while len(frame) >= l4 + 8:
            if proto in IPV6_EXT:
                proto, hlen = frame[l4], (frame[l4 + 1] + 1) * 8
                l4 += hlen
            elif proto == IPV6_FRAG:
                first_frag = (struct.unpack_from("!H", frame, l4 + 2)[0] & 0xFFF8) == 0
                proto = frame[l4]
                l4 += 8
            else:
                break
    else:
        return None
    r["proto"] = PROTO_NAMES.get(proto, proto)
    if first_frag:
        if proto in (6, 17) and len(frame) >= l4 + 4:
            r["sport"], r["dport"] = struct.unpack_from("!HH", frame, l4)
        elif proto in (1, 58) and len(frame) >= l4 + 2:
            r["icmp_type"], r["icmp_code"] = frame[l4], frame[l4 + 1]
    return r


def proto_arg(p):
    if p is None:
        return None
    if p.isdigit():
        return PROTO_NAMES.get(int(p), int(p))
    if p not in PROTO_NUMS:
        raise argparse.ArgumentTypeError(f"unknown protocol {p}")
    return p


libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def in_netns(name, make):
    """Returns make()'s socket, made in network namespace NAME: a socket stays in the
    namespace it was created in, whatever the process does next."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        setns(f"/run/netns/{name}")
        return make()
    finally:
        if libc.setns(home, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
        os.close(home)


def receive_buffer(s, size):
    """SO_RCVBUF is capped by net.core.rmem_max, 208 KiB on a stock kernel (the VM's): fewer
    than 100 frames that XDP redirected into a veth (each charged a whole page), so a capture
    read late by a busy machine lost some. Root may go past the cap."""
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except PermissionError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def capture_drops(s):
    """Frames the kernel dropped at this capture socket since the last call (tpacket_stats):
    a frame lost there was never lost by the router, and must not pass for it."""
    _, drops = struct.unpack("II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    return drops


def fail_on_capture_drops(captures, tool):
    """captures: socket -> where it captures. What a capture dropped would read as the router's
    loss, so the run has no outcome."""
    dropped = {where: n for s, where in captures.items() if (n := capture_drops(s))}
    if dropped:
        sys.exit(f"{tool}: the capture dropped frames, the outcome is unknown: {dropped}")


def open_capture(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    # Protocol 0 at creation and ETH_P_ALL at bind: no frame from another interface slips in between.
    s.bind((iface, ETH_P_ALL))
    receive_buffer(s, 32 << 20)
    # The kernel takes a received frame's VLAN tag out of the data before taps see it; auxdata
    # hands it back (tpacket_auxdata).
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    return s


def vlan_of(ancillary):
    """The tag the kernel took off the frame, from PACKET_AUXDATA: (tci, tpid) or None."""
    for level, kind, data in ancillary:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= 20:
            status, _, _, _, _, tci, tpid = struct.unpack_from("=IIIHHHH", data)
            if status & TP_STATUS_VLAN_VALID:
                return tci, (tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100)
    return None


def cmd_capture(a):
    try:
        ifaces = a.iface.split(",")
        if a.netns:
            where = {in_netns(ns, lambda: open_capture(i)): ns for ns in a.netns for i in ifaces}
        else:
            where = {open_capture(i): None for i in ifaces}
    except OSError as e:
        die(f"cannot capture on {a.iface}: {e.strerror}")
    print("ready", flush=True)
    wait = Wait(a)
    got = []

    def take(s):
        # GRO on the end hosts can merge TCP segments up to 64 KiB.
        frame, ancillary, _, addr = s.recvmsg(1 << 17, socket.CMSG_SPACE(64))
        if addr[2] == PACKET_OUTGOING:
            return
        tag = vlan_of(ancillary)
        try:
            r = parse(frame)
        except (struct.error, IndexError, ValueError):
            return
        if r is None:
            return
        if a.family and r["family"] != a.family:
            return
        if a.dst is not None and r["dst"] != a.dst:
            return
        if a.proto is not None and r["proto"] != a.proto:
            return
        if a.dport is not None and r["dport"] != a.dport:
            return
        if a.icmp_type is not None and r["icmp_type"] != a.icmp_type:
            return
        if tag is not None:
            r["vlan_tci"], r["vlan_tpid"] = tag
        r["hex"] = frame.hex()
        if where[s] is not None:
            r["netns"] = where[s]
        r["iface"] = addr[0]
        print(json.dumps(r), flush=True)
        got.append(r)

    wait.until_done(list(where), take, lambda: len(got) >= wait.count)


def cmd_frame(a):
    try:
        frames = [bytes.fromhex("".join(c for c in h if c not in " :.-\n\t")) for h in a.hex]
    except ValueError:
        die("--hex is not a hex string")
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        s.bind((a.iface, 0))
        for _ in range(a.count):
            for data in frames:
                s.send(data)
    except OSError as e:
        die(f"cannot send on {a.iface}: {e.strerror}")


def main():
    ap = argparse.ArgumentParser(prog="pkt.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("send", help="send UDP datagrams or TCP SYNs")
    p.add_argument("--dst", required=True, help="an address, or several comma-separated, each in turn (udp)")
    p.add_argument("--ttl", type=int, help="IPv4 TTL / IPv6 hop limit (default: system's)")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--port", type=int, default=9999, help="destination port")
    p.add_argument("--ports", type=int, default=1, help="destination ports to spread over, from --port on")
    p.add_argument("--hosts", type=int, default=1, help="destination addresses to spread over, from --dst on (udp)")
    p.add_argument("--sport", type=int, default=0, help="source port (default: any)")
    p.add_argument("--size", type=int, default=32, help="L4 payload bytes")
    p.add_argument("--proto", choices=("udp", "tcp"), default="udp")
    p.add_argument("--flows", type=int, default=1, help="source ports to spread over (udp)")
    p.add_argument("--interval", type=float, default=0, help="seconds between datagrams (udp)")

    p = sub.add_parser("capture", help="print received IP packets as JSON lines")
    p.add_argument("--iface", required=True)
    p.add_argument("--netns", action="append", help="capture in this namespace (repeatable)")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--timeout", type=float, required=True)
    p.add_argument("--done-on-stdin", action="store_true", help="start --timeout when stdin closes")
    p.add_argument("--dst", help="destination address")
    p.add_argument("--proto", type=proto_arg, help="udp, tcp, icmp, icmpv6 or a number")
    p.add_argument("--dport", type=int)
    p.add_argument("--icmp-type", type=int, help="ICMP or ICMPv6 type")
    p.add_argument("--family", type=int, choices=(4, 6))

    p = sub.add_parser("frame", help="write a raw Ethernet frame")
    p.add_argument("--iface", required=True)
    p.add_argument("--hex", required=True, action="append",
                   help="whole frame from the destination MAC on (repeatable: sent in order)")
    p.add_argument("--count", type=int, default=1)

    p = sub.add_parser("sink", help="receive a sequence-numbered stream, report loss and the longest gap")
    p.add_argument("--port", type=int, default=9999)
    p.add_argument("--count", type=int, required=True, help="datagrams the sender sends")
    p.add_argument("--timeout", type=float, required=True)
    p.add_argument("--done-on-stdin", action="store_true", help="start --timeout when stdin closes")

    a = ap.parse_args()
    if a.cmd == "send" and (a.flows < 1 or a.ports < 1):
        die("--flows and --ports must be at least 1")
    if a.cmd == "capture" and a.dst:
        a.dst = str(ipaddress.ip_address(a.dst))
    if a.cmd == "send":
        a.dsts = a.dst.split(",")
    if a.cmd == "send" and a.proto == "tcp" and (a.flows != 1 or a.interval or len(a.dsts) > 1):
        die("--flows, --interval and a list of destinations are for udp")
    if a.cmd == "send" and len(a.dsts) > 1 and (a.hosts != 1 or len({family_of(d) for d in a.dsts}) != 1):
        die("a list of destinations is one family, without --hosts")
    try:
        {"send": cmd_send, "capture": cmd_capture, "frame": cmd_frame, "sink": cmd_sink}[a.cmd](a)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # A caller that stopped reading after enough lines is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as e:
        die(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
