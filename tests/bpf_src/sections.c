/* The section names the loader maps to program types and attach types, as
 * libbpf 1.x does: "xdp" (BPF_XDP), "xdp.frags" (BPF_F_XDP_HAS_FRAGS),
 * "xdp/devmap" and "xdp/cpumap" (programs run from a DEVMAP or CPUMAP
 * entry), "socket" (a socket filter) and "tc" (a tc classifier), with
 * two programs in "socket". */
#include "corpus.h"
#include <linux/pkt_cls.h>

SEC("xdp")
int sec_xdp(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 1);

	return p && p[0] & 1 ? XDP_DROP : XDP_PASS;
}

SEC("xdp.frags")
int sec_xdp_frags(struct xdp_md *ctx)
{
	__u8 b = 0;

	/* reads through the helper, which also sees bytes in fragments */
	if (bpf_xdp_load_bytes(ctx, ETH_HLEN, &b, 1))
		return XDP_ABORTED;
	return b & 1 ? XDP_DROP : XDP_PASS;
}

SEC("xdp/devmap")
int sec_xdp_devmap(struct xdp_md *ctx)
{
	/* egress_ifindex is only readable by BPF_XDP_DEVMAP programs */
	return ctx->egress_ifindex == 1 ? XDP_DROP : XDP_PASS;
}

SEC("xdp/cpumap")
int sec_xdp_cpumap(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 1);

	return p && p[0] == 0xcc ? XDP_DROP : XDP_PASS;
}

SEC("socket")
int sec_socket_all(struct __sk_buff *skb)
{
	return skb->len;
}

SEC("socket")
int sec_socket_short(struct __sk_buff *skb)
{
	return skb->len > 64 ? 64 : skb->len;
}

SEC("tc")
int sec_tc(struct __sk_buff *skb)
{
	__u8 b;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &b, 1))
		return TC_ACT_SHOT;
	b ^= 0xff;
	bpf_skb_store_bytes(skb, ETH_HLEN, &b, 1, 0);
	return b & 1 ? TC_ACT_OK : TC_ACT_UNSPEC;
}

char _license[] SEC("license") = "GPL";
