/*
 * The contract between the XDP fast path (bpf/) and the agent (Sources/).
 *
 * Both sides compile this one header, so a counter, a map key or a config
 * field can never mean one thing in the kernel and another in Swift. Keep
 * every struct free of implicit padding: the BPF side and the host side must
 * agree byte for byte.
 */
#ifndef FIBFAST_FASTPATH_ABI_H
#define FIBFAST_FASTPATH_ABI_H

#include <linux/types.h>

/* The XDP program's name as the kernel reports it (at most 15 characters).
 * The CLI recognises fibfast's ports by it, so nothing needs to be pinned for
 * status, stats or detach to find them from any mount namespace. */
#define FF_PROGRAM_NAME "fibfast_xdp"

/* The tracepoint program through which the CLI finds the failure maps of a
 * running fast path (the XDP program does not reference them). */
#define FF_TRACE_PROGRAM_NAME "ff_devmap_xmit"

/* Names of the maps in the object, for lookups by name from the agent. */
#define FF_MAP_PORTS "ff_ports"
#define FF_MAP_PORT_INFO "ff_port_info"
#define FF_MAP_COUNTERS "ff_counters"
#define FF_MAP_CONFIG "ff_config"
#define FF_MAP_XDP_ERRORS "ff_xdp_errors"
#define FF_MAP_XDP_WATCH "ff_xdp_watch"
#define FF_MAP_LOCAL_V4 "ff_local_v4"
#define FF_MAP_PORT_INDEX "ff_port_index"
#define FF_MAP_LOCAL_V4_FILTER "ff_local_v4_filter"
#define FF_MAP_VLANS "ff_vlans"
#define FF_MAP_VLAN_EGRESS "ff_vlan_egress"
#define FF_MAP_FIB_CACHE4 "ff_fib_cache4"
#define FF_MAP_FIB_CACHE6 "ff_fib_cache6"
#define FF_MAP_FIB_CACHE_CONTROL "ff_cache_ctl"  /* map names: at most 15 characters */
#define FF_MAP_FIB_CACHE_STATS "ff_cache_stats"

/* The router's own IPv4 addresses the agent keeps in ff_local_v4. */
#define FF_MAX_LOCAL_V4 4096

/*
 * One bit per bucket of source addresses, set for every bucket that holds
 * one of the router's own addresses: a one-hash Bloom filter in front of
 * ff_local_v4. A clear bit proves the source is not the router's, for the
 * price of an inlined array lookup; only sources in a set bucket pay for
 * the hash lookup that decides. With the 65,536 buckets and a few hundred
 * addresses, under 1% of forwarded packets do.
 */
#define FF_LOCAL_V4_BUCKETS 65536

struct ff_local_v4_filter {
	__u64 words[FF_LOCAL_V4_BUCKETS / 64];
};

/* The bucket of an IPv4 address as the packet carries it (network order):
 * Fibonacci hashing, the top 16 bits of a multiplication. */
static inline __u32 ff_local_v4_bucket(__u32 address)
{
	return (__u32)(address * 2654435761u) >> 16;
}

#define FF_MAX_PORTS 256
/* Counter slot for frames from a port the agent has not configured (yet). */
#define FF_SLOT_UNKNOWN (FF_MAX_PORTS - 1)

/*
 * What the fast path did with a frame. FF_FORWARDED is the only verdict that
 * leaves in XDP; every FF_PASS_* hands the frame to the kernel untouched.
 * The order is part of the ABI: append, never renumber.
 */
enum ff_verdict {
	FF_FORWARDED = 0,        /* redirected out of a fast-path port */
	FF_PASS_NOT_IP,          /* ARP, VLAN-tagged, any other ethertype */
	FF_PASS_MALFORMED,       /* truncated or invalid header, bad IPv4 checksum */
	FF_PASS_NOT_FOR_ROUTER,  /* L2 destination is not the port's MAC (multicast, broadcast, other host) */
	FF_PASS_TTL_EXPIRED,     /* TTL / hop limit <= 1: the kernel sends time exceeded */
	FF_PASS_IP_OPTIONS,      /* IPv4 options or IPv6 extension headers */
	FF_PASS_SPECIAL_ADDRESS, /* link-local, multicast, broadcast, loopback, unspecified, martian */
	FF_PASS_ICMP_ERROR,      /* ICMP errors: the kernel hashes them by the inner flow */
	FF_PASS_NOT_FORWARDED,   /* FIB: local address, broadcast, or no route at all */
	FF_PASS_UNREACHABLE,     /* FIB: blackhole, unreachable or prohibit route */
	FF_PASS_FORWARDING_OFF,  /* FIB: forwarding disabled on the ingress port */
	FF_PASS_NO_NEIGHBOUR,    /* FIB: next hop has no resolved neighbour entry */
	FF_PASS_MTU,             /* FIB: larger than the egress MTU */
	FF_PASS_UNSUPPORTED,     /* FIB: tunnel (lwt) routes, no source address, anything else */
	FF_PASS_SAME_PORT,       /* egress == ingress: the kernel may send an ICMP redirect */
	FF_PASS_PORT_NOT_FAST,   /* egress port is not in the fast path (down, not attached) */
	FF_PASS_UNKNOWN_PORT,    /* ingress port not (yet) configured by the agent */
	FF_PASS_STEPPED_ASIDE,   /* the agent told the fast path to let the kernel forward */
	FF_TRANSMITTED,          /* egress side: frames sent out of this port by the fast path */
	FF_PASS_SOURCE_CHECK,    /* IPv4 source fails rp_filter, or is not a unicast route (e.g. the router's own) */
	FF_PASS_NO_XDP_TRANSMIT, /* egress port's device cannot take a redirect from this port (VLAN, macvlan, ...) */
	FF_PASS_VLAN,            /* a tag that is no VLAN port's, a priority or stacked tag, a priority the fast path cannot map */
	FF_PASS_INACTIVE_MEMBER, /* arrived on a bond member the bond does not deliver from (backup, outside the active aggregator) */
	FF_PASS_FRAGMENT_HASH,   /* IPv6 fragment whose multipath next hop depends on the hash policy */
	FF_VERDICT_COUNT
};

/*
 * Counters live in a per-CPU array, one row of FF_VERDICT_COUNT entries per
 * port slot. Ingress verdicts are counted on the port the frame arrived on;
 * FF_TRANSMITTED on the port it left by. An array (rather than a hash keyed
 * by ifindex) keeps counting to a couple of instructions per packet; the
 * agent hands out slots and records them in ff_port_info. A function, not
 * a macro, so that Swift calls the very arithmetic the program runs.
 */
#define FF_COUNTER_ENTRIES (FF_MAX_PORTS * FF_VERDICT_COUNT)

static inline __u32 ff_counter_index(__u32 slot, __u32 verdict)
{
	return slot * FF_VERDICT_COUNT + verdict;
}

struct ff_counter {
	__u64 packets;
	__u64 bytes;
};

/*
 * What the fast path must know of each port it receives on or sends by.
 *
 * A port is the device the kernel routes by (the ifindex the FIB names).
 * For a plain Ethernet port that is also the device the XDP program runs
 * on and the frame leaves by; for a VLAN sub-interface or a bond it is not,
 * and the fields below say where the frame really arrives and leaves. Zero
 * in any of them means "the port itself", so a plain port needs none.
 */
struct ff_port_info {
	__u8 mac[6];  /* frames to any other L2 address go to the kernel */
	__u16 flags;  /* FF_PORT_* */
	__u32 slot;   /* row in the counter array, < FF_MAX_PORTS */
	/* Egress: the device the frame is handed to (the devmap key): a VLAN
	 * port's lower device; 0 for the port itself. */
	__u32 transmit_ifindex;
	/* Egress: the tag a VLAN port's frames carry, pushed in XDP: TPID
	 * (network order) and VID; 0 and 0 for an untagged port. */
	__be16 vlan_proto;
	__u16 vlan_id;
	/* Ingress: the port the kernel sees a frame arriving on this device
	 * as arriving on (a bond member's bond); 0 for this device itself. */
	__u32 member_of;
	/* Ingress: the VRF device the port is enslaved to, whose table the
	 * kernel validates its sources in (fib_validate_source); 0 outside any
	 * VRF. */
	__u32 source_ifindex;
	__u32 reserved;
};

/*
 * ff_port_info is a hash keyed by ifindex, and a hash lookup costs about
 * 30 ns here, as much as a fifth of a forwarded packet's time in the
 * program. The fast path therefore reads ports with an ifindex below
 * FF_PORT_INDEX_SIZE from ff_port_index, an array indexed by ifindex whose
 * lookups the verifier inlines; the agent writes every port to both, and
 * ff_port_info stays the complete table that the CLI reads.
 */
#define FF_PORT_INDEX_SIZE 65536

/* The port takes part in the fast path: frames received on it are looked up,
 * frames may be redirected to it. Cleared while the port is down. */
#define FF_PORT_ENABLED (1 << 0)
/* The kernel's effective IPv4 rp_filter on this port, max(conf.all,
 * conf.PORT), as the agent last read it: strict (1) or loose (2). */
#define FF_PORT_RPF_STRICT (1 << 1)
#define FF_PORT_RPF_LOOSE (1 << 2)
/* The entry describes a port: an ff_port_index slot without it is all
 * zeroes, no port. */
#define FF_PORT_LISTED (1 << 3)
/* A frame redirected from native XDP leaves by this port only if its driver
 * has an XDP transmit path (ndo_xdp_xmit); VLAN, macvlan, bridge and tunnel
 * devices have none, and a veth has one only while its peer runs XDP or GRO.
 * Without it the redirect fails and the frame is lost, so the agent sets
 * this only where the kernel (or the operator) says a redirect will succeed. */
#define FF_PORT_XDP_TRANSMIT (1 << 4)
/* The program runs in generic (skb) mode on this port. A redirect from a
 * generic-mode port is sent by the egress device's ordinary transmit
 * function, which every device has, so it needs no XDP transmit path. */
#define FF_PORT_GENERIC (1 << 5)
/* Something on the port that XDP would bypass (a tc filter, a shaping
 * qdisc): frames arriving on it and frames routed out of it go to the
 * kernel, which runs it. */
#define FF_PORT_STEPPED_ASIDE (1 << 6)
/* A bond member's entry (member_of set): the bond delivers what arrives on
 * it (an active slave). Without it its frames are the kernel's. */
#define FF_PORT_BOND_DELIVERS (1 << 7)

/*
 * VLAN ports. A tagged frame on a device that carries VLAN ports arrives,
 * for the kernel, on the VLAN device of its TPID and VID (vlan_do_receive):
 * ff_vlans maps (receiving device, TPID, VID) to that device and to the
 * skb priority the kernel would give the frame (its ingress-qos-map).
 */
struct ff_vlan_key {
	__u32 ifindex;  /* the lower device the tag arrives on */
	__be16 proto;   /* TPID, network order */
	__u16 vid;
};

struct ff_vlan_arrival {
	__u32 ifindex;                /* the VLAN port */
	__u32 ingress_priority[8];    /* skb->priority for each PCP (ingress-qos-map) */
};

/* ff_vlan_egress, an array by the VLAN port's counter slot: the PCP its
 * egress-qos-map gives skb priorities 0 to 7, 3 bits each (priority p in
 * bits 3p..3p+2), and FF_VLAN_EGRESS_LISTED. A frame with a priority above
 * 7 (only IPv6, from an ingress-qos-map) goes to the kernel. */
#define FF_VLAN_EGRESS_LISTED (1u << 31)

/* The PCP an ff_vlan_egress word gives skb priority `priority` (0 to 7). */
static inline __u32 ff_vlan_egress_pcp(__u32 word, __u32 priority)
{
	return (word >> (3 * priority)) & 7;
}

/* `word` with the PCP of skb priority `priority` (0 to 7) set to `pcp`. */
static inline __u32 ff_vlan_egress_set_pcp(__u32 word, __u32 priority, __u32 pcp)
{
	return (word & ~(7u << (3 * priority))) | ((pcp & 7) << (3 * priority));
}

/* Single-entry array map, key 0: set by the agent, read on every packet. */
struct ff_config {
	__u32 fib_flags;     /* BPF_FIB_LOOKUP_* flags: 0 (policy rules honoured) or DIRECT */
	__u32 flags;         /* FF_CONFIG_* */
	__u32 agent_pid;     /* pid of the agent that owns the fast path, 0 if none */
	__u32 reserved;
	__u64 agent_started; /* agent start, seconds since the epoch */
};

#define FF_CONFIG_STEP_ASIDE (1 << 0) /* pass every packet to the kernel */
/* The kernel validates sources with a full FIB lookup even where rp_filter
 * is off, because policy rules or user-added local routes exist
 * (fib_validate_source); without them it only refuses its own addresses,
 * which ff_local_v4 answers for a fraction of a lookup's cost. */
#define FF_CONFIG_FULL_SOURCE_CHECK (1 << 1)
/* Conntrack is in use in the namespace: its defrag hooks make the kernel
 * hold fragments, forwarded ones too, until the packet is whole. Fragments
 * of both families then go to the kernel (counted as stepped aside). */
#define FF_CONFIG_FRAGMENTS_TO_KERNEL (1 << 2)

/*
 * The FIB answer cache (bpf/lib/fib_cache.h; why it is never stale:
 * docs/architecture.md). Slots per CPU and family, powers of two, in sets of
 * FF_FIB_CACHE_WAYS adjacent slots: a hash of the lookup's inputs picks the
 * set, and an answer may sit in either of its slots. 4 MiB of IPv4 slots
 * (one line each) and 3 MiB of IPv6 ones per CPU. In the bench (quiet
 * machine, 4 rounds each, 2026-12-03), one slot per hash value hit 89.6%
 * (IPv4) and 85% (IPv6) of Zipf traffic over a full table and 93% / 88.6%
 * of the paper's 4,000 destinations, most misses being keys that share a
 * slot and evict each other; two ways per set hit 95% / 91.5% and 99.8% /
 * 98.3%. Its maps hold every CPU's slots in one array: the loader sizes them
 * with ff_fib_cache_entries.
 */
#define FF_FIB_CACHE_SLOT_BITS4 16
#define FF_FIB_CACHE_SLOT_BITS6 15
#define FF_FIB_CACHE_SLOTS4 (1u << FF_FIB_CACHE_SLOT_BITS4)
#define FF_FIB_CACHE_SLOTS6 (1u << FF_FIB_CACHE_SLOT_BITS6)
/* family: AF_INET or AF_INET6; this header does not include socket.h. */
#define FF_AF_INET 2
#define FF_FIB_CACHE_SLOT_BITS(family) ((family) == FF_AF_INET ? FF_FIB_CACHE_SLOT_BITS4 : FF_FIB_CACHE_SLOT_BITS6)
#define FF_FIB_CACHE_SLOTS(family) (1u << FF_FIB_CACHE_SLOT_BITS(family))
#define FF_FIB_CACHE_WAY_BITS 1
#define FF_FIB_CACHE_WAYS (1u << FF_FIB_CACHE_WAY_BITS)
#define FF_FIB_CACHE_SET_BITS(family) (FF_FIB_CACHE_SLOT_BITS(family) - FF_FIB_CACHE_WAY_BITS)

static inline __u32 ff_fib_cache_entries(__u32 possible_cpus, __u8 family)
{
	return possible_cpus * FF_FIB_CACHE_SLOTS(family);
}

/*
 * Everything bpf_fib_lookup reads to decide, as the fast path fills it in:
 * the ingress port, the flags, the addresses, TOS or flow label, and the
 * transport fields the multipath hash and the rules may use. tot_len is left
 * out: an answer holds for every length up to the largest one the FIB
 * accepted (the MTU check is tot_len > mtu, nothing else). An IPv4 key is
 * the head and two addresses; an IPv6 key adds the flow label and three
 * more words per address.
 */
struct ff_fib_cache_key_head {
	__u32 ifindex;
	__u32 fib_flags;
	__u8 family;
	__u8 l4_protocol;
	__u8 tos;
	__u8 ports_free;  /* 1: sport and dport left out (ff_fib_cache_control) */
	__be16 sport;
	__be16 dport;
};

struct ff_fib_cache_key {
	struct ff_fib_cache_key_head head;
	union {
		struct {
			__be32 src;
			__be32 dst;
		} v4;
		struct {
			__be32 flowinfo;
			__u32 src[4];
			__u32 dst[4];
		} v6;
	};
};

#define FF_FIB_CACHE_KEY_WORDS(family)                                                   \
	((sizeof(struct ff_fib_cache_key_head) +                                         \
	  ((family) == FF_AF_INET ? sizeof(((struct ff_fib_cache_key *)0)->v4)             \
			 : sizeof(((struct ff_fib_cache_key *)0)->v6))) / 4)

/* Odd 64-bit constants with bits all over (golden ratio, murmur3's and
 * splitmix64's), one per 8 bytes of key. */
#define FF_FIB_CACHE_HASH_MIX(i)                                                         \
	((i) == 0 ? 0x9e3779b97f4a7c15ull : (i) == 1 ? 0xc2b2ae3d27d4eb4full :           \
	 (i) == 2 ? 0x165667b19e3779f9ull : (i) == 3 ? 0xd6e8feb86659fd93ull :           \
	 (i) == 4 ? 0xff51afd7ed558ccdull : (i) == 5 ? 0xc4ceb9fe1a85ec53ull :           \
	 (i) == 6 ? 0x94d049bb133111ebull : 0xbf58476d1ce4e5b9ull)

/*
 * A multiply carries a bit only upwards, so the index is taken from the top
 * bits, which every bit of the key reaches. Taking the low bits, as before,
 * left out most of an address's last octet (the top byte of its
 * little-endian word): 3,000 consecutive addresses took 1,536 of 65,536
 * slots and evicted each other. The products are independent of each
 * other, so the CPU runs them side by side: no chain of multiplies. Here,
 * not in bpf/, so that a test can pick destinations that share a set.
 * Returns the set: its slots are FF_FIB_CACHE_WAYS * set and the next one.
 */
static inline __attribute__((always_inline)) __u32
ff_fib_cache_set(const struct ff_fib_cache_key *key, const __u8 family)
{
	const __u64 *chunk = (const __u64 *)key;
	const int words = FF_FIB_CACHE_KEY_WORDS(family);
	__u64 hash = 0;

#pragma unroll
	for (int i = 0; i < words / 2; i++)
		hash += chunk[i] * FF_FIB_CACHE_HASH_MIX(i);
	if (words % 2)
		hash += (__u64)((const __u32 *)key)[words - 1] * FF_FIB_CACHE_HASH_MIX(words / 2);
	hash ^= hash >> 32;
	hash *= 0x9e3779b97f4a7c15ull;
	return (__u32)(hash >> (64 - FF_FIB_CACHE_SET_BITS(family)));
}

/*
 * Single-entry array map, key 0, memory-mapped by the agent (BPF_F_MMAPABLE)
 * so that it can advance the generation with one atomic add, as the kernel
 * hooks do. An answer is used only while the generation it was stored at is
 * still the current one.
 */
struct ff_fib_cache_control {
	__u64 generation;    /* advanced after every change the FIB answer may depend on */
	__u32 enabled;       /* 0: every frame asks the FIB (attach --no-fib-cache) */
	__u32 hooks_attached; /* bit per enum ff_fib_cache_hook the agent attached */
	__u32 hooks_tried;    /* bit per hook the agent tried (the others: not on this kernel's list) */
	__u32 reserved;
	/* SO_COOKIE of the agent's rtnetlink event socket: a notification
	 * queued there means the kernel changed something (FF_HOOK_NETLINK_*) */
	__u64 event_socket_cookie;
	/* Advanced, before the generation, by every change that may make FIB
	 * answers depend on L4 ports (a rule with a port selector): the rule
	 * hooks, the netlink pair and the agent. Not by neighbour changes. */
	__u64 ports_generation;
	/* ports_generation + 1 when the agent last found, after reading
	 * ports_generation, that no answer depends on ports (no rule with a
	 * port selector, no multipath hash over ports): while both still agree,
	 * the cache key leaves the ports out and one answer serves every flow
	 * between two addresses. 0: never. */
	__u64 ports_free_at;
};

/* The kernel functions and tracepoints after which a hook advances the
 * generation. The order is part of the ABI: append, never renumber. */
enum ff_fib_cache_hook {
	FF_HOOK_NEIGH_UPDATE_DONE = 0, /* tp_btf: __neigh_update finished (new MAC, new state) */
	FF_HOOK_NEIGH_TIMER,           /* tp_btf: the neighbour timer changed a state (FAILED, STALE) */
	FF_HOOK_NEIGH_RELEASE,         /* tp_btf: an entry left the table (flush, gc, delete) */
	FF_HOOK_FIB_TABLE_INSERT,      /* fexit: IPv4 route added or replaced */
	FF_HOOK_FIB_TABLE_DELETE,      /* fexit: IPv4 route deleted */
	FF_HOOK_RT_CACHE_FLUSH,        /* fexit: IPv4 link up/down, MTU, address, forwarding changes */
	FF_HOOK_FIB6_ADD,              /* fexit: IPv6 route added or replaced */
	FF_HOOK_FIB6_DEL,              /* fexit: IPv6 route deleted */
	FF_HOOK_FIB_NL_NEWRULE,        /* fexit: policy rule added (both families) */
	FF_HOOK_FIB_NL_DELRULE,        /* fexit: policy rule deleted */
	FF_HOOK_RTM_NEW_NEXTHOP,       /* fexit: nexthop object added or replaced */
	FF_HOOK_RTM_DEL_NEXTHOP,       /* fexit: nexthop object deleted */
	FF_HOOK_RT6_SYNC_DOWN_DEV,     /* fexit: IPv6 routes of a device going down or losing carrier */
	FF_HOOK_RT6_SYNC_UP,           /* fexit: IPv6 routes of a device coming up */
	FF_HOOK_RT6_MTU_CHANGE,        /* fexit: IPv6 route MTUs follow a device's */
	FF_HOOK_NETLINK_NOTIFY,        /* tp_btf sk_data_ready: a notification reached the agent's event socket */
	FF_HOOK_NETLINK_REQUEST_DONE,  /* tp_btf sock_send_length: a request that notified has been applied */
	FF_HOOK_COUNT
};

/* Advances the generation: one atomic add, the same instruction from the
 * hooks and from the agent. */
static inline void ff_fib_cache_invalidate(struct ff_fib_cache_control *control)
{
	__sync_fetch_and_add(&control->generation, 1);
}

/* The same, after a change that may also make answers depend on ports:
 * ports_generation first, so that a frame that reads the new generation
 * reads the new ports_generation too. */
static inline void ff_fib_cache_invalidate_ports(struct ff_fib_cache_control *control)
{
	__sync_fetch_and_add(&control->ports_generation, 1);
	__sync_fetch_and_add(&control->generation, 1);
}

/* Whether keys leave the ports out now, for the agent (the fast path asks
 * the same without a branch, see ff_fib_cache_get). */
static inline int ff_fib_cache_ports_left_out(struct ff_fib_cache_control control)
{
	return control.ports_free_at == control.ports_generation + 1;
}

/* Per-CPU array, key 0: what the cache did, summed over the CPUs by the
 * agent. Invalidations are the generation itself. */
struct ff_fib_cache_stats {
	__u64 hits;
	__u64 misses;   /* asked the FIB: looked up and missed, or bypassed */
	__u64 bypassed; /* of the misses, those that skipped the cache (see credit) */
	/* What the cache earned on this CPU lately: +FF_FIB_CACHE_HIT_CREDIT per
	 * hit, -1 per miss that evicts a live answer, within [CREDIT_MIN,
	 * CREDIT_MAX]. Below FF_FIB_CACHE_BYPASS_BELOW the CPU bypasses the
	 * cache but for one lookup in FF_FIB_CACHE_SAMPLE: where under one
	 * lookup in 9 hits, the probe and the store cost more than the hits
	 * save (a sprayed table). Misses on empty or invalidated slots cost
	 * nothing: a cold cache, or every cache after a route change, misses
	 * once per destination, and counting those switched the cache off for
	 * any working set over 512 destinations, to fill again at one store in
	 * 256 (the paper's 4,000 destinations: 28-56% skipped in some rounds).
	 * From the floor, 64 sampled hits switch it back on. */
	__s64 credit;
};

#define FF_FIB_CACHE_HIT_CREDIT 8
#define FF_FIB_CACHE_CREDIT_MAX 1024
#define FF_FIB_CACHE_CREDIT_MIN (-1024)
#define FF_FIB_CACHE_BYPASS_BELOW (-512)
#define FF_FIB_CACHE_SAMPLE 256

/*
 * Failures after the fast path said "forward": the kernel reports them only
 * through its XDP tracepoints, which programs in the same object (see
 * bpf/xdp_failures.bpf.c) count per port. Without them a port that cannot
 * transmit (a veth whose peer has no XDP program) would look like silence.
 * The order is part of the ABI: append, never renumber.
 */
enum ff_xdp_error_kind {
	FF_XDP_ERR_REDIRECT = 0, /* xdp_redirect_err: the egress port refused the frame; egress port */
	FF_XDP_ERR_TRANSMIT,     /* xdp_devmap_xmit drops: the egress driver did not send; egress port */
	FF_XDP_ERR_EXCEPTION,    /* xdp_exception: aborted or invalid action in the driver; ingress port */
	FF_XDP_ERR_COUNT
};

/* Per-CPU array, one row of FF_XDP_ERR_COUNT entries per port slot. */
#define FF_XDP_ERROR_ENTRIES (FF_MAX_PORTS * FF_XDP_ERR_COUNT)

static inline __u32 ff_xdp_error_index(__u32 slot, __u32 kind)
{
	return slot * FF_XDP_ERR_COUNT + kind;
}

struct ff_xdp_error {
	__u64 frames;      /* frames lost */
	__s32 last_code;   /* latest event: negative errno, or the XDP action for exceptions */
	__u32 reserved;
};

/* Single-entry array map, key 0: tells the tracepoint programs which events
 * are ours. The tracepoints fire for every XDP program in every network
 * namespace, and ifindexes repeat between namespaces. Zero: count nothing. */
struct ff_xdp_watch {
	__u64 netns_cookie;  /* SO_NETNS_COOKIE of the agent's namespace */
	__u32 xdp_prog_id;   /* the fast path's XDP program */
	__u32 reserved;
};

#endif
