/*
 * The FIB answer cache's invalidation hooks: each advances the generation
 * once the kernel has applied a change a FIB answer may depend on (after
 * it, never at entry: an answer looked up in between would outlive the
 * change). Why these, and what each kernel offers: docs/architecture.md.
 *
 * All of them are off at load ("?" sections): the agent loads and attaches
 * each one on its own, so that a kernel refusing one (fexit is EPERM on
 * some kernels, a function may be inlined away) costs that hook only, and
 * records which are in place in ff_cache_ctl. They fire for every
 * network namespace: a change elsewhere costs a few misses, never a wrong
 * answer.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fastpath_abi.h"
#include "lib/fib_cache.h"

/* ports: the change may also make answers depend on L4 ports (rules, and
 * on 6.18 every notification, which one it was is not told). */
static __always_inline int ff_fib_cache_changed(int ports)
{
	__u32 zero = 0;
	struct ff_fib_cache_control *control = bpf_map_lookup_elem(&ff_cache_ctl, &zero);

	if (control && ports)
		ff_fib_cache_invalidate_ports(control);
	else if (control)
		ff_fib_cache_invalidate(control);
	return 0;
}

/* The neighbour tracepoints below fire after the entry's lock is dropped
 * and the change is visible (neigh_update_done, neigh_timer_handler) or
 * after it left the hash table (neigh_cleanup_and_release). */
SEC("?tp_btf/neigh_update_done")
int ffc_neigh_update(void *ctx) { return ff_fib_cache_changed(0); }
SEC("?tp_btf/neigh_timer_handler")
int ffc_neigh_timer(void *ctx) { return ff_fib_cache_changed(0); }
SEC("?tp_btf/neigh_cleanup_and_release")
int ffc_neigh_release(void *ctx) { return ff_fib_cache_changed(0); }

/*
 * Where fexit is refused (6.18 here), the kernel's own rtnetlink
 * notifications stand in for the FIB functions. Every route, rule, nexthop,
 * link, address, netconf and tc change is announced to the agent's event
 * socket from inside the change, in the changing task: sk_data_ready fires
 * as the notification is queued there. That is after an insert but before a
 * route deletion is complete (fib_table_delete notifies, then unlinks), so
 * the generation also advances when that task's netlink request returns
 * (sock_send_length, after the whole request was applied): no answer looked
 * up before the request ended outlives it. A request that notifies nothing
 * (`ip route get`, a dump) invalidates nothing.
 */
#define AF_NETLINK 16

struct sock_common___ff {
	unsigned short skc_family;
} __attribute__((preserve_access_index));

struct sock___ff {
	struct sock_common___ff __sk_common;
} __attribute__((preserve_access_index));

/* Tasks that caused a notification and have not returned from their request
 * yet, by thread id. LRU: a task flagged outside a request (a sysctl write, a
 * kernel worker) never clears its entry, and must not fill the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} ff_cache_notifying SEC(".maps");

SEC("?tp_btf/sk_data_ready")
int ffc_netlink_notify(__u64 *ctx)
{
	struct sock___ff *sk = (void *)ctx[0];
	__u32 zero = 0, thread = (__u32)bpf_get_current_pid_tgid();
	struct ff_fib_cache_control *control = bpf_map_lookup_elem(&ff_cache_ctl, &zero);
	__u8 yes = 1;

	if (!control || !control->event_socket_cookie || sk->__sk_common.skc_family != AF_NETLINK ||
	    bpf_get_socket_cookie(sk) != control->event_socket_cookie)
		return 0;
	/* Enough on its own after an insert, and for changes no request
	 * carries (carrier, expiry, ioctl, sysctl writes). */
	ff_fib_cache_invalidate_ports(control);
	bpf_map_update_elem(&ff_cache_notifying, &thread, &yes, BPF_ANY);
	return 0;
}

SEC("?tp_btf/sock_send_length")
int ffc_netlink_request_done(__u64 *ctx)
{
	__u32 thread = (__u32)bpf_get_current_pid_tgid();

	if (!bpf_map_lookup_elem(&ff_cache_notifying, &thread))
		return 0;
	bpf_map_delete_elem(&ff_cache_notifying, &thread);
	return ff_fib_cache_changed(1);
}

SEC("?fexit/fib_table_insert")
int ffc_fib4_insert(void *ctx) { return ff_fib_cache_changed(0); }
SEC("?fexit/fib_table_delete")
int ffc_fib4_delete(void *ctx) { return ff_fib_cache_changed(0); }
SEC("?fexit/rt_cache_flush")
int ffc_rt_flush(void *ctx) { return ff_fib_cache_changed(0); }
SEC("?fexit/fib6_add")
int ffc_fib6_add(void *ctx) { return ff_fib_cache_changed(0); }
SEC("?fexit/fib6_del")
int ffc_fib6_del(void *ctx) { return ff_fib_cache_changed(0); }
SEC("?fexit/fib_nl_newrule")
int ffc_rule_new(void *ctx) { return ff_fib_cache_changed(1); }
SEC("?fexit/fib_nl_delrule")
int ffc_rule_del(void *ctx) { return ff_fib_cache_changed(1); }
SEC("?fexit/rtm_new_nexthop")
int ffc_nexthop_new(void *ctx) { return ff_fib_cache_changed(0); }
SEC("?fexit/rtm_del_nexthop")
int ffc_nexthop_del(void *ctx) { return ff_fib_cache_changed(0); }
SEC("?fexit/rt6_sync_down_dev")
int ffc_fib6_down(void *ctx) { return ff_fib_cache_changed(0); }
SEC("?fexit/rt6_sync_up")
int ffc_fib6_up(void *ctx) { return ff_fib_cache_changed(0); }
SEC("?fexit/rt6_mtu_change")
int ffc_fib6_mtu(void *ctx) { return ff_fib_cache_changed(0); }
