/*
 * The FIB answer cache: bpf_fib_lookup's SUCCESS answers, per CPU, keyed by
 * every input the answer depends on. Why it is never stale, and the races
 * it has to survive: docs/architecture.md, "The FIB answer cache".
 *
 * Direct-mapped, one slot per hash value, in a per-CPU array: no locks, no
 * allocation, bounded memory. A miss costs a hash, one compare and, for a
 * SUCCESS answer, one store; destinations sprayed by an adversary only
 * evict each other.
 */
#ifndef FIBFAST_FIB_CACHE_H
#define FIBFAST_FIB_CACHE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fastpath_abi.h"

/*
 * Everything bpf_fib_lookup reads to decide, as the fast path fills it in:
 * the ingress port, the flags, the addresses, TOS or flow label, and the
 * transport fields the multipath hash and the rules may use. tot_len is left
 * out: an answer holds for every length up to the largest one the FIB
 * accepted (the MTU check is tot_len > mtu, nothing else).
 */
struct ff_fib_cache_key {
	__u32 ifindex;
	__u32 fib_flags;
	__u8 family;
	__u8 l4_protocol;
	__u8 tos;
	__u8 ports_free;  /* 1: sport and dport left out (ff_fib_cache_control) */
	__be16 sport;
	__be16 dport;
	__be32 flowinfo;
	__u32 src[4];
	__u32 dst[4];
};

#define FF_FIB_CACHE_KEY_WORDS (sizeof(struct ff_fib_cache_key) / 4)

struct ff_fib_cache_entry {
	/* Odd while the slot is being written (see ff_fib_cache_put). */
	__u32 sequence;
	__u32 egress;
	__u64 generation;
	struct ff_fib_cache_key key;
	__u16 max_len;  /* the largest tot_len the FIB answered SUCCESS for */
	__u8 smac[6];
	__u8 dmac[6];
	__u16 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FF_FIB_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct ff_fib_cache_entry);
} ff_fib_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct ff_fib_cache_control);
} ff_cache_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ff_fib_cache_stats);
} ff_cache_stats SEC(".maps");

/* What a miss carries from before bpf_fib_lookup to after it. */
struct ff_fib_cache_probe {
	struct ff_fib_cache_key key;
	struct ff_fib_cache_entry *slot;
	/* Read BEFORE the FIB is asked: an answer stored with it dies with
	 * the first invalidation after the lookup began. */
	__u64 generation;
	__u16 tot_len;
};

#define ff_fib_cache_barrier() asm volatile("" ::: "memory")

static __always_inline int ff_fib_cache_key_equal(const struct ff_fib_cache_key *a,
						  const struct ff_fib_cache_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 diff = 0;

#pragma unroll
	for (int i = 0; i < FF_FIB_CACHE_KEY_WORDS; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

static __always_inline __u32 ff_fib_cache_hash(const struct ff_fib_cache_key *key)
{
	const __u32 *word = (const __u32 *)key;
	__u32 hash = 0;

#pragma unroll
	for (int i = 0; i < FF_FIB_CACHE_KEY_WORDS; i++)
		hash = (hash ^ word[i]) * 0x9e3779b1u;
	return (hash ^ (hash >> 15)) & (FF_FIB_CACHE_SLOTS - 1);
}

/* Counts a probe and moves this CPU's credit: hits earn, misses cost. */
static __always_inline void ff_fib_cache_count(struct ff_fib_cache_stats *stats, int hit)
{
	if (hit) {
		stats->hits++;
		if (stats->credit < FF_FIB_CACHE_CREDIT_MAX)
			stats->credit += FF_FIB_CACHE_HIT_CREDIT;
	} else {
		stats->misses++;
		if (stats->credit > FF_FIB_CACHE_CREDIT_MIN)
			stats->credit--;
	}
}

/*
 * Before bpf_fib_lookup: answers from the cache when it can, writing the
 * egress and both MACs into fib as the lookup would, and returns 1. Else
 * returns 0 and leaves in probe what ff_fib_cache_put needs (probe->slot
 * NULL: the cache is off, nothing to store).
 */
static __always_inline int ff_fib_cache_get(struct ff_fib_cache_probe *probe,
					    struct bpf_fib_lookup *fib, __u32 fib_flags)
{
	struct ff_fib_cache_control *control;
	struct ff_fib_cache_entry *slot;
	struct ff_fib_cache_stats *stats;
	__u32 zero = 0, index, sequence;
	__u64 ports_differ, ports_needed;

	probe->slot = NULL;
	control = bpf_map_lookup_elem(&ff_cache_ctl, &zero);
	stats = bpf_map_lookup_elem(&ff_cache_stats, &zero);
	if (!control || !control->enabled || !stats)
		return 0;
	/* A CPU whose recent lookups nearly all missed asks the FIB straight
	 * away, but for a sample that lets it notice when hits come back. */
	if (stats->credit < FF_FIB_CACHE_BYPASS_BELOW && stats->misses % FF_FIB_CACHE_SAMPLE) {
		stats->misses++;
		stats->bypassed++;
		return 0;
	}
	probe->generation = *(volatile __u64 *)&control->generation;
	ff_fib_cache_barrier();
	/* Read after the generation: a change that made ports matter bumped
	 * ports_generation before it, so it is seen here, or the answer is
	 * stored with a generation that dies at that change's bump. */
	ports_differ = *(volatile __u64 *)&control->ports_free_at -
		       *(volatile __u64 *)&control->ports_generation - 1;
	/* 0 while the agent's finding holds, else 1, without a branch: a
	 * branch here doubles the paths 6.1's verifier walks at every lookup
	 * of the program, past its limit (E2BIG), and the compiler turns a
	 * plain "!= 0" into one. Every bit below the highest set one is set
	 * by the shifts, so bit 0 is set for any value but 0. */
	ports_differ |= ports_differ >> 1;
	ports_differ |= ports_differ >> 2;
	ports_differ |= ports_differ >> 4;
	ports_differ |= ports_differ >> 8;
	ports_differ |= ports_differ >> 16;
	ports_differ |= ports_differ >> 32;
	ports_needed = ports_differ & 1;
	probe->key.ifindex = fib->ifindex;
	probe->key.fib_flags = fib_flags;
	probe->key.family = fib->family;
	probe->key.l4_protocol = fib->l4_protocol;
	probe->key.tos = fib->family == AF_INET ? fib->tos : 0;
	/* Marks a key without ports: never equal to one with ports 0. */
	probe->key.ports_free = (__u8)(ports_needed ^ 1);
	probe->key.sport = fib->sport & (__be16)(0 - ports_needed);
	probe->key.dport = fib->dport & (__be16)(0 - ports_needed);
	probe->key.flowinfo = fib->family == AF_INET ? 0 : fib->flowinfo;
	__builtin_memcpy(probe->key.src, fib->ipv6_src, sizeof(probe->key.src));
	__builtin_memcpy(probe->key.dst, fib->ipv6_dst, sizeof(probe->key.dst));
	if (fib->family == AF_INET) {
		/* The IPv4 addresses share the first word of the IPv6 ones;
		 * the rest of the union is not the packet's. */
		probe->key.src[1] = probe->key.src[2] = probe->key.src[3] = 0;
		probe->key.dst[1] = probe->key.dst[2] = probe->key.dst[3] = 0;
	}
	probe->tot_len = fib->tot_len;
	index = ff_fib_cache_hash(&probe->key);
	slot = bpf_map_lookup_elem(&ff_fib_cache, &index);
	if (!slot)
		return 0;
	probe->slot = slot;

	sequence = slot->sequence;
	ff_fib_cache_barrier();
	if (!(sequence & 1) && slot->generation == probe->generation &&
	    probe->tot_len <= slot->max_len && ff_fib_cache_key_equal(&slot->key, &probe->key)) {
		fib->ifindex = slot->egress;
		__builtin_memcpy(fib->smac, slot->smac, sizeof(fib->smac));
		__builtin_memcpy(fib->dmac, slot->dmac, sizeof(fib->dmac));
		ff_fib_cache_barrier();
		/* A store that ran in between (a frame on this CPU interrupting
		 * a test run) may have mixed two answers: ask the FIB. */
		if (slot->sequence == sequence) {
			ff_fib_cache_count(stats, 1);
			return 1;
		}
	}
	ff_fib_cache_count(stats, 0);
	return 0;
}

/*
 * After bpf_fib_lookup: stores a SUCCESS answer. Only other answers' frames
 * go to the kernel, which is where they are decided anyway. The slot is
 * written whole between two sequence increments; a store that finds the
 * sequence odd interrupted another store on this CPU and gives way.
 */
static __always_inline void ff_fib_cache_put(const struct ff_fib_cache_probe *probe,
					     const struct bpf_fib_lookup *fib, int rc)
{
	struct ff_fib_cache_entry *slot = probe->slot;
	__u32 sequence;
	__u16 max_len;

	if (!slot || rc != BPF_FIB_LKUP_RET_SUCCESS)
		return;
	sequence = slot->sequence;
	if (sequence & 1)
		return;
	max_len = probe->tot_len;
	if (slot->generation == probe->generation && slot->max_len > max_len &&
	    ff_fib_cache_key_equal(&slot->key, &probe->key))
		max_len = slot->max_len;
	slot->sequence = sequence + 1;
	ff_fib_cache_barrier();
	slot->generation = probe->generation;
	slot->key = probe->key;
	slot->egress = fib->ifindex;
	slot->max_len = max_len;
	__builtin_memcpy(slot->smac, fib->smac, sizeof(slot->smac));
	__builtin_memcpy(slot->dmac, fib->dmac, sizeof(slot->dmac));
	slot->reserved = 0;
	ff_fib_cache_barrier();
	slot->sequence = sequence + 2;
}

/*
 * bpf_fib_lookup for a frame to forward, answered from the cache where it
 * holds the answer (a hit is a SUCCESS with egress and MACs filled in).
 * Every forwarding lookup goes through here, so none walks the trie for an
 * answer the cache already has.
 */
static __always_inline int ff_fib_lookup(struct xdp_md *ctx, struct bpf_fib_lookup *fib,
					 __u32 fib_flags)
{
	/* Zeroed whole (about 20 stack stores): where get returns early, clang
	 * still copies the fields it left unset, key words included, and the
	 * verifier refuses reading an undefined register (EACCES). Setting
	 * only generation and tot_len was tried: refused on 6.18. */
	struct ff_fib_cache_probe probe = {};
	int rc;

	if (ff_fib_cache_get(&probe, fib, fib_flags))
		return BPF_FIB_LKUP_RET_SUCCESS;
	rc = bpf_fib_lookup(ctx, fib, sizeof(*fib), fib_flags);
	ff_fib_cache_put(&probe, fib, rc);
	return rc;
}

#endif
