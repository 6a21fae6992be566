/* The changes a router makes to a frame it forwards, and nothing else. */
#ifndef FIBFAST_REWRITE_H
#define FIBFAST_REWRITE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* As the kernel's ip_decrease_ttl: TTL is the high byte of its 16-bit word,
 * so the checksum moves by 0x0100, with the end-around carry folded in. */
static __always_inline void ff_ipv4_decrease_ttl(struct iphdr *iph)
{
	__u32 check = (__u32)iph->check;

	check += (__u32)bpf_htons(0x0100);
	iph->check = (__sum16)(check + (check >= 0xffff));
	iph->ttl--;
}

static __always_inline void ff_set_macs(struct ethhdr *eth,
					const struct bpf_fib_lookup *fib)
{
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
}

#endif
