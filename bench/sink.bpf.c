// SPDX-License-Identifier: GPL-2.0
/*
 * Counting sink for the destination host's veths: counts and drops every IP
 * packet, so the count is the rate the router delivered.
 *
 * ARP and ICMPv6 go to the kernel: the router re-probes its next hops during
 * a long run, and a sink that swallowed the probes would make the next hop
 * fail in the middle of a measurement.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Per-CPU: an atomic shared counter would cost the sink more than the
 * program it measures. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sink_count SEC(".maps");

SEC("xdp")
int sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0;
	__u64 *n;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->nexthdr == IPPROTO_ICMPV6)
			return XDP_PASS;
	} else if (eth->h_proto != bpf_htons(ETH_P_IP)) {
		return XDP_PASS;
	}
	n = bpf_map_lookup_elem(&sink_count, &zero);
	if (n)
		*n += 1;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
