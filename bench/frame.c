#include "frame.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void frame_defaults(struct frame_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->family = 4;
	s->sport = 1024;
	s->dport = 9; /* discard */
	s->ttl = 64;
}

int parse_mac(const char *str, uint8_t mac[6])
{
	unsigned m[6];

	if (sscanf(str, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = m[i];
	return 0;
}

static int parse_addr(const char *str, uint8_t addr[16], int *family)
{
	if (inet_pton(AF_INET, str, addr) == 1) {
		*family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, str, addr) == 1) {
		*family = 6;
		return 0;
	}
	return -1;
}

int frame_opt(struct frame_spec *s, const char *key, const char *val)
{
	if (!strcmp(key, "smac"))
		return parse_mac(val, s->smac) ? -1 : 1;
	if (!strcmp(key, "dmac"))
		return parse_mac(val, s->dmac) ? -1 : 1;
	if (!strcmp(key, "src"))
		return parse_addr(val, s->saddr, &s->family) ? -1 : 1;
	if (!strcmp(key, "dst"))
		return parse_addr(val, s->daddr, &s->family) ? -1 : 1;
	if (!strcmp(key, "sport"))
		return s->sport = atoi(val), 1;
	if (!strcmp(key, "dport"))
		return s->dport = atoi(val), 1;
	if (!strcmp(key, "ttl"))
		return s->ttl = atoi(val), 1;
	return 0;
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t s)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		s += (p[i] << 8) | p[i + 1];
	if (len & 1)
		s += p[len - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ~s & 0xffff;
}

int frame_build(const struct frame_spec *s, uint8_t out[FRAME_LEN], struct frame_layout *l)
{
	struct ethhdr *eth = (void *)out;
	struct udphdr *udp;

	memset(out, 0, FRAME_LEN);
	memset(l, 0, sizeof(*l));
	memcpy(eth->h_dest, s->dmac, 6);
	memcpy(eth->h_source, s->smac, 6);

	if (s->family == 4) {
		struct iphdr *ip = (void *)(eth + 1);

		eth->h_proto = htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(FRAME_LEN - sizeof(*eth));
		ip->frag_off = htons(0x4000); /* DF */
		ip->ttl = s->ttl;
		ip->protocol = IPPROTO_UDP;
		memcpy(&ip->saddr, s->saddr, 4);
		memcpy(&ip->daddr, s->daddr, 4);
		ip->check = htons(fold(sum16((void *)ip, sizeof(*ip), 0)));
		udp = (void *)(ip + 1);
		udp->source = htons(s->sport);
		udp->dest = htons(s->dport);
		udp->len = htons(FRAME_LEN - sizeof(*eth) - sizeof(*ip));
		/* UDP checksum 0 means "none" in IPv4: one less field to keep right. */
		l->daddr = (uint8_t *)&ip->daddr - out;
		l->ip_csum = (uint8_t *)&ip->check - out;
	} else {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		uint16_t ulen = FRAME_LEN - sizeof(*eth) - sizeof(*ip6);
		uint32_t ps;

		eth->h_proto = htons(ETH_P_IPV6);
		ip6->version = 6;
		ip6->payload_len = htons(ulen);
		ip6->nexthdr = IPPROTO_UDP;
		ip6->hop_limit = s->ttl;
		memcpy(&ip6->saddr, s->saddr, 16);
		memcpy(&ip6->daddr, s->daddr, 16);
		udp = (void *)(ip6 + 1);
		udp->source = htons(s->sport);
		udp->dest = htons(s->dport);
		udp->len = htons(ulen);
		/* IPv6 makes the UDP checksum mandatory; a forwarder may check it. */
		ps = sum16(s->saddr, 16, 0);
		ps = sum16(s->daddr, 16, ps);
		ps += ulen + IPPROTO_UDP;
		ps = sum16((void *)udp, ulen, ps);
		udp->check = htons(fold(ps) ? fold(ps) : 0xffff);
		l->daddr = (uint8_t *)&ip6->daddr - out;
		l->udp_csum = (uint8_t *)&udp->check - out;
	}
	l->sport = (uint8_t *)&udp->source - out;
	return FRAME_LEN;
}
