/*
 * xdpctl: the bench's hands on the XDP programs of the lab's ports.
 *
 *   xdpctl sink DEV OBJ                  attach the counting sink (native mode)
 *   xdpctl redirect DEV OBJ OUTDEV DMAC  attach the redirect-only bound
 *   xdpctl lookup DEV OBJ OUTDEV...      attach the lookup-only forwarder
 *   xdpctl off DEV                       detach whatever is attached
 *   xdpctl id DEV                        print the attached program's id (0: none)
 *   xdpctl count DEV...                  print the sinks' packet count, summed
 *   xdpctl cost DEV COST-OBJ [repeat=N runs=N] FRAME-KEYS...
 *        run the program attached to DEV on one frame with BPF_PROG_TEST_RUN,
 *        as if it had arrived on DEV, and print the median ns per packet
 *
 * Programs are found by the port they are attached to, never by name or pin:
 * names collide with other users of the machine, and pins made under one
 * `ip netns exec` are invisible to the next.
 */
#include "frame.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what, int err)
{
	fprintf(stderr, "xdpctl: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static int ifindex_of(const char *dev)
{
	int i = if_nametoindex(dev);

	if (!i)
		die(dev, errno);
	return i;
}

static struct bpf_object *load(const char *path)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	int err = libbpf_get_error(obj);

	if (err)
		die(path, err);
	err = bpf_object__load(obj);
	if (err)
		die("load", err);
	return obj;
}

static void attach(int ifindex, struct bpf_object *obj, __u32 flags)
{
	struct bpf_program *prog = bpf_object__next_program(obj, NULL);
	int err = bpf_xdp_attach(ifindex, bpf_program__fd(prog), XDP_FLAGS_DRV_MODE | flags, NULL);

	if (err)
		die("attach", err);
}

static int map_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	if (!m)
		die(name, ENOENT);
	return bpf_map__fd(m);
}

static int prog_fd_on(const char *dev)
{
	__u32 id = 0;
	int err = bpf_xdp_query_id(ifindex_of(dev), 0, &id), fd;

	if (err)
		die("query", err);
	if (!id) {
		fprintf(stderr, "xdpctl: no XDP program on %s\n", dev);
		exit(1);
	}
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		die("prog by id", errno);
	return fd;
}

/* The map called NAME used by the program on DEV, or -1. */
static int map_of_prog_on(const char *dev, const char *name, struct bpf_map_info *mi)
{
	int pfd = prog_fd_on(dev);
	__u32 ids[64];
	struct bpf_prog_info info = {.nr_map_ids = 64, .map_ids = (__u64)(unsigned long)ids};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(pfd, &info, &len))
		die("prog info", errno);
	close(pfd);
	for (__u32 i = 0; i < info.nr_map_ids && i < 64; i++) {
		__u32 mlen = sizeof(*mi);
		int mfd = bpf_map_get_fd_by_id(ids[i]);

		memset(mi, 0, sizeof(*mi));
		if (mfd >= 0 && !bpf_obj_get_info_by_fd(mfd, mi, &mlen) && !strcmp(mi->name, name))
			return mfd;
		if (mfd >= 0)
			close(mfd);
	}
	return -1;
}

static unsigned long long count(const char *dev)
{
	struct bpf_map_info mi;
	int mfd = map_of_prog_on(dev, "sink_count", &mi), ncpu = libbpf_num_possible_cpus();
	unsigned long long total = 0;
	__u64 vals[ncpu];
	__u32 zero = 0;

	if (mfd < 0) {
		fprintf(stderr, "xdpctl: the program on %s is not the sink\n", dev);
		exit(1);
	}
	if (bpf_map_lookup_elem(mfd, &zero, vals))
		die("sink_count", errno);
	for (int c = 0; c < ncpu; c++)
		total += vals[c];
	close(mfd);
	return total;
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

static const char *action_name(__u32 a)
{
	static const char *n[] = {"ABORTED", "DROP", "PASS", "TX", "REDIRECT"};

	return a < 5 ? n[a] : "?";
}

static __u32 median_run(int fd, const uint8_t *frame, struct xdp_md *ctx, int repeat, int runs,
			__u32 *retval)
{
	uint8_t out[FRAME_LEN + 256];
	__u32 d[runs];

	for (int r = 0; r < runs; r++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = FRAME_LEN,
			    .data_out = out, .data_size_out = sizeof(out), .ctx_in = ctx,
			    .ctx_size_in = sizeof(*ctx), .repeat = repeat);
		if (bpf_prog_test_run_opts(fd, &o))
			die("BPF_PROG_TEST_RUN", errno);
		d[r] = o.duration;
		*retval = o.retval;
	}
	qsort(d, runs, sizeof(d[0]), cmp_u32);
	return d[runs / 2];
}

/* The program on DEV runs behind cost.bpf.o's cost_wrap, which restores the
 * frame before every repetition; the wrapper's own cost, measured with
 * cost_null in the same slot, is subtracted. */
static int cost(const char *dev, const char *wrap_obj, int argc, char **argv)
{
	struct frame_spec spec;
	struct frame_layout lay;
	uint8_t frame[FRAME_LEN];
	int repeat = 1000000, runs = 5;

	frame_defaults(&spec);
	for (int i = 0; i < argc; i++) {
		char *key = argv[i], *val = strchr(key, '=');

		if (!val)
			die(key, EINVAL);
		*val++ = 0;
		if (!strcmp(key, "repeat"))
			repeat = atoi(val);
		else if (!strcmp(key, "runs"))
			runs = atoi(val);
		else if (frame_opt(&spec, key, val) != 1)
			die(key, EINVAL);
	}
	frame_build(&spec, frame, &lay);

	struct bpf_object *obj = load(wrap_obj);
	int wrap = bpf_program__fd(bpf_object__find_program_by_name(obj, "cost_wrap"));
	int null = bpf_program__fd(bpf_object__find_program_by_name(obj, "cost_null"));
	int target = map_fd(obj, "cost_target"), zero = 0, under_test = prog_fd_on(dev);
	struct xdp_md ctx = {.data_end = FRAME_LEN, .ingress_ifindex = ifindex_of(dev)};
	__u32 retval, null_ret, total, harness;

	if (bpf_map_update_elem(map_fd(obj, "cost_frame"), &zero, frame, 0))
		die("cost_frame", errno);
	if (bpf_map_update_elem(target, &zero, &null, 0))
		die("cost_target", errno);
	harness = median_run(wrap, frame, &ctx, repeat, runs, &null_ret);
	if (bpf_map_update_elem(target, &zero, &under_test, 0))
		die("tail call into the program on the port", errno);
	total = median_run(wrap, frame, &ctx, repeat, runs, &retval);
	printf("ns_per_pkt=%u action=%s harness_ns=%u\n", total > harness ? total - harness : 0,
	       action_name(retval), harness);
	return 0;
}

static void dev_mac(const char *dev, uint8_t mac[6])
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		die(dev, errno);
	close(fd);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 2 ? argv[1] : "", *dev = argc > 2 ? argv[2] : "";

	if (!strcmp(cmd, "sink") && argc == 4) {
		attach(ifindex_of(dev), load(argv[3]), 0);
	} else if (!strcmp(cmd, "redirect") && argc == 6) {
		struct {
			__u8 macs[12];
			__u32 ifindex;
		} cfg;
		__u32 zero = 0, out = ifindex_of(argv[4]);
		struct bpf_object *obj = load(argv[3]);

		if (parse_mac(argv[5], cfg.macs))
			die(argv[5], EINVAL);
		dev_mac(argv[4], cfg.macs + 6);
		cfg.ifindex = out;
		if (bpf_map_update_elem(map_fd(obj, "redirect_cfg"), &zero, &cfg, 0) ||
		    bpf_map_update_elem(map_fd(obj, "redirect_ports"), &out, &out, 0))
			die("redirect maps", errno);
		/* Never replace another program: finding fibfast still attached
		 * means the previous scenario did not clean up. */
		attach(ifindex_of(dev), obj, XDP_FLAGS_UPDATE_IF_NOEXIST);
	} else if (!strcmp(cmd, "lookup") && argc >= 5) {
		struct bpf_object *obj = load(argv[3]);

		for (int i = 4; i < argc; i++) {
			__u32 out = ifindex_of(argv[i]);

			if (bpf_map_update_elem(map_fd(obj, "lookup_ports"), &out, &out, 0))
				die("lookup_ports", errno);
		}
		attach(ifindex_of(dev), obj, XDP_FLAGS_UPDATE_IF_NOEXIST);
	} else if (!strcmp(cmd, "off") && argc == 3) {
		int err = bpf_xdp_detach(ifindex_of(dev), 0, NULL);

		if (err)
			die("detach", err);
	} else if (!strcmp(cmd, "id") && argc == 3) {
		__u32 id = 0;

		bpf_xdp_query_id(ifindex_of(dev), 0, &id);
		printf("%u\n", id);
	} else if (!strcmp(cmd, "count")) {
		unsigned long long total = 0;

		for (int i = 2; i < argc; i++)
			total += count(argv[i]);
		printf("%llu\n", total);
	} else if (!strcmp(cmd, "cost")) {
		if (argc < 4)
			die("cost needs DEV and the cost.bpf.o path", EINVAL);
		return cost(dev, argv[3], argc - 4, argv + 4);
	} else {
		fprintf(stderr, "usage: xdpctl sink|redirect|lookup|off|id|count|cost DEV ... (see source)\n");
		return 2;
	}
	return 0;
}
