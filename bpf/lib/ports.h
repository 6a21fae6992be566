/* Finding a port's entry from its ifindex, on the per-packet path. */
#ifndef FIBFAST_PORTS_H
#define FIBFAST_PORTS_H

#include "maps.h"

/* NULL when the ifindex is not one of the agent's ports. */
static __always_inline struct ff_port_info *ff_port(__u32 ifindex)
{
	struct ff_port_info *port;

	if (ifindex >= FF_PORT_INDEX_SIZE)
		return bpf_map_lookup_elem(&ff_port_info, &ifindex);
	port = bpf_map_lookup_elem(&ff_port_index, &ifindex);
	return port && (port->flags & FF_PORT_LISTED) ? port : NULL;
}

#endif
