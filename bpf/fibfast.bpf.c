// SPDX-License-Identifier: GPL-2.0
/*
 * fibfast: forward in XDP exactly what the kernel would forward, the way it
 * would, and hand everything else to the kernel untouched (XDP_PASS).
 *
 * What goes to the kernel, and why (following ip_rcv/ip_forward and
 * ipv6_rcv/ip6_forward):
 *  - not IPv4/IPv6 (ARP, VLAN tags, ...): the kernel's protocol handlers.
 *  - L2 destination other than the port's own MAC: the kernel delivers
 *    multicast/broadcast frames locally and drops PACKET_OTHERHOST ones.
 *  - truncated or malformed headers, IPv4 checksum errors: ip_rcv and
 *    ipv6_rcv drop them and count the error.
 *  - TTL / hop limit <= 1: ICMP time exceeded comes from the kernel.
 *  - IPv4 options, IPv6 extension headers: router alert, source routes and
 *    friends are processed by the kernel; the rest are rare in transit.
 *    A lone Fragment header is the exception: ip6_forward forwards such a
 *    fragment unchanged, and so does the fast path (see ff_ipv6_fragment),
 *    unless the multipath hash policies disagree on its next hop (see
 *    ff_ipv6_fragment_agrees).
 *  - link-local, multicast, broadcast, loopback, unspecified or v4-mapped
 *    addresses: martian checks, scope errors and multicast routing.
 *  - ICMP errors: their multipath hash follows the inner flow.
 *  - every FIB answer but SUCCESS: see lib/fib.h.
 *  - egress port == ingress port: the kernel may owe the sender a redirect.
 *  - egress port not in the fast path, or one whose device cannot take a
 *    redirect from here (no XDP transmit path): the frame would be lost.
 *  - ports the agent handed to the kernel (tc filters or shaping on them).
 *  - frames on a bond member the bond would not deliver from (a backup
 *    slave, one outside the active aggregator): bond_handle_frame hands
 *    those to exact-match handlers only. See lib/bond.h.
 *  - IPv4 sources the kernel would refuse: its own addresses, and under
 *    rp_filter those without a route back (loose) or whose route back
 *    leaves by another port (strict). See ff_ipv4_source_ok.
 * bpf_fib_lookup bypasses netfilter: the agent refuses to attach where
 * forward-path rules exist, and steps aside when they appear. Conntrack in
 * use anywhere in the namespace makes the kernel reassemble fragments
 * before it forwards them: then fragments go to the kernel
 * (FF_CONFIG_FRAGMENTS_TO_KERNEL).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "fastpath_abi.h"
#include "lib/maps.h"
#include "lib/ports.h"
#include "lib/counters.h"
#include "lib/parse.h"
#include "lib/fib.h"
#include "lib/fib_cache.h"
#include "lib/rewrite.h"
#include "lib/vlan.h"
#include "lib/bond.h"

/* The port a frame arrived on, as the kernel routes it: the device the FIB
 * is asked from, and that device's entry. */
struct ff_ingress {
	const struct ff_port_info *port;
	__u32 ifindex;
	__u32 priority;  /* skb->priority the kernel gives the frame on arrival */
};

/* What a family handler hands back when it decides to forward. */
struct ff_forward {
	__u32 egress_ifindex;    /* the port the FIB chose */
	__u32 transmit_ifindex;  /* the device the frame is handed to (devmap key) */
	__u32 egress_slot;
	__u32 trim;  /* link-layer padding beyond the IP length, to cut */
	__u32 priority;      /* skb->priority when the frame leaves (lib/vlan.h) */
	__be16 vlan_proto;   /* the egress port's tag, 0 for none */
	__u16 vlan_tci;
};

static __always_inline __u32 ff_egress(const struct bpf_fib_lookup *fib,
				       __u32 ingress, __u16 in_flags, struct ff_forward *out)
{
	__u32 egress = fib->ifindex;
	struct ff_port_info *port;
	int tci;

	if (egress == ingress)
		return FF_PASS_SAME_PORT;
	port = ff_port(egress);
	if (!port || !(port->flags & FF_PORT_ENABLED) || port->slot >= FF_MAX_PORTS)
		return FF_PASS_PORT_NOT_FAST;
	if (port->flags & FF_PORT_STEPPED_ASIDE)
		return FF_PASS_STEPPED_ASIDE;
	/* From native XDP the frame goes to the egress driver's XDP transmit
	 * path; from generic XDP it goes through the device's ordinary one. */
	if (!(port->flags & FF_PORT_XDP_TRANSMIT) && !(in_flags & FF_PORT_GENERIC))
		return FF_PASS_NO_XDP_TRANSMIT;
	out->egress_ifindex = egress;
	out->transmit_ifindex = port->transmit_ifindex ?: egress;
	out->egress_slot = port->slot;
	tci = ff_vlan_egress_tci(port->vlan_proto, port->slot, port->vlan_id, out->priority);
	if (tci < 0)
		return FF_PASS_VLAN;
	out->vlan_proto = port->vlan_proto;
	out->vlan_tci = (__u16)tci;
	return FF_FORWARDED;
}

/* Asks the FIB and checks the answer leaves by a fast-path port. */
static __always_inline __u32 ff_route(struct xdp_md *ctx, struct bpf_fib_lookup *fib,
				      __u32 fib_flags, const struct ff_ingress *in,
				      struct ff_forward *out, const __u8 family)
{
	__u32 verdict;

	fib->ifindex = in->ifindex;
	verdict = ff_fib_verdict(ff_fib_lookup(ctx, fib, fib_flags, family));
	if (verdict != FF_FORWARDED)
		return verdict;
	return ff_egress(fib, in->ifindex, in->port->flags, out);
}

/* Fills the multipath hash's transport fields from the header at l4, and
 * hands ICMP errors to the kernel (their hash follows the inner flow).
 * icmp is the family's ICMP protocol number, a constant per call site. */
static __always_inline __u32 ff_transport(struct bpf_fib_lookup *fib, void *l4,
					  void *data_end, __u8 proto, const __u8 icmp)
{
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		struct ff_l4_ports *ports = l4;

		if ((void *)(ports + 1) > data_end)
			return FF_PASS_MALFORMED;
		fib->sport = ports->source;
		fib->dport = ports->dest;
	} else if (proto == icmp) {
		struct ff_icmp *header = l4;

		if ((void *)(header + 1) > data_end)
			return FF_PASS_MALFORMED;
		if (icmp == IPPROTO_ICMP ? ff_icmp_is_error(header->type) : ff_icmp6_is_error(header->type))
			return FF_PASS_ICMP_ERROR;
	}
	return FF_FORWARDED;
}

static __always_inline __u32 ff_ipv4(struct xdp_md *ctx, struct ethhdr *eth,
				     const struct ff_config *config, const struct ff_ingress *in,
				     struct ff_forward *out)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *iph = (void *)(eth + 1);
	struct bpf_fib_lookup fib = {};
	__u32 frame_len, ip_len, verdict;

	if ((void *)(iph + 1) > data_end)
		return FF_PASS_MALFORMED;
	if (iph->version != 4 || iph->ihl < 5)
		return FF_PASS_MALFORMED;
	ip_len = bpf_ntohs(iph->tot_len);
	frame_len = (__u32)((void *)data_end - (void *)eth);
	if (ip_len < sizeof(*iph) || sizeof(*eth) + ip_len > frame_len)
		return FF_PASS_MALFORMED;
	/* Options first: the checksum below covers the 20-byte header only. */
	if (iph->ihl > 5)
		return FF_PASS_IP_OPTIONS;
	if (!ff_ipv4_checksum_ok(iph))
		return FF_PASS_MALFORMED;
	if (ff_ipv4_special(iph->saddr) || ff_ipv4_special(iph->daddr))
		return FF_PASS_SPECIAL_ADDRESS;
	if (iph->ttl <= 1)
		return FF_PASS_TTL_EXPIRED;
	if ((iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)) && (config->flags & FF_CONFIG_FRAGMENTS_TO_KERNEL))
		return FF_PASS_STEPPED_ASIDE;

	fib.family = AF_INET;
	fib.tos = iph->tos;
	fib.l4_protocol = iph->protocol;
	fib.tot_len = ip_len;
	fib.ipv4_src = iph->saddr;
	fib.ipv4_dst = iph->daddr;

	/* Only an unfragmented packet has its ports where the kernel's flow
	 * dissector looks for them; for fragments it hashes on L3 alone. */
	if (!(iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))) {
		verdict = ff_transport(&fib, iph + 1, data_end, iph->protocol, IPPROTO_ICMP);
		if (verdict != FF_FORWARDED)
			return verdict;
	}

	out->priority = ff_ipv4_priority(iph->tos);
	verdict = ff_route(ctx, &fib, config->fib_flags, in, out, AF_INET);
	if (verdict != FF_FORWARDED)
		return verdict;
	/* Last, so that only frames that would otherwise be forwarded pay
	 * for the second lookup. */
	if (!ff_ipv4_source_ok(ctx, iph, in->port, in->ifindex, out->egress_ifindex, config->flags))
		return FF_PASS_SOURCE_CHECK;

	ff_ipv4_decrease_ttl(iph);
	ff_set_macs(eth, &fib);
	out->trim = frame_len - sizeof(*eth) - ip_len;
	return FF_FORWARDED;
}

/* Does the FIB send this fragment the same way under every multipath hash
 * policy? The program cannot read net.ipv6.fib_multipath_hash_policy, and
 * the kernel hashes a fragment differently under each (rt6_multipath_hash):
 * policy 0 takes the outer header's next header (ip6_multipath_l3_keys: 44),
 * which is what fib already asked with; policies 1 and 2 take what the flow
 * dissector finds, which stops at the Fragment header with the protocol
 * behind it and no ports. Asking again with that protocol and comparing
 * the answers proves the next hop whichever policy is set; a single-path
 * route always agrees. */
static __always_inline int ff_ipv6_fragment_agrees(struct xdp_md *ctx,
						   const struct bpf_fib_lookup *fib,
						   struct bpf_fib_lookup *inner,
						   __u32 fib_flags, __u32 ingress)
{
	inner->ifindex = ingress;
	if (ff_fib_lookup(ctx, inner, fib_flags, AF_INET6) != BPF_FIB_LKUP_RET_SUCCESS)
		return 0;
	return inner->ifindex == fib->ifindex && ff_mac_equal(inner->dmac, fib->dmac);
}

static __always_inline __u32 ff_ipv6(struct xdp_md *ctx, struct ethhdr *eth,
				     const struct ff_config *config, const struct ff_ingress *in,
				     struct ff_forward *out)
{
	__u32 fib_flags = config->fib_flags;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6h = (void *)(eth + 1);
	struct bpf_fib_lookup fib = {}, inner;
	__u32 frame_len, ip_len, verdict;
	int fragment;
	__u8 proto;

	if ((void *)(ip6h + 1) > data_end)
		return FF_PASS_MALFORMED;
	if (ip6h->version != 6)
		return FF_PASS_MALFORMED;
	ip_len = sizeof(*ip6h) + bpf_ntohs(ip6h->payload_len);
	frame_len = (__u32)((void *)data_end - (void *)eth);
	if (sizeof(*eth) + ip_len > frame_len)
		return FF_PASS_MALFORMED;
	proto = ip6h->nexthdr;
	fragment = proto == IPPROTO_FRAGMENT;
	if (fragment) {
		verdict = ff_ipv6_fragment(ip6h, data_end, &proto);
		if (verdict != FF_FORWARDED)
			return verdict;
		if (config->flags & FF_CONFIG_FRAGMENTS_TO_KERNEL)
			return FF_PASS_STEPPED_ASIDE;
	} else if (ff_ipv6_extension(proto)) {
		return FF_PASS_IP_OPTIONS;
	}
	if (ff_ipv6_special(&ip6h->saddr) || ff_ipv6_special(&ip6h->daddr))
		return FF_PASS_SPECIAL_ADDRESS;
	if (ip6h->hop_limit <= 1)
		return FF_PASS_TTL_EXPIRED;

	fib.family = AF_INET6;
	/* Flow label and next header feed the kernel's default IPv6
	 * multipath hash, ports its L4 policy. */
	fib.flowinfo = *(__be32 *)ip6h & bpf_htonl(0x0fffffff);
	fib.l4_protocol = ip6h->nexthdr;
	fib.tot_len = ip_len;
	__builtin_memcpy(fib.ipv6_src, &ip6h->saddr, sizeof(fib.ipv6_src));
	__builtin_memcpy(fib.ipv6_dst, &ip6h->daddr, sizeof(fib.ipv6_dst));

	if (fragment) {
		/* No ports: every fragment of a packet must hash alike, and
		 * the kernel's hash never looks behind the Fragment header.
		 * For the same reason an ICMPv6 error in a fragment is hashed
		 * by its outer header (ip6_route_input and
		 * ip6_multipath_l3_keys test the outer next header for
		 * ICMPv6), so it needs no inner flow. */
		inner = fib;
		inner.l4_protocol = proto;
	} else {
		verdict = ff_transport(&fib, ip6h + 1, data_end, proto, IPPROTO_ICMPV6);
		if (verdict != FF_FORWARDED)
			return verdict;
	}

	/* ip6_forward leaves skb->priority as it arrived. */
	out->priority = in->priority;
	verdict = ff_route(ctx, &fib, fib_flags, in, out, AF_INET6);
	if (verdict != FF_FORWARDED)
		return verdict;
	if (fragment && !ff_ipv6_fragment_agrees(ctx, &fib, &inner, fib_flags, in->ifindex))
		return FF_PASS_FRAGMENT_HASH;

	ip6h->hop_limit--;
	ff_set_macs(eth, &fib);
	out->trim = frame_len - sizeof(*eth) - ip_len;
	return FF_FORWARDED;
}

static __always_inline __u32 ff_decide(struct xdp_md *ctx,
				       const struct ff_ingress *in,
				       const struct ff_config *config,
				       struct ff_forward *out)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((config->flags & FF_CONFIG_STEP_ASIDE) || (in->port->flags & FF_PORT_STEPPED_ASIDE))
		return FF_PASS_STEPPED_ASIDE;
	if ((void *)(eth + 1) > data_end)
		return FF_PASS_MALFORMED;
	if (!ff_mac_equal(eth->h_dest, in->port->mac))
		return FF_PASS_NOT_FOR_ROUTER;

	switch (eth->h_proto) {
	case bpf_htons(ETH_P_IP):
		return ff_ipv4(ctx, eth, config, in, out);
	case bpf_htons(ETH_P_IPV6):
		return ff_ipv6(ctx, eth, config, in, out);
	default:
		return FF_PASS_NOT_IP;
	}
}

SEC("xdp")
int fibfast_xdp(struct xdp_md *ctx)
{
	__u64 bytes = (__u64)(ctx->data_end - ctx->data);
	__u32 ingress = ctx->ingress_ifindex;
	struct ff_vlan_held held = {};
	struct ff_forward out = {};
	struct ff_port_info *in_port;
	struct ff_config *config;
	__u32 zero = 0, verdict, priority = 0;
	/* A tagged frame arrives, for the kernel, on its VLAN device. */
	verdict = ff_vlan_arrival(ctx, &ingress, &priority, &held);
	in_port = ff_port(ingress);
	if (verdict != FF_FORWARDED && in_port && in_port->slot < FF_MAX_PORTS) {
		ff_count(in_port->slot, verdict, bytes);
		return XDP_PASS;
	}
	if (!in_port || in_port->slot >= FF_MAX_PORTS) {
		ff_count(FF_SLOT_UNKNOWN, FF_PASS_UNKNOWN_PORT, bytes);
		return XDP_PASS;
	}
	config = bpf_map_lookup_elem(&ff_config, &zero);
	if (!config || !(in_port->flags & FF_PORT_ENABLED)) {
		ff_count(in_port->slot, FF_PASS_UNKNOWN_PORT, bytes);
		return XDP_PASS;
	}
	if (ff_vlan_tagged(ctx, ingress) && ff_vlan_pop(ctx, held.proto, held.tci)) {
		ff_count(in_port->slot, FF_PASS_VLAN, bytes);
		return XDP_PASS;
	}

	struct ff_ingress in = { .port = in_port, .ifindex = ingress, .priority = priority };

	verdict = ff_bond_member(&in.port, &in.ifindex);
	if (verdict == FF_FORWARDED)
		verdict = ff_decide(ctx, &in, config, &out);
	ff_count(in.port->slot, verdict, bytes);
	if (verdict != FF_FORWARDED) {
		/* The kernel gets the frame as it arrived: the handlers only
		 * write to frames they forward. */
		if (ff_vlan_tagged(ctx, ingress) && ff_vlan_push(ctx, held.proto, held.tci))
			return XDP_ABORTED;
		return XDP_PASS;
	}

	/* ip_rcv trims Ethernet padding to the IP length; do the same so the
	 * frame leaves exactly as long as the kernel would send it. */
	if (out.trim && bpf_xdp_adjust_tail(ctx, -(int)out.trim) == 0)
		bytes -= out.trim;
	if (ff_vlan_tagged(ctx, ingress))
		bytes -= FF_VLAN_HLEN;
	if (out.vlan_proto) {
		if (ff_vlan_push(ctx, out.vlan_proto, bpf_htons(out.vlan_tci)))
			return XDP_ABORTED;
		bytes += FF_VLAN_HLEN;
	}
	ff_count(out.egress_slot, FF_TRANSMITTED, bytes);
	/* The fallback only matters if the port left the devmap since the
	 * ff_port_info check above: the kernel then forwards the frame. */
	return bpf_redirect_map(&ff_ports, out.transmit_ifindex, XDP_PASS);
}

char _license[] SEC("license") = "GPL";

/* The failure tracepoints, in the same object (see there why). */
#include "xdp_failures.bpf.c"
/* The cache's invalidation hooks: loaded one by one by the agent. */
#include "fib_cache_hooks.bpf.c"
