/* BTF-defined maps in .maps: one of every type the loader supports, map
 * flags, a name longer than the kernel's 15 characters, a PERF_EVENT_ARRAY
 * without max_entries (libbpf sizes it to the possible CPUs), and
 * map-in-map declared with __array (one outer map statically initialised).
 *
 * xdp_maps reads an opcode from the first payload byte, touches the map it
 * names, writes what it found back into the frame and returns an action,
 * so BPF_PROG_TEST_RUN's output shows every map at work. */
#include "corpus.h"

struct lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
	__uint(map_flags, BPF_F_MMAPABLE);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} percpu_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, struct flow_stats);
} percpu_stats_by_protocol SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 128);
	__type(key, __u64);
	__type(value, __u32);
} lru_seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__type(key, struct lpm_v4_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} ports_by_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpus SEC(".maps");

/* sizes instead of types: a map with no BTF key/value */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} jumps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 4096);
} ring SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
};

struct inner inner_a SEC(".maps");
struct inner inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [1] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer_hash SEC(".maps");

enum op {
	OP_COUNT, OP_PERCPU, OP_FLOW, OP_STATS, OP_LRU, OP_LPM, OP_XSK, OP_DEV,
	OP_DEVHASH, OP_CPU, OP_INNER, OP_EVENT, OP_RING, OP_TAIL,
};

SEC("xdp")
int xdp_maps(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 16);
	__u32 key, zero = 0;
	__u64 *v, one = 1, record;

	if (!p)
		return XDP_DROP;
	key = p[1] & 7;
	switch (p[0]) {
	case OP_COUNT:
		v = bpf_map_lookup_elem(&counters, &key);
		if (!v)
			return XDP_ABORTED;
		*v += p[2];
		__builtin_memcpy(p + 8, v, sizeof(*v));
		return XDP_TX;
	case OP_PERCPU:
		v = bpf_map_lookup_elem(&percpu_counters, &zero);
		if (!v)
			return XDP_ABORTED;
		*v += 1;
		p[8] = *v;
		return XDP_PASS;
	case OP_FLOW:
		v = bpf_map_lookup_elem(&flows, &key);
		if (v) {
			*v += 1;
			p[8] = *v;
			return XDP_TX;
		}
		bpf_map_update_elem(&flows, &key, &one, BPF_NOEXIST);
		return XDP_PASS;
	case OP_STATS: {
		struct flow_stats *s, init = { 1, ctx->data_end - ctx->data };

		s = bpf_map_lookup_elem(&percpu_stats_by_protocol, &key);
		if (!s)
			return bpf_map_update_elem(&percpu_stats_by_protocol, &key, &init, BPF_ANY)
				? XDP_ABORTED : XDP_PASS;
		s->packets++;
		p[8] = s->packets;
		return XDP_TX;
	}
	case OP_LRU: {
		__u64 lkey = ((__u64)p[1] << 32) | p[2];
		__u32 *seen = bpf_map_lookup_elem(&lru_seen, &lkey), first = 1;

		if (seen) {
			p[8] = ++*seen;
			return XDP_TX;
		}
		bpf_map_update_elem(&lru_seen, &lkey, &first, BPF_ANY);
		return XDP_PASS;
	}
	case OP_LPM: {
		struct lpm_v4_key lkey = { 32, { p[1], p[2], p[3], p[4] } };
		__u32 *class = bpf_map_lookup_elem(&prefixes, &lkey);

		p[8] = class ? *class : 0xff;
		return class ? XDP_TX : XDP_PASS;
	}
	case OP_XSK:
		return bpf_redirect_map(&xsks, key, XDP_PASS);
	case OP_DEV:
		return bpf_redirect_map(&ports, key, XDP_DROP);
	case OP_DEVHASH:
		return bpf_redirect_map(&ports_by_index, key, XDP_PASS);
	case OP_CPU:
		return bpf_redirect_map(&cpus, key & 1, XDP_DROP);
	case OP_INNER: {
		void *inner = bpf_map_lookup_elem(&outer, &key);
		__u32 *x;

		if (!inner) {
			inner = bpf_map_lookup_elem(&outer_hash, &key);
			if (!inner)
				return XDP_DROP;
		}
		x = bpf_map_lookup_elem(inner, &zero);
		if (!x)
			return XDP_ABORTED;
		*x += 3;
		p[8] = *x;
		return XDP_TX;
	}
	case OP_EVENT:
		__builtin_memcpy(&record, p, sizeof(record));
		p[8] = -bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &record, sizeof(record));
		return XDP_TX;
	case OP_RING:
		__builtin_memcpy(&record, p, sizeof(record));
		p[8] = -bpf_ringbuf_output(&ring, &record, sizeof(record), 0);
		p[9] = bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA);
		return XDP_TX;
	case OP_TAIL:
		bpf_tail_call(ctx, &jumps, key);
		return XDP_PASS;
	}
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
