/*
 * Asking the kernel's FIB, and what each of its answers means for a frame.
 */
#ifndef FIBFAST_FIB_H
#define FIBFAST_FIB_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fastpath_abi.h"
#include "maps.h"
#include "vrf.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/*
 * Maps bpf_fib_lookup's return code to a verdict. Everything but SUCCESS
 * goes to the kernel untouched; the comment on each says what it does then.
 */
static __always_inline __u32 ff_fib_verdict(int rc)
{
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		/* A unicast route with a resolved next hop: ours to forward. */
		return FF_FORWARDED;
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		/* A route that says no: the kernel drops it (blackhole) or
		 * answers ICMP destination unreachable / prohibited. */
		return FF_PASS_UNREACHABLE;
	case BPF_FIB_LKUP_RET_NOT_FWDED:
		/* Not a forwarding route: a local or broadcast address (the
		 * kernel delivers it to the router itself), or no route at
		 * all (the FIB reports ENETUNREACH as this code; the kernel
		 * answers ICMP network unreachable). */
		return FF_PASS_NOT_FORWARDED;
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
		/* Forwarding is off for this family or ingress device: the
		 * kernel drops it (or delivers it, if it is local). */
		return FF_PASS_FORWARDING_OFF;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		/* No valid neighbour for the next hop: the kernel queues the
		 * packet, resolves ARP / ND, and sends it; the next packets
		 * then come back to the fast path. */
		return FF_PASS_NO_NEIGHBOUR;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		/* Larger than the egress MTU: the kernel fragments it (IPv4
		 * without DF) or sends fragmentation needed / packet too big. */
		return FF_PASS_MTU;
	case BPF_FIB_LKUP_RET_UNSUPP_LWT:
		/* The route encapsulates (MPLS, seg6, ...): the kernel does it. */
	default:
		/* Anything newer than this program (NO_SRC_ADDR needs a flag
		 * we do not set): the kernel knows what to do. */
		return FF_PASS_UNSUPPORTED;
	}
}

/* One of the router's own addresses? The filter answers "no" for almost
 * every source without a hash lookup; ff_local_v4 decides the rest. */
static __always_inline int ff_ipv4_is_local(__be32 address)
{
	__u32 zero = 0, bucket = ff_local_v4_bucket(address);
	struct ff_local_v4_filter *filter = bpf_map_lookup_elem(&ff_local_v4_filter, &zero);

	if (filter && !(filter->words[(bucket / 64) % (FF_LOCAL_V4_BUCKETS / 64)] & (1ULL << (bucket % 64))))
		return 0;
	return bpf_map_lookup_elem(&ff_local_v4, &address) != NULL;
}

/*
 * The source validation ip_route_input_slow makes before it forwards
 * (fib_validate_source).
 *  - rp_filter off, no policy rules, no user-added local routes: the kernel
 *    only refuses a source that is one of its own addresses (a hash lookup,
 *    inet_lookup_ifaddr_rcu); so does the fast path, in ff_local_v4.
 * Otherwise the source is looked up as a destination, from the forward
 * route's egress port as the kernel does (or from the ingress port's VRF
 * device: see ff_source_check_ifindex), with the packet's destination as
 * the source address:
 *  - rp_filter off (full check): own addresses answer "local", not SUCCESS.
 *  - loose: the source needs a unicast route.
 *  - strict: that route must leave by the port the packet came in on.
 * Whatever this lookup cannot vouch for goes to the kernel, which decides, so
 * the check may only be stricter than the kernel's (an ECMP route whose
 * hashed next hop is another port), never looser. The lookup never uses
 * DIRECT: the router's own addresses live in the local table, which a
 * rule-free lookup skips.
 */
static __always_inline int ff_ipv4_source_ok(struct xdp_md *ctx,
					     const struct iphdr *iph,
					     const struct ff_port_info *port,
					     __u32 ifindex, __u32 egress, __u32 config_flags)
{
	struct bpf_fib_lookup rev = {};
	__u16 port_flags = port->flags;
	int rc;

	if (!(port_flags & (FF_PORT_RPF_STRICT | FF_PORT_RPF_LOOSE)) &&
	    !(config_flags & FF_CONFIG_FULL_SOURCE_CHECK))
		return !ff_ipv4_is_local(iph->saddr);

	rev.family = AF_INET;
	rev.tos = iph->tos;
	rev.ipv4_src = iph->daddr;
	rev.ipv4_dst = iph->saddr;
	rev.ifindex = ff_source_check_ifindex(port, egress);
	/* The route back needs no neighbour: NO_NEIGH comes only after a
	 * unicast route was found and its egress written. Kernels before 6.3
	 * refuse BPF_FIB_LOOKUP_SKIP_NEIGH (EINVAL), hence both answers. */
	rc = bpf_fib_lookup(ctx, &rev, sizeof(rev), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return 0;
	if (port_flags & FF_PORT_RPF_STRICT)
		return rev.ifindex == ifindex;
	return 1;
}

#endif
