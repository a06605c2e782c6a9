/* pyxsk prog load tests: one XDP program that counts and drops the frames
 * of the test EtherType (0x88B5, IEEE local experimental) and passes every
 * other frame, with its counter in a BTF-defined array map. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_TEST 0x88B5

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cli_counts SEC(".maps");

SEC("xdp")
int cli_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 key = 0;
	__u64 *count;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_TEST))
		return XDP_PASS;
	count = bpf_map_lookup_elem(&cli_counts, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
