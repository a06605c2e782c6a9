/* Maps the pre-BTF way: struct bpf_map_def in a section named "maps".
 * libbpf 1.0 and later refuse such objects ("legacy map definitions in
 * 'maps' section are not supported by libbpf v1.0+"), so bpftool 7 cannot
 * load this file; its oracle is what the kernel reports about the maps and
 * programs pyxsk made (tests/test_object_oracle.py, LEGACY_MAPS). */
#include "corpus.h"

/* as libbpf's bpf_helpers.h declared it before 1.0 */
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_counts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

struct bpf_map_def SEC("maps") legacy_flows = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 16,
	.map_flags = BPF_F_NO_PREALLOC,
};

struct bpf_map_def SEC("maps") legacy_xsks = {
	.type = BPF_MAP_TYPE_XSKMAP,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 8,
};

SEC("xdp")
int xdp_legacy(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 4);
	__u32 key, *flow, one = 1;
	__u64 *n;

	if (!p)
		return XDP_DROP;
	key = p[0] & 3;
	n = bpf_map_lookup_elem(&legacy_counts, &key);
	if (!n)
		return XDP_ABORTED;
	*n += 1;
	p[1] = *n;
	flow = bpf_map_lookup_elem(&legacy_flows, &key);
	if (flow)
		p[2] = ++*flow;
	else
		bpf_map_update_elem(&legacy_flows, &key, &one, BPF_ANY);
	if (p[3] == 0x55)
		return bpf_redirect_map(&legacy_xsks, key, XDP_PASS);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
