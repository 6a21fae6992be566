#!/bin/sh
# Builds the bench's tools and XDP objects into $1 (default build/bench/bin).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../build/bench/bin}
mkdir -p "$out"

for p in gen sink redirect lookup cost; do
	"$here/../scripts/bpf-cc.sh" -O2 -g -Wall -c "$here/$p.bpf.c" -o "$out/$p.bpf.o"
done
for t in trafficgen xdpctl; do
	gcc -O2 -g -Wall -o "$out/$t" "$here/$t.c" "$here/frame.c" -lbpf -lelf -lz -lm
done
