/* A map pinned by name (__uint(pinning, LIBBPF_PIN_BY_NAME)): the loader
 * pins it at <pin root>/pinned_totals, and a second load of the object
 * reuses the pinned map instead of creating one, so both loads share its
 * contents.  private_totals is not pinned: every load has its own. */
#include "corpus.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pinned_totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} private_totals SEC(".maps");

SEC("xdp")
int xdp_pinned_count(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *shared = bpf_map_lookup_elem(&pinned_totals, &zero);
	__u64 *own = bpf_map_lookup_elem(&private_totals, &zero);
	__u8 *p = payload(ctx, 2);

	if (!shared || !own || !p)
		return XDP_ABORTED;
	*shared += 1;
	*own += 1;
	p[0] = *shared;
	p[1] = *own;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
