/*
 * VLAN ports: 802.1Q/802.1ad sub-interfaces as the kernel's 8021q driver
 * runs them. A tagged frame is looked up as arriving on its VLAN device
 * (vlan_do_receive), and a frame routed to a VLAN device leaves its lower
 * device with the tag vlan_dev_hard_start_xmit would give it. Layouts of the
 * maps: fastpath_abi.h.
 */
#ifndef FIBFAST_VLAN_H
#define FIBFAST_VLAN_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "fastpath_abi.h"

#define FF_VLAN_HLEN 4
#define FF_VLAN_VID_MASK 0x0fff
#define FF_VLAN_PCP_SHIFT 13

/* The 4 bytes after the TPID (which sits where h_proto would). */
struct ff_vlan_tag {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FF_MAX_PORTS);
	__type(key, struct ff_vlan_key);
	__type(value, struct ff_vlan_arrival);
} ff_vlans SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FF_MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} ff_vlan_egress SEC(".maps");

static __always_inline int ff_is_vlan_proto(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/* A tag taken off an arriving frame, in network order, to be put back
 * exactly if the frame goes to the kernel after all. */
struct ff_vlan_held {
	__be16 proto;
	__be16 tci;
};

/*
 * A tagged frame's port: the VLAN port of its (device, TPID, VID), with the
 * skb priority the kernel gives it from that device's ingress-qos-map.
 * Returns FF_FORWARDED ("no objection") and fills ifindex, priority and the
 * tag; an untagged frame keeps its receiving device. What the fast path
 * leaves to the kernel returns FF_PASS_VLAN: a VID that is no port's (the
 * kernel drops it or hands it to a VLAN device fibfast does not serve),
 * priority tags (VID 0: the kernel takes the tag off and receives the frame
 * on the lower device, priority unchanged) and stacked tags.
 */
static __always_inline __u32 ff_vlan_arrival(struct xdp_md *ctx, __u32 *ifindex,
					     __u32 *priority, struct ff_vlan_held *held)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ff_vlan_tag *tag = (void *)(eth + 1);
	struct ff_vlan_arrival *arrival;
	struct ff_vlan_key key = {};
	__u16 tci;

	if ((void *)(tag + 1) > data_end || !ff_is_vlan_proto(eth->h_proto))
		return FF_FORWARDED;
	tci = bpf_ntohs(tag->tci);
	key.ifindex = *ifindex;
	key.proto = eth->h_proto;
	key.vid = tci & FF_VLAN_VID_MASK;
	if (key.vid == 0 || ff_is_vlan_proto(tag->encapsulated_proto))
		return FF_PASS_VLAN;
	arrival = bpf_map_lookup_elem(&ff_vlans, &key);
	if (!arrival)
		return FF_PASS_VLAN;
	*ifindex = arrival->ifindex;
	/* The PCP from the TCI's first byte on the wire: a bound the verifier
	 * sees (6.1's drops every bound through a byte swap, and clang drops
	 * a "& 7" it knows to be redundant). */
	*priority = arrival->ingress_priority[*(__u8 *)&tag->tci >> 5];
	held->proto = eth->h_proto;
	held->tci = tag->tci;
	return FF_FORWARDED;
}

/* rt_tos2priority: the skb priority ip_forward gives a forwarded IPv4
 * packet (ip_tos2prio[IPTOS_TOS(tos) >> 1]: best effort, bulk, interactive,
 * interactive bulk by the two top TOS bits). */
static __always_inline __u32 ff_ipv4_priority(__u8 tos)
{
	switch ((tos >> 3) & 3) {
	case 0: return 0;  /* TC_PRIO_BESTEFFORT */
	case 1: return 2;  /* TC_PRIO_BULK */
	case 2: return 6;  /* TC_PRIO_INTERACTIVE */
	default: return 4; /* TC_PRIO_INTERACTIVE_BULK */
	}
}

/*
 * The TCI a frame leaves a VLAN port with: its VID and the PCP its
 * egress-qos-map gives the skb priority (vlan_dev_get_egress_qos_mask), DEI
 * clear; 0 for a port without a tag (proto 0); -1 where the fast path cannot
 * tell that PCP. A global function, so the verifier checks it once on its
 * own, and the caller sees one unknown answer for every port: inlined, its
 * tests would split every path through the handlers by port kind and
 * priority.
 */
__noinline int ff_vlan_egress_tci(__u32 proto, __u32 slot, __u32 vid, __u32 priority)
{
	__u32 *map;

	if (!proto)
		return 0;
	map = bpf_map_lookup_elem(&ff_vlan_egress, &slot);

	if (!map || !(*map & FF_VLAN_EGRESS_LISTED) || priority > 7)
		return -1;
	return (int)((ff_vlan_egress_pcp(*map, priority) << FF_VLAN_PCP_SHIFT) | (vid & FF_VLAN_VID_MASK));
}

/* Tagged or not, told by ifindexes (ff_vlan_arrival changed it or not), read
 * afresh at each question: a flag kept in a register would be a constant
 * per path, and the verifier would walk the handlers once per value. */
static __always_inline int ff_vlan_tagged(struct xdp_md *ctx, __u32 ingress)
{
	return ingress != *(volatile __u32 *)&ctx->ingress_ifindex;
}

/*
 * Takes the tag off: the 12 bytes of MAC addresses move up over it, so the
 * family handlers see one frame layout whether it came tagged or not (one
 * shape for the verifier too: a tag length carried through them doubles
 * the paths it walks; global, so its own branches split none of them).
 * proto and tci: the tag as it arrived (network order). 0, or -1 with the
 * frame as it was.
 */
__noinline int ff_vlan_pop(struct xdp_md *ctx, __u32 proto, __u32 tci)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 macs[3];

	if (data + ETH_HLEN + FF_VLAN_HLEN > data_end)
		return -1;
	__builtin_memcpy(macs, data, sizeof(macs));
	__builtin_memcpy(data + FF_VLAN_HLEN, macs, sizeof(macs));
	if (bpf_xdp_adjust_head(ctx, FF_VLAN_HLEN) == 0)
		return 0;
	/* The move above overwrote the tag: it goes back from the caller's
	 * copy (ff_vlan_arrival's), so the path that works copies nothing more. */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + ETH_HLEN + FF_VLAN_HLEN <= data_end) {
		__builtin_memcpy(data, macs, sizeof(macs));
		((struct ethhdr *)data)->h_proto = (__be16)proto;
		((struct ff_vlan_tag *)(data + ETH_HLEN))->tci = (__be16)tci;
	}
	return -1;
}

/*
 * Puts a tag (TPID and TCI in network order) between the MAC addresses and
 * the EtherType: the egress port's tag on a forwarded frame, or the tag
 * ff_vlan_pop took off a frame that goes to the kernel, which then gets
 * the bytes that arrived. 0, or -1 if the head could not move.
 */
static __always_inline int ff_vlan_push(struct xdp_md *ctx, __be16 proto, __be16 tci)
{
	void *data, *data_end;
	__u32 macs[3];

	if (bpf_xdp_adjust_head(ctx, -FF_VLAN_HLEN))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + ETH_HLEN + FF_VLAN_HLEN > data_end)
		return -1;
	__builtin_memcpy(macs, data + FF_VLAN_HLEN, sizeof(macs));
	__builtin_memcpy(data, macs, sizeof(macs));
	((struct ethhdr *)data)->h_proto = proto;
	((struct ff_vlan_tag *)(data + ETH_HLEN))->tci = tci;
	return 0;
}

#endif
