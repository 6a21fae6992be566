#!/bin/bash
# `make demo`: a three-namespace lab (src - rtr - dst), fibfast on the
# router, traffic through it, the counters, and everything removed again.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
fibfast=${FIBFAST_BIN:-$here/.build/debug/fibfast}
lab=$here/Tests/lab/lab.sh
pkt=$here/Tests/lab/pkt.py
# Debian's, as the tests use (a python3 on PATH may be a slow version-manager shim).
python=/usr/bin/python3
name=ffdemo$$
agent=

cleanup() {
	[ -n "$agent" ] && kill -INT "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
	"$lab" down "$name"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "lab: $name-src (10.1.0.2, fd00:1::2) -- p0 [$name-rtr] p1 -- $name-dst (10.2.0.2, fd00:2::2)"
"$lab" up "$name"

step "fibfast attach p0 p1 (in $name-rtr)"
ip netns exec "$name-rtr" "$fibfast" attach p0 p1 &
agent=$!
for _ in $(seq 50); do
	ip netns exec "$name-rtr" ip -d link show p1 | grep -q prog/xdp && break
	sleep 0.1
done

step "1000 UDP datagrams over IPv4 and 1000 over IPv6, src -> dst"
# The capture's timeout starts when its stdin closes, once everything was sent.
coproc capture {
	ip netns exec "$name-dst" "$python" "$pkt" capture --iface eth0 --count 2000 --timeout 3 --proto udp \
		--done-on-stdin > "/tmp/$name.cap"
}
capture_pid=$capture_PID
for _ in $(seq 300); do
	grep -q ready "/tmp/$name.cap" 2>/dev/null && break
	sleep 0.1
done
ip netns exec "$name-src" "$python" "$pkt" send --dst 10.2.0.2 --count 1000
ip netns exec "$name-src" "$python" "$pkt" send --dst fd00:2::2 --count 1000
fd=${capture[1]}
exec {fd}>&-
wait "$capture_pid"
echo "dst received $(grep -c '"family"' "/tmp/$name.cap") datagrams, TTL / hop limit as received: $(grep -o '"ttl": [0-9]*' "/tmp/$name.cap" | sort | uniq -c | tr -s ' ' | paste -sd,)"
rm -f "/tmp/$name.cap"

step "ping the router itself and a destination with TTL 1: the kernel answers"
ip netns exec "$name-src" ping -c 2 -i 0.2 10.1.0.1 | tail -2
ip netns exec "$name-src" ping -c 1 -t 1 -W 1 10.2.0.2 | sed -n 2p || true

step "fibfast stats"
ip netns exec "$name-rtr" "$fibfast" stats

step "stopping fibfast: the kernel forwards alone again"
kill -INT "$agent"
wait "$agent" || true
agent=
ip netns exec "$name-src" ping -c 2 -i 0.2 10.2.0.2 | tail -2
