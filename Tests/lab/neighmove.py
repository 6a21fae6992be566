#!/usr/bin/python3
"""Measures how long a router keeps sending to a next hop's old MAC address (stdlib only).

  neighmove.py stream --dst ADDR --seconds S [--pps N] [--port N]
      send UDP datagrams to ADDR at N per second for S seconds (run in the source host)
  neighmove.py move --iface IF --mac NEW --dst ADDR --timeout S
      (run in the next hop) wait for a datagram to ADDR, change IF's MAC to NEW without
      announcing it (no gratuitous ARP: a silently replaced host), then print one JSON line:
      {"recovered_after": seconds until the first datagram to ADDR arrives for NEW, or null}
"""

import argparse
import json
import select
import socket
import struct
import subprocess
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def cmd_stream(a):
    fam = socket.AF_INET6 if ":" in a.dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    end = time.monotonic() + a.seconds
    interval = 1.0 / a.pps
    seq = 0
    while time.monotonic() < end:
        try:
            s.sendto(struct.pack("!I", seq) + b"neighmove", (a.dst, a.port))
        except OSError:
            pass  # unreachable for a moment: keep going
        seq += 1
        time.sleep(interval)  # the pace is the stream's: a datagram every interval


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(":"))


def dst_of(frame):
    """IPv4/IPv6 destination address of an Ethernet frame, or None."""
    etype = struct.unpack_from("!H", frame, 12)[0]
    if etype == 0x0800 and len(frame) >= 34:
        return socket.inet_ntop(socket.AF_INET, frame[30:34])
    if etype == 0x86DD and len(frame) >= 54:
        return socket.inet_ntop(socket.AF_INET6, frame[38:54])
    return None


def cmd_move(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    s.bind((a.iface, ETH_P_ALL))
    new = mac_bytes(a.mac)
    want = socket.inet_ntop(socket.AF_INET6 if ":" in a.dst else socket.AF_INET,
                            socket.inet_pton(socket.AF_INET6 if ":" in a.dst else socket.AF_INET, a.dst))
    print("ready", flush=True)
    moved = None
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        if not select.select([s], [], [], 0.2)[0]:
            continue
        frame, addr = s.recvfrom(65536)
        if addr[2] == PACKET_OUTGOING or dst_of(frame) != want:
            continue
        if moved is None:
            subprocess.run(["ip", "link", "set", a.iface, "address", a.mac], check=True)
            moved = time.monotonic()
            deadline = moved + a.timeout
            continue
        if frame[0:6] == new:
            print(json.dumps({"recovered_after": round(time.monotonic() - moved, 2)}), flush=True)
            return
    print(json.dumps({"recovered_after": None}), flush=True)


def main():
    ap = argparse.ArgumentParser(prog="neighmove.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("stream")
    p.add_argument("--dst", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--pps", type=float, default=50)
    p.add_argument("--port", type=int, default=9998)
    p = sub.add_parser("move")
    p.add_argument("--iface", required=True)
    p.add_argument("--mac", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--timeout", type=float, required=True)
    a = ap.parse_args()
    {"stream": cmd_stream, "move": cmd_move}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
