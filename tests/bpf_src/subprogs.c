/* bpf-to-bpf calls into .text: static functions (the verifier follows them
 * inline with the caller's types), global functions (verified on their own,
 * from their BTF prototype), a static function called from a global one and
 * from several programs, and three programs in one "xdp" section, each of
 * which gets its own copy of the .text functions it calls. */
#include "corpus.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} calls SEC(".maps");

static __noinline __u32 mix(__u32 a, __u32 b)
{
	a ^= b * 2654435761u;
	return (a << 7) | (a >> 25);
}

static __noinline int count_call(__u32 which)
{
	__u32 *n = bpf_map_lookup_elem(&calls, &which);

	if (!n)
		return -1;
	*n += 1;
	return *n;
}

/* global: verified once, on its own, for any scalar argument */
__noinline int checksum(__u32 seed, __u32 rounds)
{
	__u32 i, h = seed;

	for (i = 0; i < 16 && i < rounds; i++)
		h = mix(h, i);
	return h & 0x7fffffff;
}

/* global, taking the context: the verifier knows it as struct xdp_md */
__noinline int frame_len(struct xdp_md *ctx)
{
	if (!ctx)
		return 0;
	return ctx->data_end - ctx->data;
}

SEC("xdp")
int xdp_static_call(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 8);
	__u32 h;

	if (!p)
		return XDP_DROP;
	h = mix(p[0], p[1]);
	__builtin_memcpy(p + 2, &h, sizeof(h));
	p[6] = count_call(0);
	return XDP_TX;
}

SEC("xdp")
int xdp_global_call(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 8);
	int h;

	if (!p)
		return XDP_DROP;
	h = checksum(p[0], p[1]);
	__builtin_memcpy(p + 2, &h, sizeof(h));
	p[6] = frame_len(ctx);
	p[7] = count_call(1);
	return XDP_TX;
}

SEC("xdp")
int xdp_no_call(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 1);

	return p && p[0] == 0xff ? XDP_DROP : XDP_PASS;
}

/* another section using the same .text functions */
SEC("xdp.frags")
int xdp_frags_call(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 8);

	if (!p)
		return XDP_PASS;
	p[0] = checksum(mix(p[1], 3), 4);
	p[1] = count_call(2);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
