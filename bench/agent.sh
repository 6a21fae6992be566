# shellcheck shell=bash
# Running fibfast's agent in the lab's router namespace, and measuring it.
# Sourced by run.sh after lab.sh; uses $FIBFAST, $BIN, $OUT, log and meta.

AGENT_PID=""
# Options for an agent_start beyond the ports, words split: AGENT_ARGS="--fib-cache on" agent_start ...
AGENT_PORTS=()
AGENT_ATTACHED_MS=0

agent_find_binary() { # ROOT
	if [[ -n ${FIBFAST_BIN:-} ]]; then
		# Named explicitly (make bench, make test): missing is an error, not a skip.
		if [[ ! -x $FIBFAST_BIN ]]; then
			echo "bench: FIBFAST_BIN=$FIBFAST_BIN is not an executable" >&2
			return 1
		fi
		echo "$FIBFAST_BIN"
		return 0
	fi
	# The newest build wins: a stale release binary must not hide today's debug one.
	ls -t "$1"/.build/release/fibfast "$1"/.build/debug/fibfast 2>/dev/null | head -1 || true
}

agent_ports_attached() {
	local p
	for p in "${AGENT_PORTS[@]}"; do
		[[ $(in_rtr "$BIN/xdpctl" id "$p") != 0 ]] || return 1
	done
}

agent_in_step_count() { grep -c "in step with the kernel" "$OUT/agent.log" 2>/dev/null || true; }

agent_start() { # PORT...
	AGENT_PORTS=("$@")
	local synced
	synced=$(agent_in_step_count)
	# Started directly, not through a shell function, so that $! is fibfast
	# itself (`ip netns exec` execs its command) and SIGINT reaches it.
	# shellcheck disable=SC2086
	ip netns exec "$NS_RTR" "$FIBFAST" attach "$@" ${AGENT_ARGS:-} >>"$OUT/agent.log" 2>&1 &
	AGENT_PID=$!
	local i
	for ((i = 0; i < 600; i++)); do
		if ! kill -0 "$AGENT_PID" 2>/dev/null; then
			log "fibfast attach exited early; see $OUT/agent.log"
			tail -5 "$OUT/agent.log" >&2
			AGENT_PID=""
			return 1
		fi
		agent_ports_attached && break
		sleep 0.05
	done
	if ! agent_ports_attached; then
		log "fibfast did not attach to ${AGENT_PORTS[*]} within 30 s"
		return 1
	fi
	AGENT_ATTACHED_MS=$(now_ms)
	# Attached is not yet in step: the agent still reads the kernel's tables
	# (seconds with the full table), and traffic measured meanwhile would
	# charge that work to the fast path.
	for ((i = 0; i < 1200; i++)); do
		(($(agent_in_step_count) > synced)) && return 0
		sleep 0.05
	done
	log "fibfast did not report being in step with the kernel within 60 s; see $OUT/agent.log"
	return 1
}

agent_stop() {
	[[ -n $AGENT_PID ]] || return 0
	local i p
	kill -INT "$AGENT_PID" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$AGENT_PID" 2>/dev/null; then
		log "fibfast ignored SIGINT for 15 s; killing it"
		kill -KILL "$AGENT_PID" 2>/dev/null || true
	fi
	wait "$AGENT_PID" 2>/dev/null || true
	AGENT_PID=""
	# A detach that leaves programs behind would poison the next mode.
	for p in "${AGENT_PORTS[@]}"; do
		if [[ $(in_rtr "$BIN/xdpctl" id "$p") != 0 ]]; then
			log "fibfast left an XDP program on $p after SIGINT; removing it"
			in_rtr "$BIN/xdpctl" off "$p"
		fi
	done
}

# fibfast's own counters tell frames it forwarded in XDP from frames it
# handed to the kernel; without them a fast path that passes everything would
# be indistinguishable from kernel forwarding.
agent_counters() {
	local json
	if ! json=$(in_rtr "$FIBFAST" stats --json 2>&1); then
		log "fibfast stats --json failed: $json"
		echo "- -"
	elif ! jq -er '"\(.total.forwarded.packets) \(.total.passed.packets) \(.fibCache.hits // "-")" +
			" \(.fibCache.misses // "-") \(.fibCache.bypassed // 0)"' <<<"$json"; then
		log "jq could not read the counters in fibfast stats --json"
		echo "- - - - -"
	fi
}

AGENT_FWD0=0 AGENT_PASS0=0 AGENT_HITS0=0 AGENT_MISSES0=0 AGENT_BYPASSED0=0
agent_counters_reset() {
	read -r AGENT_FWD0 AGENT_PASS0 AGENT_HITS0 AGENT_MISSES0 AGENT_BYPASSED0 < <(agent_counters)
}

# What the FIB answer cache did since the reset, as HITS%/BYPASSED% of the
# forwarding lookups (where its cost or its savings show): prints "-" without
# a cache or counters. COUNTERS: a line of agent_counters, read once per round.
agent_cache_share() { # COUNTERS
	local fwd pass hits misses bypassed
	read -r fwd pass hits misses bypassed <<<"$1"
	if ! [[ $hits =~ ^[0-9]+$ && $misses =~ ^[0-9]+$ && $AGENT_HITS0 =~ ^[0-9]+$ ]]; then
		echo -
		return 0
	fi
	"$PYTHON" -c "import sys; h,m,b=map(int,sys.argv[1:]); n=h+m; print(f'{100*h/n:.1f}%/{100*b/n:.1f}%' if n else '-')" \
		$((hits - AGENT_HITS0)) $((misses - AGENT_MISSES0)) $((bypassed - AGENT_BYPASSED0))
}

agent_forwarded_share() { # COUNTERS; prints e.g. 99.98%, or nothing if unknown
	local fwd pass
	read -r fwd pass _ <<<"$1"
	if ! [[ $fwd =~ ^[0-9]+$ && $AGENT_FWD0 =~ ^[0-9]+$ ]]; then
		log "fibfast's counters could not be read: what was delivered cannot be told from kernel forwarding"
		return 0
	fi
	"$PYTHON" -c "import sys; f,p=int(sys.argv[1]),int(sys.argv[2]); print(f'{100*f/(f+p):.2f}%' if f+p else '0%')" \
		$((fwd - AGENT_FWD0)) $((pass - AGENT_PASS0))
}

agent_cpu_ticks() { awk '{print $14 + $15}' "/proc/$AGENT_PID/stat"; }
agent_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$AGENT_PID/status"; }
now_ms() { date +%s%3N; }

# Waits until the agent has used no CPU for 2 s; prints the time (ms) of its
# last activity. Bounded: an agent that never settles is reported as such.
agent_wait_idle() {
	local last ticks idle=0 t_last
	last=$(agent_cpu_ticks) t_last=$(now_ms)
	for ((i = 0; i < 600 && idle < 4; i++)); do
		sleep 0.5
		ticks=$(agent_cpu_ticks)
		if [[ $ticks != "$last" ]]; then
			last=$ticks t_last=$(now_ms) idle=0
		else
			idle=$((idle + 1))
		fi
	done
	echo "$t_last"
}

# What the full table costs the agent: memory, and the time it needs to take
# the table in, both while it is loaded under a running agent and when the
# agent starts with the table already in the kernel. Leaves the table loaded.
agent_full_table_intake() { # BATCH-FILE
	local t0 t1 t_idle c0 c1 rss0
	if [[ -z $FIBFAST ]]; then
		t0=$(now_ms)
		ip -n "$NS_RTR" -batch "$1"
		meta table_load_ms $(($(now_ms) - t0))
		return
	fi
	agent_start p0 p1 p2
	rss0=$(agent_rss_kib)
	meta agent_rss_kib_one_route "$rss0"
	c0=$(agent_cpu_ticks)
	t0=$(now_ms)
	ip -n "$NS_RTR" -batch "$1"
	t1=$(now_ms)
	t_idle=$(agent_wait_idle)
	c1=$(agent_cpu_ticks)
	meta table_load_ms $((t1 - t0))
	meta agent_catchup_ms $((t_idle > t1 ? t_idle - t1 : 0))
	meta agent_cpu_ms_during_load $(((c1 - c0) * 1000 / $(getconf CLK_TCK)))
	meta agent_rss_kib_full_live "$(agent_rss_kib)"
	log "table loaded in $((t1 - t0)) ms; agent idle $((t_idle > t1 ? t_idle - t1 : 0)) ms later"
	agent_stop

	t0=$(now_ms)
	agent_start p0 p1 p2
	t1=$AGENT_ATTACHED_MS
	t_idle=$(agent_wait_idle)
	meta agent_attach_ms_full "$((t1 - t0))"
	meta agent_settle_ms_full "$((t_idle > t0 ? t_idle - t0 : 0))"
	meta agent_rss_kib_full_cold "$(agent_rss_kib)"
	log "agent started with the full table: attached in $((t1 - t0)) ms"
	agent_stop
}
