/* Per-port, per-verdict packet and byte counters. */
#ifndef FIBFAST_COUNTERS_H
#define FIBFAST_COUNTERS_H

#include "maps.h"

static __always_inline void ff_count(__u32 slot, __u32 verdict, __u64 bytes)
{
	__u32 index = ff_counter_index(slot, verdict);
	struct ff_counter *counter;

	/* Per-CPU: no atomics needed, the agent sums the CPUs when it reads. */
	counter = bpf_map_lookup_elem(&ff_counters, &index);
	if (counter) {
		counter->packets++;
		counter->bytes += bytes;
	}
}

#endif
