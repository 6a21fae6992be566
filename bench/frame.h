/*
 * The bench's test frames: 64-byte UDP over IPv4 or IPv6, built the same way
 * for the traffic generator and for the per-packet cost measurement, so both
 * look at the same packet.
 */
#ifndef BENCH_FRAME_H
#define BENCH_FRAME_H

#include <stdint.h>

#define FRAME_LEN 64

struct frame_spec {
	int family; /* 4 or 6 */
	uint8_t smac[6], dmac[6];
	uint8_t saddr[16], daddr[16];
	uint16_t sport, dport;
	uint8_t ttl;
};

/* Where the fields a generator varies sit in the built frame; 0 = absent. */
struct frame_layout {
	unsigned daddr, sport, ip_csum, udp_csum;
};

void frame_defaults(struct frame_spec *s);
/* Applies one "key=value" argument; returns 1 if the key is a frame key,
 * 0 if not, -1 if the value is invalid. */
int frame_opt(struct frame_spec *s, const char *key, const char *val);
int frame_build(const struct frame_spec *s, uint8_t out[FRAME_LEN], struct frame_layout *l);
int parse_mac(const char *str, uint8_t mac[6]);

#endif
