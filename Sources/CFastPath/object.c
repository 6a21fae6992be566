/* Accessors for the embedded object: Swift cannot import the incomplete
 * array that scripts/embed-object.sh generates. */
#include "fastpath_object.h"

/* SwiftPM cannot compile bpf/ (it needs clang's BPF target and the kernel's
 * headers); make does, before it calls swift build. */
#if __has_include("generated/object_bytes.h")
#include "generated/object_bytes.h"
#else
#error "the BPF program is not built yet: run `make` (or `make bpf`) once, then swift build works on its own"
/* Stand-ins, so that the message above is the only one the compiler prints. */
static const unsigned char fibfast_bpf_object[1];
static const unsigned long fibfast_bpf_object_size;
#endif

const void *fastpath_object_data(void) { return fibfast_bpf_object; }
unsigned long fastpath_object_size(void) { return fibfast_bpf_object_size; }
