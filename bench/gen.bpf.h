/*
 * Configuration shared by the traffic generator's XDP program (gen.bpf.c)
 * and its loader (trafficgen.c).
 */
#ifndef BENCH_GEN_BPF_H
#define BENCH_GEN_BPF_H

#include <linux/types.h>

/* Every bench frame is 64 bytes as handed to the veth (veth has no FCS). */
#define GEN_FRAME_LEN 64

struct gen_cfg {
	/* A complete frame whose checksums are valid for flow 0 and
	 * destination 0; every generated frame starts as a copy of it. */
	__u8 frame[GEN_FRAME_LEN];
	__u32 ifindex;   /* where the frames go: the source host's veth */
	/* Destination spread: frame k carries, at var_off (a big-endian 32-bit
	 * word inside the destination address),
	 *   var_base + (((d * dst_step) & dst_mask) << dst_shift)
	 * with d = (k * GEN_SPREAD) % ndst, so consecutive frames hit routes far
	 * apart in the table instead of walking it in order. */
	__u32 var_off;
	__u32 var_base;
	__u32 ndst;
	__u32 dst_step;
	__u32 dst_mask;
	__u32 dst_shift;
	/* Flow spread: source port = sport_base + k % nflows. */
	__u32 nflows;
	__u16 sport_base;
	__u16 udp_csum_off; /* 0: no UDP checksum to maintain (IPv4 sends 0) */
	__u16 ip_csum_off;  /* 0: no header checksum (IPv6) */
	__u16 sport_off;
	/* How d is drawn: GEN_DIST_SPREAD (the sequence above), GEN_DIST_UNIFORM
	 * (a random d in [0, ndst) per frame), GEN_DIST_PICKS (a random entry of
	 * gen_picks, which the loader fills, e.g. Zipf-distributed). */
	__u32 dist;
};

#define GEN_DIST_SPREAD 0
#define GEN_DIST_UNIFORM 1
#define GEN_DIST_PICKS 2
/* Entries of gen_picks: a power of two, so a random index is a mask away. */
#define GEN_PICKS 65536

/* An odd constant close to 2^32/phi: multiplying by it scatters consecutive
 * frame numbers over [0, ndst). */
#define GEN_SPREAD 2654435761ULL

#endif
