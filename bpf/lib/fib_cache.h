/*
 * The FIB answer cache: bpf_fib_lookup's SUCCESS answers, per CPU, keyed by
 * every input the answer depends on. Why it is never stale, and the races
 * it has to survive: docs/architecture.md, "The FIB answer cache".
 *
 * Two-way set-associative, each CPU its own slots: no locks, no allocation,
 * bounded memory. A miss costs a hash, two compares and, for a SUCCESS
 * answer, one store; destinations sprayed by an adversary only evict each
 * other. Two ways, not one: where a full table's destinations are many,
 * most misses of one slot per hash were two live keys taking turns in it
 * (fastpath_abi.h has the figures).
 */
#ifndef FIBFAST_FIB_CACHE_H
#define FIBFAST_FIB_CACHE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fastpath_abi.h"

/* What a slot holds besides the key, the same for both families. */
struct ff_fib_cache_slot {
	/* Odd while the slot is being written (see ff_fib_cache_put). */
	__u32 sequence;
	__u32 egress;
	__u64 generation;
	__u16 max_len;  /* the largest tot_len the FIB answered SUCCESS for */
	__u8 smac[6];
	__u8 dmac[6];
	__u16 reserved;
};

/*
 * One CPU line per IPv4 slot, a line and a half per IPv6 one: where the
 * table is large, a probe's cost is the lines it misses in the CPU's
 * caches (the trie walks of other frames evict them), and 88-byte slots
 * cost IPv4 two lines where one does.
 */
struct ff_fib_cache_slot4 {
	struct ff_fib_cache_slot slot;
	__u32 key[FF_FIB_CACHE_KEY_WORDS(AF_INET)];
	__u32 pad[2];
};

struct ff_fib_cache_slot6 {
	struct ff_fib_cache_slot slot;
	__u32 key[FF_FIB_CACHE_KEY_WORDS(AF_INET6)];
	__u32 pad[3];
};

_Static_assert(sizeof(struct ff_fib_cache_slot4) == 64, "an IPv4 slot is one cache line");
_Static_assert(sizeof(struct ff_fib_cache_slot6) == 96, "an IPv6 slot is a line and a half");

/*
 * FF_FIB_CACHE_SLOTS(family) slots per CPU, each CPU its own range, in one array:
 * a per-CPU array places values 8-byte aligned, so 64-byte slots would
 * straddle two lines; a memory-mapped array starts on a page. The loader
 * sizes it to the CPUs (ff_fib_cache_entries); left at one CPU's worth, the
 * other CPUs find no slot and ask the FIB.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FF_FIB_CACHE_SLOTS4);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct ff_fib_cache_slot4);
} ff_fib_cache4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FF_FIB_CACHE_SLOTS6);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct ff_fib_cache_slot6);
} ff_fib_cache6 SEC(".maps");

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
	struct ff_fib_cache_slot *slot;  /* its key words follow it */
	/* Read BEFORE the FIB is asked: an answer stored with it dies with
	 * the first invalidation after the lookup began. */
	__u64 generation;
	__u16 tot_len;
};

#define ff_fib_cache_barrier() asm volatile("" ::: "memory")

static __always_inline __u32 *ff_fib_cache_slot_key(struct ff_fib_cache_slot *slot)
{
	return (__u32 *)(slot + 1);
}

/* family is a constant at every call site: the loops unroll to the words
 * of that family's key. */
static __always_inline int ff_fib_cache_key_equal(const __u32 *x, const struct ff_fib_cache_key *key,
						  const __u8 family)
{
	const __u32 *y = (const __u32 *)key;
	__u32 diff = 0;

#pragma unroll
	for (int i = 0; i < FF_FIB_CACHE_KEY_WORDS(family); i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

/* Counts a probe and moves this CPU's credit: hits earn, misses that evict
 * a live answer (conflict: other keys hold both slots of the set) cost. */
static __always_inline void ff_fib_cache_count(struct ff_fib_cache_stats *stats, int hit, int conflict)
{
	if (hit) {
		stats->hits++;
		if (stats->credit < FF_FIB_CACHE_CREDIT_MAX)
			stats->credit += FF_FIB_CACHE_HIT_CREDIT;
	} else {
		stats->misses++;
		if (conflict && stats->credit > FF_FIB_CACHE_CREDIT_MIN)
			stats->credit--;
	}
}

/* Slot index of every CPU's slots of the family's array; NULL past its end. */
static __always_inline struct ff_fib_cache_slot *ff_fib_cache_slot_at(__u32 index, const __u8 family)
{
	if (family == AF_INET)
		return bpf_map_lookup_elem(&ff_fib_cache4, &index);
	return bpf_map_lookup_elem(&ff_fib_cache6, &index);
}

enum {
	FF_FIB_CACHE_FREE,	/* never written, or from before the last invalidation */
	FF_FIB_CACHE_OTHER_KEY,	/* a live answer for another key */
	FF_FIB_CACHE_SAME_KEY,	/* this key, but unusable (shorter packets, a store ran in between) */
	FF_FIB_CACHE_HIT,
};

/* One way of the set: on a hit, the answer is in fib. */
static __always_inline int ff_fib_cache_try(struct ff_fib_cache_slot *slot, struct ff_fib_cache_probe *probe,
					    struct bpf_fib_lookup *fib, const __u8 family)
{
	__u32 sequence = slot->sequence;

	ff_fib_cache_barrier();
	if (sequence == 0 || slot->generation != probe->generation)
		return FF_FIB_CACHE_FREE;
	if (!ff_fib_cache_key_equal(ff_fib_cache_slot_key(slot), &probe->key, family))
		return FF_FIB_CACHE_OTHER_KEY;
	if ((sequence & 1) || probe->tot_len > slot->max_len)
		return FF_FIB_CACHE_SAME_KEY;
	fib->ifindex = slot->egress;
	__builtin_memcpy(fib->smac, slot->smac, sizeof(fib->smac));
	__builtin_memcpy(fib->dmac, slot->dmac, sizeof(fib->dmac));
	ff_fib_cache_barrier();
	/* A store that ran in between (a frame on this CPU interrupting a
	 * test run) may have mixed two answers: ask the FIB, from the
	 * ingress port again, not the egress just copied over it. */
	if (slot->sequence == sequence)
		return FF_FIB_CACHE_HIT;
	fib->ifindex = probe->key.head.ifindex;
	return FF_FIB_CACHE_SAME_KEY;
}

/*
 * Before bpf_fib_lookup: answers from the cache when it can, writing the
 * egress and both MACs into fib as the lookup would, and returns 1. Else
 * returns 0 and leaves in probe what ff_fib_cache_put needs (probe->slot
 * NULL: the cache is off, nothing to store).
 */
static __always_inline int ff_fib_cache_get(struct ff_fib_cache_probe *probe,
					    struct bpf_fib_lookup *fib, __u32 fib_flags,
					    const __u8 family)
{
	struct ff_fib_cache_control *control;
	struct ff_fib_cache_slot *way0, *way1;
	struct ff_fib_cache_stats *stats;
	__u32 zero = 0, index;
	int found0, found1;
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
	probe->key.head.ifindex = fib->ifindex;
	probe->key.head.fib_flags = fib_flags;
	probe->key.head.family = family;
	probe->key.head.l4_protocol = fib->l4_protocol;
	probe->key.head.tos = family == AF_INET ? fib->tos : 0;
	/* Marks a key without ports: never equal to one with ports 0. */
	probe->key.head.ports_free = (__u8)(ports_needed ^ 1);
	probe->key.head.sport = fib->sport & (__be16)(0 - ports_needed);
	probe->key.head.dport = fib->dport & (__be16)(0 - ports_needed);
	if (family == AF_INET) {
		probe->key.v4.src = fib->ipv4_src;
		probe->key.v4.dst = fib->ipv4_dst;
	} else {
		probe->key.v6.flowinfo = fib->flowinfo;
		__builtin_memcpy(probe->key.v6.src, fib->ipv6_src, sizeof(probe->key.v6.src));
		__builtin_memcpy(probe->key.v6.dst, fib->ipv6_dst, sizeof(probe->key.v6.dst));
	}
	probe->tot_len = fib->tot_len;
	index = bpf_get_smp_processor_id() * FF_FIB_CACHE_SLOTS(family) +
		FF_FIB_CACHE_WAYS * ff_fib_cache_set(&probe->key, family);
	way0 = ff_fib_cache_slot_at(index, family);
	way1 = ff_fib_cache_slot_at(index + 1, family);
	if (!way0 || !way1)
		return 0;
	found0 = ff_fib_cache_try(way0, probe, fib, family);
	if (found0 == FF_FIB_CACHE_HIT) {
		ff_fib_cache_count(stats, 1, 0);
		return 1;
	}
	found1 = ff_fib_cache_try(way1, probe, fib, family);
	if (found1 == FF_FIB_CACHE_HIT) {
		ff_fib_cache_count(stats, 1, 0);
		return 1;
	}
	/* The store goes where this key already is (an answer for shorter
	 * packets: one key never takes both ways), else to a way that holds
	 * nothing live, else to either at random: remembering which way was
	 * used last would write to the set at every hit. */
	if (found1 == FF_FIB_CACHE_SAME_KEY)
		probe->slot = way1;
	else if (found0 == FF_FIB_CACHE_SAME_KEY || found0 == FF_FIB_CACHE_FREE)
		probe->slot = way0;
	else if (found1 == FF_FIB_CACHE_FREE)
		probe->slot = way1;
	else
		probe->slot = bpf_get_prandom_u32() & 1 ? way1 : way0;
	ff_fib_cache_count(stats, 0, found0 == FF_FIB_CACHE_OTHER_KEY && found1 == FF_FIB_CACHE_OTHER_KEY);
	return 0;
}

/*
 * After bpf_fib_lookup: stores a SUCCESS answer. Only other answers' frames
 * go to the kernel, which is where they are decided anyway. The slot is
 * written whole between two sequence increments; a store that finds the
 * sequence odd interrupted another store on this CPU and gives way.
 */
static __always_inline void ff_fib_cache_put(const struct ff_fib_cache_probe *probe,
					     const struct bpf_fib_lookup *fib, int rc, const __u8 family)
{
	struct ff_fib_cache_slot *slot = probe->slot;
	__u32 sequence, *key;
	__u16 max_len;

	if (!slot || rc != BPF_FIB_LKUP_RET_SUCCESS)
		return;
	sequence = slot->sequence;
	if (sequence & 1)
		return;
	key = ff_fib_cache_slot_key(slot);
	max_len = probe->tot_len;
	if (slot->generation == probe->generation && slot->max_len > max_len &&
	    ff_fib_cache_key_equal(key, &probe->key, family))
		max_len = slot->max_len;
	slot->sequence = sequence + 1;
	ff_fib_cache_barrier();
	slot->generation = probe->generation;
	__builtin_memcpy(key, &probe->key, FF_FIB_CACHE_KEY_WORDS(family) * 4);
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
 * answer the cache already has. family is fib->family, as a constant.
 */
static __always_inline int ff_fib_lookup(struct xdp_md *ctx, struct bpf_fib_lookup *fib,
					 __u32 fib_flags, const __u8 family)
{
	/* Zeroed whole (about 20 stack stores): where get returns early, clang
	 * still copies the fields it left unset, key words included, and the
	 * verifier refuses reading an undefined register (EACCES). Setting
	 * only generation and tot_len was tried: refused on 6.18. */
	struct ff_fib_cache_probe probe = {};
	int rc;

	if (ff_fib_cache_get(&probe, fib, fib_flags, family))
		return BPF_FIB_LKUP_RET_SUCCESS;
	rc = bpf_fib_lookup(ctx, fib, sizeof(*fib), fib_flags);
	ff_fib_cache_put(&probe, fib, rc, family);
	return rc;
}

#endif
