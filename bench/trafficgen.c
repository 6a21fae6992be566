/*
 * trafficgen: sends 64-byte UDP frames out of a veth for a fixed time, using
 * BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES on gen.bpf.o (no NIC, no
 * pktgen on this kernel). Run it inside the source host's namespace.
 *
 *   trafficgen obj=gen.bpf.o dev=s0 dmac=MAC src=A dst=A seconds=S
 *              [ndst=N dst_step=N dst_mask=N dst_shift=N dst_word=N nflows=N cpu=N]
 *              [dist=spread|uniform|zipf zipf_s=S]
 *
 * dist says how destination number d in [0, ndst) is chosen per frame: spread
 * (default) walks all of them far apart, uniform draws one at random, zipf
 * draws rank r with probability proportional to 1/r^S (S = zipf_s, default 1)
 * and scatters the ranks over [0, ndst), so popular destinations lie all over
 * the table rather than in one corner of it.
 *
 * Prints one line: sent=N elapsed_ns=N. The rate that counts is the one the
 * sink saw; "sent" only says how hard the generator pushed.
 */
#define _GNU_SOURCE
#include "frame.h"
#include "gen.bpf.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <math.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int dev_mac(const char *dev, uint8_t mac[6])
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), rc;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	rc = ioctl(fd, SIOCGIFHWADDR, &ifr);
	close(fd);
	if (rc)
		return -1;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

/* GEN_PICKS destination numbers with Zipf(s) frequencies over ranks 1..n:
 * stratified inverse-CDF samples, so the picks follow the distribution
 * exactly rather than by luck. Rank r becomes d = (r - 1) * GEN_SPREAD mod n,
 * a permutation of [0, n) for the n the bench uses (coprime with GEN_SPREAD). */
static int zipf_picks(uint32_t n, double s, uint32_t *picks)
{
	double *cdf = malloc(sizeof(double) * n), sum = 0;

	if (!cdf)
		return -1;
	for (uint32_t r = 0; r < n; r++) {
		sum += pow(r + 1, -s);
		cdf[r] = sum;
	}
	for (uint32_t i = 0, r = 0; i < GEN_PICKS; i++) {
		double u = (i + 0.5) / GEN_PICKS * sum;

		while (r + 1 < n && cdf[r] < u)
			r++;
		picks[i] = (uint32_t)((uint64_t)r * GEN_SPREAD % n);
	}
	free(cdf);
	return 0;
}

static void die(const char *what)
{
	fprintf(stderr, "trafficgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	struct frame_spec spec;
	struct frame_layout lay;
	struct gen_cfg cfg = {0};
	const char *obj_path = NULL, *dev = NULL;
	double seconds = 1;
	long long packets = 0;
	int dst_word = -1, cpu = -1, have_smac = 0;
	double zipf_s = 1.0;

	frame_defaults(&spec);
	cfg.ndst = 1;
	cfg.dst_step = 1;
	cfg.dst_mask = 0xffffffff;
	cfg.nflows = 1;
	for (int i = 1; i < argc; i++) {
		char *key = argv[i], *val = strchr(key, '=');
		int r;

		if (!val) {
			fprintf(stderr, "trafficgen: expected key=value, got %s\n", key);
			return 2;
		}
		*val++ = 0;
		r = frame_opt(&spec, key, val);
		if (r < 0) {
			fprintf(stderr, "trafficgen: bad %s=%s\n", key, val);
			return 2;
		}
		if (r) {
			have_smac |= !strcmp(key, "smac");
			continue;
		}
		if (!strcmp(key, "obj"))
			obj_path = val;
		else if (!strcmp(key, "dev"))
			dev = val;
		else if (!strcmp(key, "seconds"))
			seconds = atof(val);
		else if (!strcmp(key, "packets"))
			packets = atoll(val);
		else if (!strcmp(key, "ndst"))
			cfg.ndst = strtoul(val, NULL, 0);
		else if (!strcmp(key, "dst_step"))
			cfg.dst_step = strtoul(val, NULL, 0);
		else if (!strcmp(key, "dst_mask"))
			cfg.dst_mask = strtoul(val, NULL, 0);
		else if (!strcmp(key, "dst_shift"))
			cfg.dst_shift = strtoul(val, NULL, 0);
		else if (!strcmp(key, "dst_word"))
			dst_word = atoi(val);
		else if (!strcmp(key, "nflows"))
			cfg.nflows = strtoul(val, NULL, 0);
		else if (!strcmp(key, "cpu"))
			cpu = atoi(val);
		else if (!strcmp(key, "dist") && !strcmp(val, "spread"))
			cfg.dist = GEN_DIST_SPREAD;
		else if (!strcmp(key, "dist") && !strcmp(val, "uniform"))
			cfg.dist = GEN_DIST_UNIFORM;
		else if (!strcmp(key, "dist") && !strcmp(val, "zipf"))
			cfg.dist = GEN_DIST_PICKS;
		else if (!strcmp(key, "zipf_s"))
			zipf_s = atof(val);
		else {
			fprintf(stderr, "trafficgen: unknown key %s\n", key);
			return 2;
		}
	}
	if (!obj_path || !dev) {
		fprintf(stderr, "usage: trafficgen obj=gen.bpf.o dev=DEV dmac=MAC src=ADDR dst=ADDR "
				"[seconds=S|packets=N] [ndst= dst_step= dst_mask= dst_shift= dst_word= nflows= cpu=]\n");
		return 2;
	}
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			die("sched_setaffinity");
	}
	cfg.ifindex = if_nametoindex(dev);
	if (!cfg.ifindex)
		die(dev);
	if (!have_smac && dev_mac(dev, spec.smac))
		die("SIOCGIFHWADDR");

	frame_build(&spec, cfg.frame, &lay);
	if (dst_word < 0)
		dst_word = spec.family == 4 ? 0 : 12;
	if (dst_word > (spec.family == 4 ? 0 : 12)) {
		fprintf(stderr, "trafficgen: dst_word %d outside the address\n", dst_word);
		return 2;
	}
	cfg.var_off = lay.daddr + dst_word;
	cfg.var_base = ((uint32_t)cfg.frame[cfg.var_off] << 24) | (cfg.frame[cfg.var_off + 1] << 16) |
		       (cfg.frame[cfg.var_off + 2] << 8) | cfg.frame[cfg.var_off + 3];
	cfg.sport_base = spec.sport;
	cfg.sport_off = lay.sport;
	cfg.ip_csum_off = lay.ip_csum;
	cfg.udp_csum_off = lay.udp_csum;

	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	if (!obj || libbpf_get_error(obj))
		die(obj_path);
	if (bpf_object__load(obj))
		die("load");
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "gen");
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "gen_cfg");
	if (!prog || !map)
		die("program or map missing");
	uint32_t zero = 0;
	if (bpf_map_update_elem(bpf_map__fd(map), &zero, &cfg, 0))
		die("gen_cfg");
	if (cfg.dist == GEN_DIST_PICKS) {
		struct bpf_map *picks_map = bpf_object__find_map_by_name(obj, "gen_picks");
		static uint32_t picks[GEN_PICKS];

		if (!picks_map || zipf_picks(cfg.ndst ? cfg.ndst : 1, zipf_s, picks))
			die("gen_picks");
		for (uint32_t i = 0; i < GEN_PICKS; i++)
			if (bpf_map_update_elem(bpf_map__fd(picks_map), &i, &picks[i], 0))
				die("gen_picks");
	}

	/* One call per chunk keeps the stop time within a few tens of ms. */
	const int chunk = 1 << 17;
	uint64_t sent = 0, t0 = now_ns(), deadline = t0 + (uint64_t)(seconds * 1e9), t;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = cfg.frame, .data_size_in = FRAME_LEN,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);
	do {
		int n = chunk;

		if (packets && (long long)(packets - sent) < n)
			n = packets - sent;
		opts.repeat = n;
		if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts))
			die("BPF_PROG_RUN");
		sent += n;
		t = now_ns();
	} while (packets ? (long long)sent < packets : t < deadline);

	printf("sent=%llu elapsed_ns=%llu\n", (unsigned long long)sent, (unsigned long long)(t - t0));
	bpf_object__close(obj);
	return 0;
}
