/* pyxsk prog load tests: two XDP programs (the command must be told which
 * one to attach) and a socket filter (never a candidate). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int cli_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int cli_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("socket")
int cli_socket(struct __sk_buff *skb)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
