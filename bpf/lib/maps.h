/* The maps the agent fills and the fast path reads. Layouts: fastpath_abi.h. */
#ifndef FIBFAST_MAPS_H
#define FIBFAST_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fastpath_abi.h"

/* Egress ports. bpf_redirect_map needs a devmap; the hash flavour is keyed
 * by ifindex, so the FIB's answer is the key as it comes. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, FF_MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} ff_ports SEC(".maps");

/* Every port's MAC, state and counter slot, keyed by ifindex. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FF_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct ff_port_info);
} ff_port_info SEC(".maps");

/* The same entries for ifindexes below FF_PORT_INDEX_SIZE, indexed by
 * ifindex: what the per-packet path reads (see lib/ports.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FF_PORT_INDEX_SIZE);
	__type(key, __u32);
	__type(value, struct ff_port_info);
} ff_port_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FF_COUNTER_ENTRIES);
	__type(key, __u32);
	__type(value, struct ff_counter);
} ff_counters SEC(".maps");

/* The router's own IPv4 addresses, keyed by address (network order). With
 * rp_filter off, a source found here is the only one the kernel refuses. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FF_MAX_LOCAL_V4);
	__type(key, __be32);
	__type(value, __u8);
} ff_local_v4 SEC(".maps");

/* Which buckets of ff_local_v4_bucket() hold an own address. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ff_local_v4_filter);
} ff_local_v4_filter SEC(".maps");

/* An array map rather than .rodata: the agent changes it while running
 * (stepping aside when a firewall rule appears) without reloading. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ff_config);
} ff_config SEC(".maps");

#endif
