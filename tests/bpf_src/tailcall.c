/* Tail calls through a PROG_ARRAY that the object initialises itself
 * (__array(values, ...) with .values = { [i] = &program }): the loader
 * loads every program first, then writes their fds into the array.
 * xdp_dispatch jumps to slot (first payload byte & 3); slot 2 is left
 * empty, so that frame falls through. */
#include "corpus.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} hops SEC(".maps");

static __always_inline void hop(__u32 slot)
{
	__u32 *n = bpf_map_lookup_elem(&hops, &slot);

	if (n)
		*n += 1;
}

SEC("xdp")
int tail_mark(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 2);

	hop(0);
	if (!p)
		return XDP_ABORTED;
	p[1] = 0xa0;
	return XDP_TX;
}

SEC("xdp")
int tail_drop(struct xdp_md *ctx)
{
	hop(1);
	return XDP_DROP;
}

SEC("xdp")
int tail_pass(struct xdp_md *ctx)
{
	hop(3);
	return XDP_PASS;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int (void *));
} jump_table SEC(".maps") = {
	.values = {
		[0] = (void *)&tail_mark,
		[1] = (void *)&tail_drop,
		[3] = (void *)&tail_pass,
	},
};

SEC("xdp")
int xdp_dispatch(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 2);

	if (!p)
		return XDP_DROP;
	bpf_tail_call(ctx, &jump_table, p[0] & 3);
	/* the slot was empty */
	p[1] = 0xee;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
