# shellcheck shell=bash
# The bench lab: three namespaces, src -- rtr -- dst, with two links from the
# router to the destination host so that a multipath route has somewhere to go.
#
#   src s0 ====== p0 rtr p1 ====== d0 dst
#                        p2 ====== d1
#
# Sourced by run.sh. Addresses come from the benchmarking ranges (198.18.0.0/15,
# 2001:2::/48); the full table lives in 10.0.0.0/8 and 3fff::/20. MACs are fixed so that nothing has to be
# read back from the kernel.

# shellcheck source=Tests/lab/lib.sh
source "$root/Tests/lab/lib.sh"

LAB_ID=${LAB_ID:-ffb$$}
NS_SRC=$LAB_ID-src
NS_RTR=$LAB_ID-rtr
NS_DST=$LAB_ID-dst

MAC_S0=02:fb:00:01:00:02 MAC_P0=02:fb:00:01:00:01
MAC_P1=02:fb:00:02:00:01 MAC_D0=02:fb:00:02:00:02
MAC_P2=02:fb:00:03:00:01 MAC_D1=02:fb:00:03:00:02

SRC4=198.18.1.2 SRC6=2001:2:0:1::2
NH4_A=198.18.2.2 NH6_A=2001:2:0:2::2
NH4_B=198.18.3.2 NH6_B=2001:2:0:3::2
# The one-route and multipath scenarios send to this prefix.
ROUTE4=198.19.0.0/16 DST4=198.19.0.1
ROUTE6=2001:2:0:ff00::/56 DST6=2001:2:0:ff00::1

in_src() { ip netns exec "$NS_SRC" "$@"; }
in_rtr() { ip netns exec "$NS_RTR" "$@"; }
in_dst() { ip netns exec "$NS_DST" "$@"; }

lab_down() {
	local ns
	for ns in "$NS_SRC" "$NS_RTR" "$NS_DST"; do
		ip netns del "$ns" 2>/dev/null || true
	done
}

lab_link() { # NS_A DEV_A MAC_A NS_B DEV_B MAC_B
	ip -n "$1" link add "$2" address "$3" type veth peer name "$5" address "$6" netns "$4"
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}

lab_up() {
	ip netns add "$NS_SRC"
	ip netns add "$NS_RTR"
	ip netns add "$NS_DST"
	# run.sh's EXIT trap takes the lab down; this covers run.sh being killed outright. The
	# names follow Tests/lab/lab.sh's NAME-{src,rtr,dst}, so its `down` applies.
	reap_with_owner $$ "/run/netns/$NS_RTR" "$root/Tests/lab/lab.sh" down "$LAB_ID"
	lab_link "$NS_SRC" s0 $MAC_S0 "$NS_RTR" p0 $MAC_P0
	lab_link "$NS_RTR" p1 $MAC_P1 "$NS_DST" d0 $MAC_D0
	lab_link "$NS_RTR" p2 $MAC_P2 "$NS_DST" d1 $MAC_D1

	ip -n "$NS_SRC" addr add $SRC4/24 dev s0
	ip -n "$NS_SRC" addr add $SRC6/64 dev s0 nodad
	ip -n "$NS_RTR" addr add 198.18.1.1/24 dev p0
	ip -n "$NS_RTR" addr add 2001:2:0:1::1/64 dev p0 nodad
	ip -n "$NS_RTR" addr add 198.18.2.1/24 dev p1
	ip -n "$NS_RTR" addr add 2001:2:0:2::1/64 dev p1 nodad
	ip -n "$NS_RTR" addr add 198.18.3.1/24 dev p2
	ip -n "$NS_RTR" addr add 2001:2:0:3::1/64 dev p2 nodad
	ip -n "$NS_DST" addr add $NH4_A/24 dev d0
	ip -n "$NS_DST" addr add $NH6_A/64 dev d0 nodad
	ip -n "$NS_DST" addr add $NH4_B/24 dev d1
	ip -n "$NS_DST" addr add $NH6_B/64 dev d1 nodad

	in_rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.conf.p0.rp_filter=0
	# Frames redirected into a veth are dropped unless its peer runs XDP or
	# GRO: the generator redirects into s0, so p0 needs GRO while the kernel
	# forwards; the sinks cover d0 and d1, GRO is only a safety net there.
	in_rtr ethtool -K p0 gro on >/dev/null
	in_src ethtool -K s0 gro on >/dev/null
	in_dst ethtool -K d0 gro on >/dev/null
	in_dst ethtool -K d1 gro on >/dev/null

	lab_route_one
	# Resolve the next hops while the destination still answers pings; the
	# sinks pass ARP and ND, so the entries can be refreshed later on.
	in_rtr ping -c1 -W2 -q $NH4_A >/dev/null
	in_rtr ping -c1 -W2 -q $NH4_B >/dev/null
	in_rtr ping -6 -c1 -W2 -q $NH6_A >/dev/null
	in_rtr ping -6 -c1 -W2 -q $NH6_B >/dev/null
	in_dst "$BIN/xdpctl" sink d0 "$BIN/sink.bpf.o"
	in_dst "$BIN/xdpctl" sink d1 "$BIN/sink.bpf.o"
}

# The multipath hash policy: L4 (1) for the multipath scenario, so that its 1024 flows spread;
# elsewhere the kernel's default (0, addresses only), or BENCH_HASH_POLICY. It matters to
# fibfast beyond multipath routes: under 1 its cache keys carry the ports (docs/architecture.md).
lab_hash_policy() {
	in_rtr sysctl -qw net.ipv4.fib_multipath_hash_policy=$1 net.ipv6.fib_multipath_hash_policy=$1
}

lab_route_one() {
	lab_hash_policy "${BENCH_HASH_POLICY:-0}"
	ip -n "$NS_RTR" route replace $ROUTE4 via $NH4_A
	ip -n "$NS_RTR" -6 route replace $ROUTE6 via $NH6_A
}

lab_route_multipath() {
	lab_hash_policy 1
	ip -n "$NS_RTR" route replace $ROUTE4 nexthop via $NH4_A nexthop via $NH4_B
	ip -n "$NS_RTR" -6 route replace $ROUTE6 nexthop via $NH6_A nexthop via $NH6_B
}

# The full table. IPv4: 1,000,000 host routes scattered over 10.0.0.0/8
# (prefix number k is 10.0.0.0 + (k * FULL4_STEP mod 2^24)): one in 17 of the
# 2^24 slots, about the density of the Internet's routes over the /24s of the
# unicast space, shifted by 8 bits to stay in space that never leaves the lab.
# (240.0.0.0/4 would fit 1M /24s, but fibfast rightly hands class E to the
# kernel.) IPv6: 200,000 /48s in 3fff::/20, prefix number k at k * 1031.
# The generator's spread (trafficgen ndst/dst_step/dst_mask/dst_shift/dst_word)
# must produce addresses inside exactly these prefixes.
FULL4_N=1000000 FULL4_STEP=10368889 FULL4_DST=10.0.0.0
FULL6_N=200000 FULL6_STEP=1031 FULL6_DST=3fff::1
full4_gen_args() { echo "dst=$FULL4_DST ndst=$FULL4_N dst_step=$FULL4_STEP dst_mask=0xffffff"; }
full6_gen_args() { echo "dst=$FULL6_DST ndst=$FULL6_N dst_step=$FULL6_STEP dst_word=2"; }
# The XDP paper's traffic (Hoiland-Jorgensen et al., CoNEXT'18: 4,000 random
# destinations over a full table): PAPER_N destinations spread evenly over the
# whole table, every (N / PAPER_N)-th prefix.
PAPER_N=4000
paper4_gen_args() { echo "dst=$FULL4_DST ndst=$PAPER_N dst_step=$((FULL4_N / PAPER_N * FULL4_STEP % 16777216)) dst_mask=0xffffff"; }
paper6_gen_args() { echo "dst=$FULL6_DST ndst=$PAPER_N dst_step=$((FULL6_N / PAPER_N * FULL6_STEP)) dst_word=2"; }
# An address inside prefix number K of each table.
full4_addr() {
	local j=$(($1 * FULL4_STEP % 16777216))
	echo "10.$((j >> 16)).$((j >> 8 & 255)).$((j & 255))"
}
full6_addr() { local j=$(($1 * FULL6_STEP)); printf '3fff:%x:%x::1\n' $((j / 65536)) $((j % 65536)); }

lab_full_table_batch() { # FILE
	awk -v n4=$FULL4_N -v s4=$FULL4_STEP -v n6=$FULL6_N -v s6=$FULL6_STEP \
		-v nh4=$NH4_A -v nh6=$NH6_A 'BEGIN {
		for (k = 0; k < n4; k++) {
			j = (k * s4) % 16777216
			printf "route add 10.%d.%d.%d/32 via %s\n", int(j / 65536), int(j / 256) % 256, j % 256, nh4
		}
		for (k = 0; k < n6; k++) {
			j = k * s6
			printf "route add 3fff:%x:%x::/48 via %s\n", int(j / 65536), j % 65536, nh6
		}
	}' >"$1"
}
