/* Accessors for the embedded object: Swift cannot import the incomplete
 * array that scripts/embed-object.sh generates. */
#include "fastpath_object.h"

extern const unsigned char fibfast_bpf_object[];
extern const unsigned long fibfast_bpf_object_size;

const void *fastpath_object_data(void) { return fibfast_bpf_object; }
unsigned long fastpath_object_size(void) { return fibfast_bpf_object_size; }
