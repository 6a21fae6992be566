/* The compiled bpf/fibfast.bpf.c, embedded so the installed binary needs no
 * file beside it. `make` generates the bytes into generated/object_bytes.h. */
#ifndef FIBFAST_FASTPATH_OBJECT_H
#define FIBFAST_FASTPATH_OBJECT_H

const void *fastpath_object_data(void);
unsigned long fastpath_object_size(void);

#endif
