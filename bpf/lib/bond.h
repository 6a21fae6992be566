/* Frames arriving on a bond member (slave). */
#ifndef FIBFAST_BOND_H
#define FIBFAST_BOND_H

#include "ports.h"

/*
 * Native XDP on a bond runs on each of its members, before the bond's
 * receive handler, so ctx->ingress_ifindex is the member. The kernel routes
 * such a frame as arriving on the bond, and only when the bond delivers it:
 * bond_handle_frame hands frames from an inactive member (an active-backup
 * bond's backup, an 802.3ad member outside the active aggregator) to
 * exact-match handlers only, and routing is not one of them. The agent
 * enables a member's entry while the bond delivers from it.
 *
 * Turns the port and ifindex into the bond's; FF_FORWARDED means "go on".
 */
static __always_inline __u32 ff_bond_member(const struct ff_port_info **port, __u32 *ifindex)
{
	const struct ff_port_info *member = *port;
	struct ff_port_info *bond;

	if (!member->member_of)
		return FF_FORWARDED;
	bond = ff_port(member->member_of);
	if (!bond || bond->slot >= FF_MAX_PORTS)
		return FF_PASS_UNKNOWN_PORT;
	*port = bond;
	*ifindex = member->member_of;
	if (!(bond->flags & FF_PORT_ENABLED))
		return FF_PASS_UNKNOWN_PORT;
	if (!(member->flags & FF_PORT_BOND_DELIVERS))
		return FF_PASS_INACTIVE_MEMBER;
	return FF_FORWARDED;
}

#endif
