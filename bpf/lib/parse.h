/*
 * Header parsing and the checks the kernel makes before it forwards.
 *
 * Each check returns FF_FORWARDED ("no objection") or the FF_PASS_* reason
 * the frame must go to the kernel instead. They only read the frame.
 */
#ifndef FIBFAST_PARSE_H
#define FIBFAST_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "fastpath_abi.h"

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

/* The first bytes of ICMP and ICMPv6 headers. <linux/icmp.h> would drag in
 * the C library's socket headers, which do not build for the BPF target. */
struct ff_icmp {
	__u8 type;
	__u8 code;
};

/* Ports start at the same offset in TCP and UDP headers. */
struct ff_l4_ports {
	__be16 source;
	__be16 dest;
};

static __always_inline int ff_mac_equal(const __u8 *a, const __u8 *b)
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) |
		(a[3] ^ b[3]) | (a[4] ^ b[4]) | (a[5] ^ b[5])) == 0;
}

/* ip_rcv drops a header whose checksum does not verify; forwarding such a
 * frame after an incremental TTL update would turn a drop into a delivery. */
static __always_inline int ff_ipv4_checksum_ok(const struct iphdr *iph)
{
	const __u16 *words = (const __u16 *)iph;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*iph) / 2); i++)
		sum += words[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/* Addresses the kernel refuses to forward (martians) or forwards only
 * under its own rules (multicast, link-local, limited broadcast). */
static __always_inline int ff_ipv4_special(__be32 addr)
{
	__u32 a = bpf_ntohl(addr);

	return (a >> 24) == 0 ||          /* 0.0.0.0/8: this network */
	       (a >> 24) == 127 ||        /* loopback */
	       (a >> 28) >= 0xe ||        /* multicast, reserved, 255.255.255.255 */
	       (a >> 16) == 0xa9fe;       /* 169.254.0.0/16 link-local */
}

static __always_inline int ff_ipv6_special(const struct in6_addr *addr)
{
	__u32 w0 = bpf_ntohl(addr->in6_u.u6_addr32[0]);

	if ((w0 >> 24) == 0xff)            /* multicast */
		return 1;
	if ((w0 >> 22) == (0xfe80 >> 6))  /* fe80::/10 link-local */
		return 1;
	if (w0 == 0 && addr->in6_u.u6_addr32[1] == 0) {
		__u32 w2 = bpf_ntohl(addr->in6_u.u6_addr32[2]);
		/* ::, ::1, and ::ffff:0:0/96 (ipv6_rcv drops v4-mapped
		 * sources); the rest of ::/64 is never globally routed. */
		return w2 == 0 || w2 == 0xffff;
	}
	return 0;
}

/* Headers that make the kernel look further before forwarding (hop-by-hop
 * options such as router alert) or that put the transport header somewhere
 * the multipath hash would have to dig for. */
static __always_inline int ff_ipv6_extension(__u8 nexthdr)
{
	switch (nexthdr) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_FRAGMENT:
	case IPPROTO_AH:
	case IPPROTO_DSTOPTS:
	case IPPROTO_MH:
	case 139: /* HIP */
	case 140: /* shim6 */
		return 1;
	}
	return 0;
}

/* The IPv6 Fragment header (RFC 8200 4.5). */
struct ff_ipv6_fragment {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;  /* offset in 8-byte units << 3, then 2 reserved bits and M */
	__be32 identification;
};

/* A packet whose only extension header is a Fragment header: ip6_forward
 * neither reassembles it nor looks into it, so it leaves as it came,
 * whichever fragment it is. Gives the protocol of the header behind it. */
static __always_inline __u32 ff_ipv6_fragment(const struct ipv6hdr *ip6h, void *data_end, __u8 *proto)
{
	const struct ff_ipv6_fragment *fh = (const void *)(ip6h + 1);

	if ((void *)(fh + 1) > data_end || bpf_ntohs(ip6h->payload_len) < sizeof(*fh))
		return FF_PASS_MALFORMED;
	if (ff_ipv6_extension(fh->nexthdr))
		return FF_PASS_IP_OPTIONS;
	*proto = fh->nexthdr;
	return FF_FORWARDED;
}

/* ICMP errors carry the packet that caused them; the kernel's multipath
 * hash uses that inner flow, which bpf_fib_lookup cannot be told about. */
static __always_inline int ff_icmp_is_error(__u8 type)
{
	switch (type) {
	case 3:  /* destination unreachable */
	case 4:  /* source quench */
	case 5:  /* redirect */
	case 11: /* time exceeded */
	case 12: /* parameter problem */
		return 1;
	}
	return 0;
}

/* RFC 4443: ICMPv6 types below 128 are errors. */
static __always_inline int ff_icmp6_is_error(__u8 type)
{
	return type < 128;
}

#endif
