#!/usr/bin/python3
"""Does any packet sent after a routing change returns still follow the old state?

  staleness.py --src NS --rtr NS --old NS --new NS --dst ADDR --rounds N --kind KIND

Run as root from the root namespace. One UDP flow (fixed ports) goes from NS --src to ADDR
without pause, each datagram carrying its sequence number and send time. AF_PACKET sockets on
eth0 in --old and --new see where every datagram arrives and with which destination MAC. Each
round makes one change in --rtr and then the opposite one (KIND: route, rule, nexthop, neigh;
link: p1 down and up; mtu: p1's MTU 1300 and back,
the flow then being 1400-byte datagrams without DF; the lab must be set up for it, see
FibCacheTests), and waits, on arrivals not on time, until
datagrams sent after the command returned have arrived where the new state sends them. A
datagram that was sent after the command returned and arrived where the old state sent it is
stale; how long after the return it was sent is the invalidation window of that change. For mtu,
a datagram sent after the return that arrived nowhere is lost (a veth drops what a stale answer
sends whole into the smaller MTU).

Prints one JSON object: changes made, stale datagrams, and the windows (microseconds) of the
changes that had any.
"""
import argparse
import ctypes
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

from pkt import fail_on_capture_drops, receive_buffer

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
PORT = 47000
SPORT = 47001


def in_namespace(name, body):
    """Runs body with this thread in namespace name; sockets made there stay there."""
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        try:
            return body()
        finally:
            if libc.setns(original, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(original)
        os.close(target)


class Watcher(threading.Thread):
    """Records (sequence, send time, destination MAC) of every datagram of the flow arriving."""

    def __init__(self, ns, shapes=False):
        super().__init__(daemon=True)
        self.shapes = shapes
        self.sock = in_namespace(ns, lambda: self._open())
        self.lock = threading.Lock()
        self.seen = []
        self.cond = threading.Condition(self.lock)

    @staticmethod
    def _open():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        s.bind(("eth0", 0))
        receive_buffer(s, 32 << 20)
        return s

    def run(self):
        while True:
            frame = self.sock.recv(2048)
            if len(frame) < 14 + 20 + 8 + 12:
                continue
            ihl = (frame[14] & 0x0F) * 4
            if frame[14 + 9] != 17:
                continue
            udp = 14 + ihl
            sport, dport = struct.unpack("!HH", frame[udp:udp + 4])
            if dport != PORT or sport != SPORT:
                continue
            seq, sent = struct.unpack("!IQ", frame[udp + 8:udp + 20])
            # mtu: whether the router fragmented it (the first fragment carries the header).
            shape = ("frag" if frame[14 + 6] & 0x20 else "whole") if self.shapes else frame[0:6].hex(":")
            with self.cond:
                self.seen.append((seq, sent, shape))
                self.cond.notify_all()

    def wait_for(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.seen):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True


def main():
    p = argparse.ArgumentParser()
    for name in ("src", "rtr", "old", "new", "dst", "kind"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--neigh", default="", help="for neigh: ADDR,DEV,REALMAC,OTHERMAC")
    p.add_argument("--timeout", type=float, default=30)
    a = p.parse_args()

    mtu = a.kind == "mtu"
    watchers = {a.old: Watcher(a.old, shapes=mtu), a.new: Watcher(a.new, shapes=mtu)}
    for w in watchers.values():
        w.start()
    sender = in_namespace(a.src, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    in_namespace(a.src, lambda: sender.bind(("0.0.0.0", SPORT)))
    # mtu: 1400-byte datagrams without DF, which the router fragments once p1's MTU is 1300.
    padding = 1400 - 28 - 12 if mtu else 20
    if mtu:
        sender.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT
    next_seq = [0]
    stop = threading.Event()

    def send():
        while not stop.is_set():
            seq = next_seq[0]
            try:
                sender.sendto(struct.pack("!IQ", seq, time.monotonic_ns()) + b"x" * padding, (a.dst, PORT))
            except OSError:
                pass  # ARP not resolved yet, a route in flux: the next one goes
            next_seq[0] = seq + 1
            # A steady flow without starving the router of the second core.
            time.sleep(0.00005)

    threading.Thread(target=send, daemon=True).start()

    def rtr(*args):
        subprocess.run(["ip", "netns", "exec", a.rtr, *args], check=True)

    if a.kind == "neigh":
        n_addr, n_dev, n_real, n_other = a.neigh.split(",")
    # Each change: the command, then where (namespace, MAC or None) datagrams go afterwards.
    if a.kind == "route":
        changes = [(["ip", "route", "replace", "10.9.0.0/24", "via", "10.3.0.2"], a.new),
                   (["ip", "route", "replace", "10.9.0.0/24", "via", "10.2.0.2"], a.old)]
    elif a.kind == "rule":
        changes = [(["ip", "rule", "add", "to", "10.9.0.0/24", "lookup", "100", "pref", "100"], a.new),
                   (["ip", "rule", "del", "to", "10.9.0.0/24", "lookup", "100", "pref", "100"], a.old)]
    elif a.kind == "nexthop":
        changes = [(["ip", "nexthop", "replace", "id", "9", "via", "10.3.0.2", "dev", "p2"], a.new),
                   (["ip", "nexthop", "replace", "id", "9", "via", "10.2.0.2", "dev", "p1"], a.old)]
    elif a.kind == "link":
        # Down drops p1's routes (a metric 200 one via p2 is left); up and the route again.
        changes = [(["ip", "link", "set", "p1", "down"], a.new),
                   (["sh", "-c", "ip link set p1 up && ip route add 10.9.0.0/24 via 10.2.0.2"], a.old)]
    elif mtu:
        # A stale answer would send the datagram whole into an MTU it no longer fits: a veth
        # drops it, so the flow never arrives fragmented and the run fails on the timeout.
        changes = [(["ip", "link", "set", "p1", "mtu", "1300"], (a.old, "frag")),
                   (["ip", "link", "set", "p1", "mtu", "1500"], (a.old, "whole"))]
    elif a.kind == "neigh":
        changes = [(["ip", "neigh", "replace", n_addr, "lladdr", n_other, "dev", n_dev, "nud", "permanent"], (a.old, n_other)),
                   (["ip", "neigh", "replace", n_addr, "lladdr", n_real, "dev", n_dev, "nud", "permanent"], (a.old, n_real))]
    else:
        sys.exit(f"unknown kind {a.kind}")

    def place(target):
        return target if isinstance(target, tuple) else (target, None)

    # Warm: the flow arrives where the state before the first change sends it.
    start_target = place(changes[1][1])
    if not watchers[start_target[0]].wait_for(
            lambda seen: any(start_target[1] in (None, mac) for _, _, mac in seen[-1:]), a.timeout):
        stop.set()
        sys.exit("the flow never arrived before the first change")

    made = 0
    stale = 0
    lost = lost_changes = 0
    windows = []
    for _ in range(a.rounds):
        for index, (command, target) in enumerate(changes):
            old_ns, old_mac = place(changes[1 - index][1])
            new_ns, new_mac = place(target)
            rtr(*command)
            returned = time.monotonic_ns()
            first_after = next_seq[0]
            made += 1
            # Settled when 20 datagrams sent after the return arrived the new way.
            ok = watchers[new_ns].wait_for(
                lambda seen: sum(1 for s, _, m in seen[-200:] if s >= first_after and new_mac in (None, m)) >= 20,
                a.timeout)
            if not ok:
                stop.set()
                sys.exit(f"after {' '.join(command)}: the flow did not arrive the new way")
            w = watchers[old_ns]
            with w.lock:
                # By send time: the sequence number is taken before the clock.
                late = [(s, t) for s, t, m in w.seen if t > returned and (old_mac is None or m == old_mac)]
            if mtu:
                # A stale answer sends the datagram whole into p1's smaller MTU, where the veth
                # drops it: lost, not late. Counted from the first datagram surely sent after the
                # return up to the newest one that arrived.
                with watchers[new_ns].lock:
                    arrived = {s for s, _, _ in watchers[new_ns].seen if s > first_after}
                missing = sum(1 for s in range(first_after + 1, max(arrived, default=first_after)) if s not in arrived)
                lost += missing
                lost_changes += 1 if missing else 0
            stale += len(late)
            windows.append((max(t for _, t in late) - returned) / 1000 if late else 0.0)
            for watcher in watchers.values():
                with watcher.lock:
                    watcher.seen.clear()
    stop.set()
    # A datagram dropped by a watcher's socket would count as lost by the router.
    fail_on_capture_drops({w.sock: ns for ns, w in watchers.items()}, "staleness.py")
    windows.sort()

    def pct(q):
        return windows[min(len(windows) - 1, int(q * len(windows)))] if windows else None

    print(json.dumps({"changes": made, "stale": stale, "stale_changes": sum(1 for w in windows if w > 0),
                      "lost": lost, "lost_changes": lost_changes,
                      "window_us_p50": pct(0.5), "window_us_p99": pct(0.99),
                      "window_us_max": windows[-1] if windows else None, "sent": next_seq[0]}))


if __name__ == "__main__":
    main()
