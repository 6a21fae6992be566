// SPDX-License-Identifier: GPL-2.0
/*
 * Traffic generator: run with BPF_PROG_RUN and BPF_F_TEST_XDP_LIVE_FRAMES, it
 * turns each repetition into a real frame sent out of the source host's veth.
 *
 * Live-frame pages are recycled without being re-initialised, so whatever the
 * router wrote into a frame (MACs, TTL) comes back on a later run: the whole
 * template is copied in every time, then the per-frame fields are patched and
 * the checksums adjusted incrementally.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "gen.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_cfg);
} gen_cfg SEC(".maps");

/* Destination numbers d drawn from a distribution (GEN_DIST_PICKS). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GEN_PICKS);
	__type(key, __u32);
	__type(value, __u32);
} gen_picks SEC(".maps");

/* Frame number within this generator process; one CPU runs the test, so no
 * atomic is needed. */
__u64 seq = 0;

static __always_inline __u32 fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	return (s & 0xffff) + (s >> 16);
}

/* RFC 1624: HC' = ~(~HC + ~m + m'), all big-endian 16-bit words. */
static __always_inline __u16 csum_replace(__u16 csum, __u32 old_be32, __u32 new_be32,
					  __u16 old_be16, __u16 new_be16)
{
	__u32 s = (__u16)~csum;

	s += (__u16)~(old_be32 >> 16) + (__u16)~(old_be32 & 0xffff);
	s += (new_be32 >> 16) + (new_be32 & 0xffff);
	s += (__u16)~old_be16 + new_be16;
	return (__u16)~fold(s);
}

static __always_inline __u32 get_be32(const __u8 *p)
{
	return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

static __always_inline void put_be32(__u8 *p, __u32 v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static __always_inline void put_be16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static __always_inline __u16 get_be16(const __u8 *p)
{
	return ((__u16)p[0] << 8) | p[1];
}

SEC("xdp")
int gen(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct gen_cfg *c = bpf_map_lookup_elem(&gen_cfg, &zero);

	if (!c)
		return XDP_ABORTED;
	if (data + GEN_FRAME_LEN > end)
		return XDP_ABORTED;
	__u64 k = seq++;
	__u32 var_off = c->var_off, sport_off = c->sport_off;
	__u32 ip_off = c->ip_csum_off, udp_off = c->udp_csum_off;
	/* Patched on the stack, where variable offsets are easy to prove safe,
	 * then stored whole: pages come back with the router's edits in them. */
	__u64 buf[GEN_FRAME_LEN / 8];
	__u8 *f = (__u8 *)buf;

	for (int i = 0; i < GEN_FRAME_LEN / 8; i++)
		buf[i] = ((__u64 *)c->frame)[i];

	if (var_off > GEN_FRAME_LEN - 4 || sport_off > GEN_FRAME_LEN - 2 ||
	    ip_off > GEN_FRAME_LEN - 2 || udp_off > GEN_FRAME_LEN - 2)
		return XDP_ABORTED;

	__u32 d = 0;

	if (c->dist == GEN_DIST_PICKS) {
		__u32 i = bpf_get_prandom_u32() & (GEN_PICKS - 1);
		__u32 *pick = bpf_map_lookup_elem(&gen_picks, &i);

		d = pick ? *pick : 0;
	} else if (c->ndst > 1) {
		d = c->dist == GEN_DIST_UNIFORM ? bpf_get_prandom_u32() % c->ndst
						: (__u32)((k * GEN_SPREAD) % c->ndst);
	}
	__u32 old_var = get_be32(f + var_off);
	__u32 new_var = c->var_base + (((d * c->dst_step) & c->dst_mask) << c->dst_shift);
	__u16 old_sport = get_be16(f + sport_off);
	__u16 new_sport = c->sport_base + (c->nflows > 1 ? (__u32)(k % c->nflows) : 0);

	put_be32(f + var_off, new_var);
	put_be16(f + sport_off, new_sport);
	if (ip_off)
		put_be16(f + ip_off, csum_replace(get_be16(f + ip_off), old_var, new_var, 0, 0));
	if (udp_off) {
		__u16 u = csum_replace(get_be16(f + udp_off), old_var, new_var, old_sport, new_sport);
		put_be16(f + udp_off, u ? u : 0xffff);
	}
	for (int i = 0; i < GEN_FRAME_LEN / 8; i++)
		((__u64 *)data)[i] = buf[i];
	return bpf_redirect(c->ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
