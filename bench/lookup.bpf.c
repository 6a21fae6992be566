// SPDX-License-Identifier: GPL-2.0
/*
 * The floor for any forwarder that asks the kernel's FIB: what xdp-forward
 * does and nothing more. It parses Ethernet and the IP header, calls
 * bpf_fib_lookup as fibfast does by default (full lookup, policy rules
 * honoured, L4 ports for the multipath hash), decrements TTL / hop limit,
 * rewrites the MACs and redirects through a DEVMAP_HASH. No special-address,
 * checksum, options, source or port checks, no counters: between this and
 * fibfast lies the price of forwarding exactly as the kernel would.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} lookup_ports SEC(".maps");

SEC("xdp")
int lookup_only(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct bpf_fib_lookup fib = {};
	struct iphdr *iph;
	struct ipv6hdr *ip6h;
	struct udphdr *udp;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		iph = (void *)(eth + 1);
		udp = (void *)(iph + 1);
		if ((void *)(udp + 1) > end || iph->ttl <= 1)
			return XDP_PASS;
		fib.family = AF_INET;
		fib.tos = iph->tos;
		fib.l4_protocol = iph->protocol;
		fib.tot_len = bpf_ntohs(iph->tot_len);
		fib.ipv4_src = iph->saddr;
		fib.ipv4_dst = iph->daddr;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		ip6h = (void *)(eth + 1);
		udp = (void *)(ip6h + 1);
		if ((void *)(udp + 1) > end || ip6h->hop_limit <= 1)
			return XDP_PASS;
		fib.family = AF_INET6;
		fib.flowinfo = *(__be32 *)ip6h & bpf_htonl(0x0fffffff);
		fib.l4_protocol = ip6h->nexthdr;
		fib.tot_len = sizeof(*ip6h) + bpf_ntohs(ip6h->payload_len);
		__builtin_memcpy(fib.ipv6_src, &ip6h->saddr, sizeof(fib.ipv6_src));
		__builtin_memcpy(fib.ipv6_dst, &ip6h->daddr, sizeof(fib.ipv6_dst));
	} else {
		return XDP_PASS;
	}
	fib.sport = udp->source;
	fib.dport = udp->dest;
	fib.ifindex = ctx->ingress_ifindex;

	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_PASS;

	/* Pointers again: the verifier does not carry "exactly one of iph and
	 * ip6h is set" across the call. */
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		iph = (void *)(eth + 1);
		if ((void *)(iph + 1) > end)
			return XDP_PASS;
		__u32 check = iph->check;

		check += bpf_htons(0x0100);
		iph->check = (__sum16)(check + (check >= 0xFFFF));
		iph->ttl--;
	} else {
		ip6h = (void *)(eth + 1);
		if ((void *)(ip6h + 1) > end)
			return XDP_PASS;
		ip6h->hop_limit--;
	}
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect_map(&lookup_ports, fib.ifindex, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
