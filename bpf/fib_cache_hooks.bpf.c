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

static __always_inline int ff_fib_cache_changed(void)
{
	__u32 zero = 0;
	struct ff_fib_cache_control *control = bpf_map_lookup_elem(&ff_cache_ctl, &zero);

	if (control)
		ff_fib_cache_invalidate(control);
	return 0;
}

/* The neighbour tracepoints below fire after the entry's lock is dropped
 * and the change is visible (neigh_update_done, neigh_timer_handler) or
 * after it left the hash table (neigh_cleanup_and_release). */
SEC("?tp_btf/neigh_update_done")
int ffc_neigh_update(void *ctx) { return ff_fib_cache_changed(); }
SEC("?tp_btf/neigh_timer_handler")
int ffc_neigh_timer(void *ctx) { return ff_fib_cache_changed(); }
SEC("?tp_btf/neigh_cleanup_and_release")
int ffc_neigh_release(void *ctx) { return ff_fib_cache_changed(); }

SEC("?fexit/fib_table_insert")
int ffc_fib4_insert(void *ctx) { return ff_fib_cache_changed(); }
SEC("?fexit/fib_table_delete")
int ffc_fib4_delete(void *ctx) { return ff_fib_cache_changed(); }
SEC("?fexit/rt_cache_flush")
int ffc_rt_flush(void *ctx) { return ff_fib_cache_changed(); }
SEC("?fexit/fib6_add")
int ffc_fib6_add(void *ctx) { return ff_fib_cache_changed(); }
SEC("?fexit/fib6_del")
int ffc_fib6_del(void *ctx) { return ff_fib_cache_changed(); }
SEC("?fexit/fib_nl_newrule")
int ffc_rule_new(void *ctx) { return ff_fib_cache_changed(); }
SEC("?fexit/fib_nl_delrule")
int ffc_rule_del(void *ctx) { return ff_fib_cache_changed(); }
SEC("?fexit/rtm_new_nexthop")
int ffc_nexthop_new(void *ctx) { return ff_fib_cache_changed(); }
SEC("?fexit/rtm_del_nexthop")
int ffc_nexthop_del(void *ctx) { return ff_fib_cache_changed(); }
SEC("?fexit/rt6_sync_down_dev")
int ffc_fib6_down(void *ctx) { return ff_fib_cache_changed(); }
SEC("?fexit/rt6_sync_up")
int ffc_fib6_up(void *ctx) { return ff_fib_cache_changed(); }
SEC("?fexit/rt6_mtu_change")
int ffc_fib6_mtu(void *ctx) { return ff_fib_cache_changed(); }
