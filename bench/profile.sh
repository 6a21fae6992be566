# shellcheck shell=bash
# Where the time goes when fibfast misses a target: a system-wide perf profile
# (cpu-clock: this VM exposes no hardware counters) taken while the missed
# scenario runs. Sourced by run.sh.

profile_missed_targets() { # TABLE
	local fam table misses old_kallsyms
	misses=$(python3 "$here/report.py" --missed "$1" "$OUT")
	[[ -n $misses ]] || return 0
	# JIT-ed programs show up by name only with kallsyms on.
	old_kallsyms=$(sysctl -n net.core.bpf_jit_kallsyms)
	sysctl -qw net.core.bpf_jit_kallsyms=1
	while read -r fam table; do
		log "target missed for ipv$fam $table: profiling fibfast"
		mode_on fibfast
		generate "$fam" "$table" packets=100000 >/dev/null
		perf record -q -a -g -e cpu-clock -o "$OUT/perf-ipv$fam-$table.data" -- \
			sleep "$SECONDS_PER_RUN" >/dev/null 2>&1 &
		local perf_pid=$!
		generate "$fam" "$table" seconds="$SECONDS_PER_RUN" >/dev/null
		wait "$perf_pid" || true
		mode_off fibfast
		{
			echo "top functions by share of all samples (self time):"
			perf report -i "$OUT/perf-ipv$fam-$table.data" --no-children --sort sym \
				--stdio -g none --percent-limit 1.5 2>/dev/null |
				grep -E '^ +[0-9]' | head -25
		} >"$OUT/profile-ipv$fam-$table.txt"
	done <<<"$misses"
	sysctl -qw net.core.bpf_jit_kallsyms="$old_kallsyms"
}
