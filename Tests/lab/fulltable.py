#!/usr/bin/python3
"""A generated BGP table for the FRR lab: BIRD static protocols to announce, and destinations inside it.

  fulltable.py DIR V4 V6   writes DIR/table.conf (BIRD static protocols a4 b4 m4 a6 b6 m6) and
                           DIR/destinations.json (one address inside a few prefixes of each group)

Prefix lengths follow the Internet's mix: IPv4 mostly /24 with /16 to /23, IPv6 mostly /48 with
/32 to /44, laid out without overlap (in 11.0.0.0 up to 197.255.255.255 past the reserved blocks,
and in 2a00::/12). Each prefix falls in one group; the lab's peer announces every prefix over both
of its sessions, and a group says which path wins (lab: frr-lab.sh):
  a (80 %)  the path through next hop 1; the one through next hop 2 is one AS longer, a backup
  b (10 %)  the other way round
  m (10 %)  both paths equal: a multipath route over both next hops
Deterministic: the same sizes give the same table.
"""
import ipaddress
import json
import random
import sys

V4_LENGTHS = [(24, 62), (23, 10), (22, 12), (21, 5), (20, 5), (19, 3), (18, 1.5), (17, 0.8), (16, 0.7)]
V6_LENGTHS = [(48, 60), (44, 15), (40, 10), (36, 5), (32, 10)]
# Space the lab or the kernel treats apart: private, shared, loopback, link-local, test and
# benchmarking ranges (the lab's own addresses are in 198.18.0.0/15).
V4_SKIP = [ipaddress.ip_network(n) for n in (
    "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24")]
V4_SKIP_RANGES = [(int(n.network_address), int(n.broadcast_address) + 1) for n in V4_SKIP]
V4_START, V4_END = int(ipaddress.ip_address("11.0.0.0")), int(ipaddress.ip_address("198.0.0.0"))
V6_START = int(ipaddress.ip_address("2a00::"))


def lengths(mix, count, rng):
    choices, weights = zip(*mix)
    return rng.choices(choices, weights, k=count)


def v4_prefixes(count, rng):
    cursor = V4_START
    for length in lengths(V4_LENGTHS, count, rng):
        size = 1 << (32 - length)
        while True:
            cursor = (cursor + size - 1) // size * size
            skip = next((s for s in V4_SKIP_RANGES if cursor < s[1] and s[0] < cursor + size), None)
            if skip is None:
                break
            cursor = skip[1]
        if cursor + size > V4_END:
            sys.exit(f"fulltable.py: {count} IPv4 prefixes do not fit")
        yield ipaddress.IPv4Network((cursor, length))
        cursor += size


def v6_prefixes(count, rng):
    cursor = V6_START
    for length in lengths(V6_LENGTHS, count, rng):
        size = 1 << (128 - length)
        cursor = (cursor + size - 1) // size * size
        yield ipaddress.IPv6Network((cursor, length))
        cursor += size


def group(index):
    k = index % 10
    return "a" if k < 8 else "b" if k == 8 else "m"


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    out, n4, n6 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(14)
    tables = {f"{g}{f}": [] for g in "abm" for f in "46"}
    for family, prefixes in (("4", v4_prefixes(n4, rng)), ("6", v6_prefixes(n6, rng))):
        for i, net in enumerate(prefixes):
            name = group(i) + family
            tables[name].append(net)
    # Destinations spread over each group, from its first prefix to its last.
    picks = {name: [str(nets[i * (len(nets) - 1) // 7].network_address + 1) for i in range(8)] if nets else []
             for name, nets in tables.items()}
    with open(f"{out}/table.conf", "w") as f:
        for name, nets in tables.items():
            f.write(f"protocol static {name} {{\n  ipv{name[1]};\n")
            f.writelines(f"  route {n} unreachable;\n" for n in nets)
            f.write("}\n")
    with open(f"{out}/destinations.json", "w") as f:
        json.dump({"v4": n4, "v6": n6, "groups": picks}, f, indent=1)


if __name__ == "__main__":
    main()
