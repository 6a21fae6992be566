// SPDX-License-Identifier: GPL-2.0
/*
 * Harness for measuring a forwarding program's cost with BPF_PROG_TEST_RUN.
 *
 * With `repeat`, the test run hands the same buffer to every repetition, so a
 * forwarder sees its own output from the second run on (next hop's MAC, TTL
 * one lower) and measures its pass-to-kernel path instead of forwarding.
 * cost_wrap restores the frame before each run and tail-calls the program
 * under test; cost_null stands in for it to measure the harness alone.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define COST_FRAME_LEN 64

struct cost_frame {
	__u64 words[COST_FRAME_LEN / 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cost_frame);
} cost_frame SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cost_target SEC(".maps");

SEC("xdp")
int cost_wrap(struct xdp_md *ctx)
{
	__u64 *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct cost_frame *f = bpf_map_lookup_elem(&cost_frame, &zero);

	if (!f || (void *)data + COST_FRAME_LEN > end)
		return XDP_ABORTED;
	for (int i = 0; i < COST_FRAME_LEN / 8; i++)
		data[i] = f->words[i];
	bpf_tail_call(ctx, &cost_target, 0);
	return XDP_ABORTED;
}

SEC("xdp")
int cost_null(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
