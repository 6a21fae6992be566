#!/usr/bin/env bash
# fibfast benchmark: kernel forwarding vs fibfast vs a redirect-only XDP bound,
# all measured in one run with the same generator and the same counting sink.
#
#   bench/run.sh            the full benchmark (about 7 minutes before the paper and
#                           Zipf scenarios were added, longer now), `make bench`
#   bench/run.sh --smoke    one second of IPv4 traffic, one route, every mode;
#                           fails if any mode delivered nothing, if fibfast's own
#                           counters do not show it forwarding in XDP (or cannot be
#                           read), or if a program's cost was not measured,
#                           `make bench-smoke`
#
# Options: --runs N (rounds per figure, default 5), --seconds S (traffic per
# round, default 3), --no-full (skip the 1.2M-route table), --only LIST (only
# these scenarios, comma-separated: one, multipath, full, paper, zipf). The fibfast binary
# is $FIBFAST_BIN, else the newest .build/{release,debug}/fibfast.
# Modes: kernel, redirect, lookup, fibfast (its FIB answer cache forced on) and
# nocache (forced off, for the target "uniform random >= 0.95x fibfast without
# the cache"); BENCH_MODES="fibfast nocache" runs only those.
# Output: build/bench/{results.json,results.txt,chart.png}, raw data beside.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# Debian's interpreter, as the tests use: a python3 on PATH may be a slow version-manager shim.
PYTHON=/usr/bin/python3
OUT=${BENCH_OUT:-$root/build/bench}
BIN=$OUT/bin

SMOKE=0 RUNS=5 SECONDS_PER_RUN=3 FULL=1 ONLY=
while [[ $# -gt 0 ]]; do
	case $1 in
	--smoke) SMOKE=1 RUNS=1 SECONDS_PER_RUN=1 FULL=0 ;;
	--runs) RUNS=$2; shift ;;
	--seconds) SECONDS_PER_RUN=$2; shift ;;
	--no-full) FULL=0 ;;
	--only) ONLY=$2; shift ;;
	*) echo "usage: bench/run.sh [--smoke] [--runs N] [--seconds S] [--no-full] [--only SCENARIO,...]" >&2; exit 2 ;;
	esac
	shift
done

if [[ $(id -u) -ne 0 ]]; then
	echo "bench: needs root (network namespaces, XDP)" >&2
	exit 1
fi

"$root/scripts/install-deps.sh" --check bench
mkdir -p "$OUT"
rm -f "$OUT"/raw.tsv "$OUT"/cost.tsv "$OUT"/meta.tsv "$OUT"/agent.log "$OUT"/profile-*.txt \
	"$OUT"/results.* "$OUT"/chart.* "$OUT"/perf-*
"$here/build.sh" "$BIN"

# shellcheck source=bench/lab.sh
source "$here/lab.sh"
source "$here/agent.sh"

log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }
meta() { printf '%s\t%s\n' "$1" "$2" >>"$OUT/meta.tsv"; }

# BPF run-time statistics time every program run with two clock reads (a
# paravirtual clock here): left on by accident, they took 14% of the CPU in a
# profile of full-table traffic, redirect-only forwarded 1.39 Mpps with one
# route against 2.17 in the next run without them, and the kernel mode, which
# runs fewer programs per frame, gained on every XDP mode. Off for the run,
# as found afterwards.
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
cleanup() {
	agent_stop || true
	lab_down
	[[ $STATS_WAS == 0 ]] || sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
}
trap cleanup EXIT
if [[ $STATS_WAS != 0 ]]; then
	log "kernel.bpf_stats_enabled was $STATS_WAS: off for the bench (it times every BPF program run), restored after"
	sysctl -qw kernel.bpf_stats_enabled=0
fi
trap 'exit 130' INT TERM

FIBFAST=$(agent_find_binary "$root")
meta cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) vCPU"
meta kernel "$(uname -r)"
meta date "$(date -u +%FT%TZ)"
if [[ $SMOKE == 1 ]]; then
	meta command "bench/run.sh --smoke"
else
	meta command "bench/run.sh --runs $RUNS --seconds $SECONDS_PER_RUN$([[ $FULL == 0 ]] && echo ' --no-full')${ONLY:+ --only $ONLY}"
fi
meta fibfast "${FIBFAST:-missing}${FIBFAST:+ (built $(date -r "$FIBFAST" -u +%FT%TZ))}"
meta tree "$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
meta seconds "$SECONDS_PER_RUN"
meta runs "$RUNS"
meta smoke "$SMOKE"
[[ -n $FIBFAST ]] || log "no fibfast binary (set FIBFAST_BIN or build it): its rows are skipped"

lab_down
lab_up
log "lab $LAB_ID up"

MODES=(kernel redirect lookup)
[[ -n $FIBFAST ]] && MODES+=(fibfast)
# fibfast with its FIB answer cache forced on (its default, auto, leaves it off
# on kernels that refuse the fexit hooks, this machine's among them) and, as
# nocache, off: the cache is what the bench measures, and its cost on a miss.
CACHE_FLAG=${FIBFAST_CACHE_FLAG:---fib-cache on}
NOCACHE_FLAG=${FIBFAST_NOCACHE_FLAG:---fib-cache off}
[[ -n $FIBFAST ]] && MODES+=(nocache)
meta cache_flag "$CACHE_FLAG"
meta nocache_flag "$NOCACHE_FLAG"
# BENCH_MODES="fibfast nocache": only those modes, interleaved in one run.
# BENCH_HASH_POLICY=1: every scenario but multipath (always 1) under L4 multipath hashing
# (default 0, the kernel's), where fibfast's cache keys carry the ports.
[[ -n ${BENCH_MODES:-} ]] && read -ra MODES <<<"$BENCH_MODES"

# Generator arguments for a family and a table.
gen_args() { # FAMILY TABLE
	local src dst
	if [[ $1 == 4 ]]; then src=$SRC4 dst=$DST4; else src=$SRC6 dst=$DST6; fi
	case $2 in
	one) echo "src=$src dst=$dst" ;;
	multipath) echo "src=$src dst=$dst nflows=1024" ;;
	full) echo "src=$src $(full"$1"_gen_args)" ;;
	paper) echo "src=$src $(paper"$1"_gen_args)" ;;
	zipf) echo "src=$src $(full"$1"_gen_args) dist=zipf nflows=1024" ;;
	esac
}

sinks() { in_dst "$BIN/xdpctl" count d0 d1; }
COST_ARGS=""

# The whole path (generator, router, sink) runs in the generator's softirq
# context; keeping it on one CPU stops migrations from adding to the noise,
# and lets a profile look at that CPU alone.
GEN_CPU=$(($(nproc) - 1))

generate() { # FAMILY TABLE trafficgen-args...
	local fam=$1 table=$2
	shift 2
	# shellcheck disable=SC2046
	in_src "$BIN/trafficgen" obj="$BIN/gen.bpf.o" dev=s0 dmac=$MAC_P0 cpu=$GEN_CPU \
		$(gen_args "$fam" "$table") "$@"
}

mode_on() {
	case $1 in
	kernel) ;;
	redirect) in_rtr "$BIN/xdpctl" redirect p0 "$BIN/redirect.bpf.o" p1 $MAC_D0 || return 1 ;;
	lookup) in_rtr "$BIN/xdpctl" lookup p0 "$BIN/lookup.bpf.o" p1 p2 || return 1 ;;
	fibfast) AGENT_ARGS=$CACHE_FLAG agent_start p0 p1 p2 || return 1 ;;
	nocache) AGENT_ARGS=$NOCACHE_FLAG agent_start p0 p1 p2 || return 1 ;;
	esac
	# Whatever runs on p0 now must be what this mode says.
	local id
	id=$(in_rtr "$BIN/xdpctl" id p0)
	if [[ $1 == kernel && $id != 0 ]]; then
		log "an XDP program (id $id) is still on p0 in kernel mode"
		return 1
	fi
}

mode_off() {
	case $1 in
	redirect | lookup) in_rtr "$BIN/xdpctl" off p0 ;;
	fibfast | nocache) agent_stop ;;
	esac
}

# One measurement: pps delivered to the sinks during SECONDS_PER_RUN of traffic.
measure() { # FAMILY TABLE MODE ROUND
	local before after out sent ns pps counters fast="" cache=-
	# A short burst first: neighbours, caches and the agent's first
	# lookups are not what this figure is about.
	generate "$1" "$2" packets=100000 >/dev/null
	[[ $3 == fibfast || $3 == nocache ]] && agent_counters_reset
	before=$(sinks)
	out=$(generate "$1" "$2" seconds="$SECONDS_PER_RUN")
	after=$(sinks)
	sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$out")
	ns=$(sed -n 's/.*elapsed_ns=\([0-9]*\).*/\1/p' <<<"$out")
	pps=$(((after - before) * 1000000000 / ns))
	if [[ $3 == fibfast || $3 == nocache ]]; then
		counters=$(agent_counters)
		fast=$(agent_forwarded_share "$counters")
		# Without fibfast's own counters the pps may be the kernel's forwarding:
		# recorded as such, and the smoke check fails on it.
		[[ -n $fast ]] || fast=unreadable
		cache=$(agent_cache_share "$counters")
	fi
	printf 'ipv%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$pps" "$sent" "$ns" "${fast:--}" \
		"$cache" >>"$OUT/raw.tsv"
	log "ipv$1 $2 $3 round $4: $pps pps delivered (sent $sent${fast:+, in XDP $fast}$([[ $cache == - ]] || echo ", FIB cache hits/bypassed $cache"))"
}

# Rounds of every mode over both families; the mode order rotates each round
# so that a slow spell of the machine does not always hit the same mode, and
# every other round runs backwards, so that no mode always follows the same
# one: a mode leaves the machine in some state for the next (with the order
# only rotated, fibfast always ran just before nocache, and nocache was
# ahead by 7% in IPv6 uniform in three runs; with the two swapped, fibfast
# was ahead by 12%).
measure_table() { # TABLE
	local round i m n=${#MODES[@]}
	for ((round = 1; round <= RUNS; round++)); do
		for ((i = 0; i < n; i++)); do
			if ((round % 2)); then
				m=${MODES[(i + round - 1) % n]}
			else
				m=${MODES[((round - 1 - i) % n + n) % n]}
			fi
			if ! mode_on "$m"; then
				# Recorded as nothing delivered: the report shows it and
				# the smoke run fails on it.
				log "could not set up $m; recording 0 pps"
				printf 'ipv4\t%s\t%s\t%s\t0\t0\t1\t-\t-\n' "$1" "$m" "$round" >>"$OUT/raw.tsv"
				mode_off "$m" || true
				continue
			fi
			measure 4 "$1" "$m" "$round"
			[[ $SMOKE == 1 ]] || measure 6 "$1" "$m" "$round"
			mode_off "$m"
		done
	done
}

# The XDP program's own cost per packet: BPF_PROG_TEST_RUN with repeat on the
# program attached to p0, as if the frame had arrived there.
cost() { # MODE TABLE KIND FRAME-ARGS...
	local mode=$1 table=$2 kind=$3 out
	shift 3
	# shellcheck disable=SC2086
	if ! out=$(in_rtr "$BIN/xdpctl" cost p0 "$BIN/cost.bpf.o" $COST_ARGS smac=$MAC_S0 dmac=$MAC_P0 "$@"); then
		out="ns_per_pkt=0 action=FAILED"
	fi
	printf '%s\t%s\t%s\t%s\n' "$mode" "$table" "$kind" "$out" >>"$OUT/cost.tsv"
	log "cost $mode $table $kind: $out"
}

cost_table() { # TABLE DST4 DST6
	local m
	for m in "${MODES[@]}"; do
		[[ $m == kernel ]] && continue
		mode_on "$m" || continue
		cost "$m" "$1" ipv4-udp src=$SRC4 dst="$2"
		cost "$m" "$1" ipv6-udp src=$SRC6 dst="$3"
		if [[ $m == fibfast && $1 == one ]]; then
			# Frames fibfast hands to the kernel: the price of looking.
			cost "$m" "$1" ipv4-ttl1 src=$SRC4 dst="$2" ttl=1
			cost "$m" "$1" ipv6-hop1 src=$SRC6 dst="$3" ttl=1
		fi
		mode_off "$m"
	done
}

source "$here/profile.sh"
profile() { [[ $SMOKE == 0 && -n $FIBFAST ]] && profile_missed_targets "$1" || true; }

wanted() { [[ -z $ONLY || ,$ONLY, == *,$1,* ]]; }

if wanted one; then
	log "one route"
	measure_table one
	if [[ $SMOKE == 0 ]]; then
		cost_table one $DST4 $DST6
		profile one
	else
		# Short, but it keeps the cost harness (a tail call into fibfast) honest.
		COST_ARGS="repeat=100000 runs=1" cost_table one $DST4 $DST6
	fi
fi

if [[ $SMOKE == 0 ]] && wanted multipath; then
	log "multipath route, 1024 flows"
	lab_route_multipath
	measure_table multipath
	cost_table multipath $DST4 $DST6
	lab_route_one
fi

if [[ $FULL == 1 ]] && { wanted full || wanted paper || wanted zipf; }; then
	log "full table: $FULL4_N IPv4 and $FULL6_N IPv6 routes"
	lab_full_table_batch "$OUT/full-table.batch"
	agent_full_table_intake "$OUT/full-table.batch"
	if wanted full; then
		log "full table, destinations spread uniformly over it"
		measure_table full
		profile full
	fi
	if wanted paper; then
		log "full table, the XDP paper's traffic: $PAPER_N destinations spread over it"
		measure_table paper
	fi
	if wanted zipf; then
		log "full table, Zipf-distributed destinations, 1024 flows"
		measure_table zipf
	fi
	# One destination in the middle of each table.
	if wanted full; then
		cost_table full "$(full4_addr $((FULL4_N / 2)))" "$(full6_addr $((FULL6_N / 2)))"
	fi
fi

"$PYTHON" "$here/report.py" "$OUT" >"$OUT/results.txt"
cat "$OUT/results.txt"
if [[ $SMOKE == 0 ]]; then
	gnuplot "$OUT/chart.gp"
	log "results in $OUT (results.json, results.txt, chart.png)"
else
	"$PYTHON" "$here/report.py" --smoke-check "$OUT"
fi
