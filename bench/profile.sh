# shellcheck shell=bash
# Where the time goes when fibfast misses a target: a perf profile of the CPU
# that runs the whole path (generator, router, sink), taken while fibfast
# forwards the scenario that missed. cpu-clock: this VM exposes no hardware
# counters. Sourced by run.sh.

# Folds perf's per-symbol self time into the parts of the path.
profile_summary() { # PERF-REPORT-OUTPUT
	awk '
	/^ +[0-9.]+%/ {
		pct = $1; sub("%", "", pct); sym = $NF
		if ($2 == "[.]") part = "user space (other processes on this CPU)"
		else if (sym ~ /_fibfast_xdp$|htab|lookup_nulls_elem/) part = "fibfast program and its map lookups"
		else if (sym ~ /fib|neigh|rt6_|nexthop|dev_get_by_index/) part = "kernel FIB and neighbour lookup (bpf_fib_lookup)"
		else if (sym ~ /_gen$|test_run|bpf_test|page_pool/) part = "traffic generator (live frames)"
		else if (sym ~ /_sink$/) part = "sink program"
		else if (sym ~ /veth|redirect|dev_map|bq_|xdp|napi|net_rx|spin|rcu_read/) part = "veth, redirect, NAPI, ring locks"
		else if (sym ~ /safe_halt|idle/) part = "idle"
		else part = "other kernel"
		share[part] += pct
	}
	END { for (p in share) printf "%6.1f%%  %s\n", share[p], p }' "$1" | sort -rn
}

profile_missed_targets() { # TABLE
	local fam table misses old_kallsyms data rep
	misses=$("$PYTHON" "$here/report.py" --missed "$1" "$OUT")
	[[ -n $misses ]] || return 0
	# JIT-ed programs show up by name only with kallsyms on.
	old_kallsyms=$(sysctl -n net.core.bpf_jit_kallsyms)
	sysctl -qw net.core.bpf_jit_kallsyms=1
	while read -r fam table; do
		log "target missed for ipv$fam $table: profiling fibfast on CPU $GEN_CPU"
		data=$OUT/perf-ipv$fam-$table.data rep=$OUT/perf-ipv$fam-$table.txt
		mode_on fibfast || continue
		generate "$fam" "$table" packets=100000 >/dev/null
		perf record -q -C "$GEN_CPU" -g -e cpu-clock -o "$data" -- \
			sleep "$SECONDS_PER_RUN" >/dev/null 2>&1 &
		local perf_pid=$!
		generate "$fam" "$table" seconds="$SECONDS_PER_RUN" >/dev/null
		wait "$perf_pid" || true
		mode_off fibfast
		perf report -i "$data" --no-children --sort sym --stdio -g none 2>/dev/null |
			grep -E '^ +[0-9]' >"$rep" || true
		{
			echo "share of CPU $GEN_CPU by part of the path:"
			profile_summary "$rep"
			echo "top functions (self time):"
			head -12 "$rep"
		} >"$OUT/profile-ipv$fam-$table.txt"
	done <<<"$misses"
	sysctl -qw net.core.bpf_jit_kallsyms="$old_kallsyms"
}
