// SPDX-License-Identifier: GPL-2.0
/*
 * The upper bound for any XDP forwarder on this machine: it rewrites the two
 * MAC addresses, as every forwarder must, and redirects through a
 * DEVMAP_HASH, as fibfast does, with no parsing and no route lookup.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct redirect_cfg {
	__u8 macs[12]; /* destination then source, as they sit in the frame */
	__u32 ifindex; /* egress port, also the devmap key */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct redirect_cfg);
} redirect_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} redirect_ports SEC(".maps");

SEC("xdp")
int redirect_only(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct redirect_cfg *c = bpf_map_lookup_elem(&redirect_cfg, &zero);

	if (!c || data + 12 > end)
		return XDP_PASS;
	__builtin_memcpy(data, c->macs, 12);
	return bpf_redirect_map(&redirect_ports, c->ifindex, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
