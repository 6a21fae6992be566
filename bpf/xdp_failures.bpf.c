/*
 * What happens to a frame after the fast path returned XDP_REDIRECT is only
 * told through the kernel's XDP tracepoints. These programs count those
 * events per port (layouts in fastpath_abi.h); the agent attaches them.
 *
 * BTF tracepoints (tp_btf) rather than classic ones: they attach without
 * tracefs, which is not mounted on every box (nor inside `ip netns exec`),
 * and they hand over the devices themselves, so an event can be matched to
 * this network namespace and not just to an ifindex that every namespace
 * reuses. xdp_redirect_map_err is gone from current kernels (folded into
 * xdp_redirect_err); cpumap and XDP_TX tracepoints concern actions the fast
 * path never takes.
 *
 * Programs and maps of their own, not a shared header: fibfast.bpf.c includes
 * this file so that both end up in one object, where the tracepoint programs
 * share ff_port_info with the XDP program (the CLI finds the failure maps
 * through that). The XDP program itself never touches them.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fastpath_abi.h"
#include "lib/maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FF_XDP_ERROR_ENTRIES);
	__type(key, __u32);
	__type(value, struct ff_xdp_error);
} ff_xdp_errors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ff_xdp_watch);
} ff_xdp_watch SEC(".maps");

/* Just the kernel fields read here. The ___ff suffix keeps the names clear of
 * any header; CO-RE matches them to the running kernel's layouts. */
struct net___ff {
	__u64 net_cookie;
} __attribute__((preserve_access_index));

struct net_device___ff {
	int ifindex;
	struct {
		struct net___ff *net;
	} nd_net;
} __attribute__((preserve_access_index));

struct bpf_prog_aux___ff {
	__u32 id;
} __attribute__((preserve_access_index));

struct bpf_prog___ff {
	struct bpf_prog_aux___ff *aux;
} __attribute__((preserve_access_index));

static __always_inline const struct ff_xdp_watch *ff_watch(void)
{
	__u32 zero = 0;
	const struct ff_xdp_watch *watch = bpf_map_lookup_elem(&ff_xdp_watch, &zero);

	return watch && watch->netns_cookie ? watch : 0;
}

/* The port's counter slot if dev is one of our ports, in our namespace. */
static __always_inline int ff_our_port(const struct ff_xdp_watch *watch,
				       const struct net_device___ff *dev, __u32 *slot)
{
	struct ff_port_info *port;
	__u32 ifindex;

	if (!dev || dev->nd_net.net->net_cookie != watch->netns_cookie)
		return 0;
	ifindex = dev->ifindex;
	port = bpf_map_lookup_elem(&ff_port_info, &ifindex);
	if (!port || port->slot >= FF_MAX_PORTS)
		return 0;
	*slot = port->slot;
	return 1;
}

static __always_inline void ff_count_xdp_error(__u32 slot, __u32 kind, __u64 frames, int code)
{
	__u32 index = ff_xdp_error_index(slot, kind);
	struct ff_xdp_error *error = bpf_map_lookup_elem(&ff_xdp_errors, &index);

	if (error) {
		error->frames += frames;
		error->last_code = code;
	}
}

/* (dev, xdp, tgt, err, map_type, map_id, index): the redirect target could
 * not take the frame. A veth whose peer has neither XDP nor GRO lacks
 * NETDEV_XDP_ACT_NDO_XMIT and lands here (EOPNOTSUPP). Counted on the egress
 * port, the one at fault: ff_ports is a DEVMAP_HASH, so index is its ifindex. */
SEC("tp_btf/xdp_redirect_err")
int ff_redirect_err(__u64 *ctx)
{
	const struct net_device___ff *dev = (void *)ctx[0];
	const struct bpf_prog___ff *prog = (void *)ctx[1];
	const struct ff_xdp_watch *watch = ff_watch();
	struct ff_port_info *egress;
	__u32 slot, index;

	if (!watch || prog->aux->id != watch->xdp_prog_id || !ff_our_port(watch, dev, &slot))
		return 0;
	if ((__u32)ctx[4] == BPF_MAP_TYPE_DEVMAP_HASH) {
		index = (__u32)ctx[6];
		egress = bpf_map_lookup_elem(&ff_port_info, &index);
		if (egress && egress->slot < FF_MAX_PORTS)
			slot = egress->slot;
	}
	ff_count_xdp_error(slot, FF_XDP_ERR_REDIRECT, 1, (int)ctx[3]);
	return 0;
}

/* (from_dev, to_dev, sent, drops, err): one devmap flush. Frames the egress
 * driver refused are freed right here, so this is the only trace of them. */
SEC("tp_btf/xdp_devmap_xmit")
int ff_devmap_xmit(__u64 *ctx)
{
	const struct net_device___ff *from = (void *)ctx[0];
	const struct net_device___ff *to = (void *)ctx[1];
	int drops = (int)ctx[3];
	const struct ff_xdp_watch *watch;
	__u32 from_slot, slot;

	if (drops <= 0)
		return 0;
	watch = ff_watch();
	/* Only the fast path runs on our ports, so a flush from one of them
	 * into another is ours. */
	if (!watch || !ff_our_port(watch, from, &from_slot) || !ff_our_port(watch, to, &slot))
		return 0;
	ff_count_xdp_error(slot, FF_XDP_ERR_TRANSMIT, (__u64)drops, (int)ctx[4]);
	return 0;
}

/* (dev, xdp, act): XDP_ABORTED, an unknown action, or a driver giving up on
 * a redirect it had accepted. */
SEC("tp_btf/xdp_exception")
int ff_exception(__u64 *ctx)
{
	const struct net_device___ff *dev = (void *)ctx[0];
	const struct bpf_prog___ff *prog = (void *)ctx[1];
	const struct ff_xdp_watch *watch = ff_watch();
	__u32 slot;

	if (!watch || prog->aux->id != watch->xdp_prog_id || !ff_our_port(watch, dev, &slot))
		return 0;
	ff_count_xdp_error(slot, FF_XDP_ERR_EXCEPTION, 1, (int)ctx[2]);
	return 0;
}
