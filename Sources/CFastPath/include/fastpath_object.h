/* The compiled bpf/fibfast.bpf.c, embedded so the installed binary needs no
 * file beside it. `make` generates the bytes into fastpath_object.c. */
#ifndef FIBFAST_FASTPATH_OBJECT_H
#define FIBFAST_FASTPATH_OBJECT_H

const void *fastpath_object_data(void);
unsigned long fastpath_object_size(void);

#endif
