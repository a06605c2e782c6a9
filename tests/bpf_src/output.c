/* Output to user space: bpf_perf_event_output into a PERF_EVENT_ARRAY
 * (one slot per CPU, sized by the loader) and a BPF ring buffer, by copy
 * (bpf_ringbuf_output) and in place (reserve, then submit or discard).
 * The helpers' return codes go back into the frame. */
#include "corpus.h"

struct event {
	__u32 len;
	__u8 head[12];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} ring_events SEC(".maps");

static __always_inline int fill(struct xdp_md *ctx, struct event *e)
{
	__u8 *p = payload(ctx, 0);

	if (!p)
		return -1;
	e->len = ctx->data_end - ctx->data;
	return bpf_xdp_load_bytes(ctx, 0, e->head, sizeof(e->head));
}

SEC("xdp")
int xdp_perf_out(struct xdp_md *ctx)
{
	struct event e = {};
	__u8 *p;
	long err;

	if (fill(ctx, &e))
		return XDP_DROP;
	err = bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &e, sizeof(e));
	p = payload(ctx, 1);
	if (!p)
		return XDP_ABORTED;
	p[0] = -err;
	return XDP_TX;
}

SEC("xdp")
int xdp_ring_out(struct xdp_md *ctx)
{
	struct event e = {}, *r;
	__u8 *p;
	long err;

	if (fill(ctx, &e))
		return XDP_DROP;
	err = bpf_ringbuf_output(&ring_events, &e, sizeof(e), 0);
	r = bpf_ringbuf_reserve(&ring_events, sizeof(*r), 0);
	if (!r)
		return XDP_ABORTED;
	*r = e;
	if (e.len & 1)
		bpf_ringbuf_discard(r, 0);
	else
		bpf_ringbuf_submit(r, 0);
	p = payload(ctx, 2);
	if (!p)
		return XDP_ABORTED;
	p[0] = -err;
	p[1] = bpf_ringbuf_query(&ring_events, BPF_RB_AVAIL_DATA) / 8;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
