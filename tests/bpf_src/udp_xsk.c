/* The end-to-end program: IPv4 UDP frames to port cfg_port (a const
 * volatile the loader sets before load) go to the AF_XDP socket of their
 * receive queue through xsks_map; everything else, and a queue without a
 * socket, goes on to the kernel (XDP_PASS).  Counts what it redirected. */
#include "corpus.h"

const volatile __u16 cfg_port = 0;

__u64 redirected, passed;

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

static __always_inline int is_our_udp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	if (ip->protocol != IPPROTO_UDP || ip->ihl < 5)
		return 0;
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > end)
		return 0;
	return udp->dest == bpf_htons(cfg_port);
}

SEC("xdp")
int xdp_udp_to_xsk(struct xdp_md *ctx)
{
	if (!is_our_udp(ctx)) {
		__sync_fetch_and_add(&passed, 1);
		return XDP_PASS;
	}
	__sync_fetch_and_add(&redirected, 1);
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
