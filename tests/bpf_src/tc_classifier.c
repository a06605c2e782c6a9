/* An old-style section name, "tc/classifier", that libbpf 1.x no longer
 * recognises: both loaders are told the type ("type tc" to bpftool,
 * prog_type="tc" to pyxsk). */
#include "corpus.h"
#include <linux/pkt_cls.h>

SEC("tc/classifier")
int tc_mark(struct __sk_buff *skb)
{
	skb->mark = 0x5059;
	return TC_ACT_OK;
}

SEC("tc/classifier")
int tc_drop_udp(struct __sk_buff *skb)
{
	__u8 proto = 0;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + 9, &proto, 1))
		return TC_ACT_SHOT;
	return proto == IPPROTO_UDP ? TC_ACT_SHOT : TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
