/*
 * Ports enslaved to VRF devices: where the kernel validates their sources.
 *
 * The forward lookup needs nothing of its own: asked from a VRF member port,
 * bpf_fib_lookup carries the port's VRF into the rules (l3mdev_update_flow)
 * and the VRF's l3mdev rule picks its table, as ip_route_input_slow does;
 * with BPF_FIB_LOOKUP_DIRECT it reads that table straight away.
 */
#ifndef FIBFAST_VRF_H
#define FIBFAST_VRF_H

#include "fastpath_abi.h"
#include "ports.h"

/*
 * The device the source check's lookup is asked from. The kernel
 * (__fib_validate_source) asks as input from the forward route's egress
 * port (flowi4_iif = FIB_RES_OIF), in the ingress port's VRF
 * (flowi4_l3mdev), or, with the ingress port in no VRF, in the egress
 * port's (l3mdev_update_flow takes it from iif). A lookup from the egress
 * port is all of that exactly, unless the ingress port is in a VRF the
 * egress port is not in (a route leaked out of a VRF): then it is asked
 * from the ingress port's VRF device, whose l3mdev rule picks the same
 * table; only a rule matching `iif` could tell the VRF device from the
 * egress port there (docs/safety.md).
 */
static __always_inline __u32 ff_source_check_ifindex(const struct ff_port_info *in, __u32 egress)
{
	const struct ff_port_info *out;
	__u32 vrf = in->source_ifindex;

	if (!vrf)
		return egress;
	out = ff_port(egress);
	if (out && out->source_ifindex == vrf)
		return egress;
	return vrf;
}

#endif
