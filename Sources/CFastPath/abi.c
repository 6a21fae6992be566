/* Compile-time checks that the shared layouts have no hidden padding, so the
 * BPF side and the Swift side agree on every byte. */
#include "fastpath_abi.h"

_Static_assert(sizeof(struct ff_counter) == 16, "ff_counter layout");
_Static_assert(sizeof(struct ff_port_info) == 32, "ff_port_info layout");
_Static_assert(sizeof(struct ff_config) == 24, "ff_config layout");
_Static_assert(sizeof(struct ff_xdp_error) == 16, "ff_xdp_error layout");
_Static_assert(sizeof(struct ff_xdp_watch) == 16, "ff_xdp_watch layout");
