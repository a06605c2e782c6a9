/* The large object of tools/bench_load.py and the oracle: a few thousand
 * instructions (unrolled loops, parsers for Ethernet, VLAN, IPv4, IPv6,
 * UDP, TCP and ICMP), six maps of five types, global data and static
 * subprograms, in four programs. */
#include "corpus.h"
#include <linux/ipv6.h>
#include <linux/tcp.h>

#define HASH_BYTES 64

struct flow_key {
	__u32 src[4];
	__u32 dst[4];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct flow_val {
	__u64 packets;
	__u64 bytes;
	__u32 hash;
	__u32 flags;
};

/* <linux/icmp.h> pulls in libc headers that do not build for BPF */
struct icmp_head {
	__u8 type;
	__u8 code;
	__u16 checksum;
};

struct lpm_v6_key {
	__u32 prefixlen;
	__u32 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct flow_key);
	__type(value, struct flow_val);
} large_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} large_recent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} large_proto_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__type(key, struct lpm_v6_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} large_blocked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} large_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} large_xsks SEC(".maps");

const volatile __u32 cfg_seed = 0x9e3779b9;
const volatile __u16 cfg_xsk_port = 4242;
__u64 large_drops;

static __always_inline void count_proto(__u32 proto)
{
	__u32 key = proto & 15;
	__u64 *n = bpf_map_lookup_elem(&large_proto_stats, &key);

	if (n)
		*n += 1;
}

static __noinline __u32 rotl(__u32 x, __u32 r)
{
	r &= 31;
	return (x << r) | (x >> ((32 - r) & 31));
}

/* a hash of the first HASH_BYTES payload bytes, unrolled */
static __always_inline __u32 hash_bytes(__u8 *p, void *end, __u32 h)
{
#pragma unroll
	for (int i = 0; i < HASH_BYTES; i++) {
		if ((void *)(p + i + 1) > end)
			break;
		h ^= p[i];
		h *= 16777619;
		h ^= h >> (i & 7);
	}
	return h;
}

static __always_inline int blocked_v6(__u32 *addr)
{
	struct lpm_v6_key key = { 128, { addr[0], addr[1], addr[2], addr[3] } };

	return bpf_map_lookup_elem(&large_blocked, &key) != 0;
}

static __always_inline int parse(struct xdp_md *ctx, struct flow_key *k, __u32 *len)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l3 = data + sizeof(*eth);
	__u16 proto;
	void *l4;

	if (l3 > end)
		return -1;
	proto = eth->h_proto;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
			if (l3 + 4 > end)
				return -1;
			proto = *(__u16 *)(l3 + 2);
			l3 += 4;
		}
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end)
			return -1;
		k->src[0] = ip->saddr;
		k->dst[0] = ip->daddr;
		k->proto = ip->protocol;
		*len = bpf_ntohs(ip->tot_len);
		l4 = l3 + ip->ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end)
			return -1;
#pragma unroll
		for (int i = 0; i < 4; i++) {
			k->src[i] = ip6->saddr.in6_u.u6_addr32[i];
			k->dst[i] = ip6->daddr.in6_u.u6_addr32[i];
		}
		k->proto = ip6->nexthdr;
		*len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		l4 = ip6 + 1;
		if (blocked_v6(k->src))
			return -2;
	} else {
		return 0;
	}
	if (k->proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > end)
			return -1;
		k->sport = bpf_ntohs(udp->source);
		k->dport = bpf_ntohs(udp->dest);
	} else if (k->proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > end)
			return -1;
		k->sport = bpf_ntohs(tcp->source);
		k->dport = bpf_ntohs(tcp->dest);
	} else if (k->proto == IPPROTO_ICMP) {
		struct icmp_head *icmp = l4;

		if ((void *)(icmp + 1) > end)
			return -1;
		k->sport = icmp->type;
		k->dport = icmp->code;
	}
	return 1;
}

SEC("xdp")
int large_classify(struct xdp_md *ctx)
{
	struct flow_key k = {};
	struct flow_val *v, init = {};
	__u32 len = 0, h;
	int r = parse(ctx, &k, &len);

	if (r < 0) {
		__sync_fetch_and_add(&large_drops, 1);
		return r == -2 ? XDP_DROP : XDP_ABORTED;
	}
	if (r == 0)
		return XDP_PASS;
	count_proto(k.proto);
	h = hash_bytes((__u8 *)(long)ctx->data, (void *)(long)ctx->data_end, cfg_seed);
	h = rotl(h, k.sport);
	v = bpf_map_lookup_elem(&large_flows, &k);
	if (v) {
		v->packets++;
		v->bytes += len;
		v->hash = h;
	} else {
		init.packets = 1;
		init.bytes = len;
		init.hash = h;
		bpf_map_update_elem(&large_flows, &k, &init, BPF_ANY);
	}
	if (k.proto == IPPROTO_UDP && k.dport == cfg_xsk_port)
		return bpf_redirect_map(&large_xsks, ctx->rx_queue_index, XDP_PASS);
	return XDP_PASS;
}

SEC("xdp")
int large_hash(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 4);
	void *end = (void *)(long)ctx->data_end;
	__u32 h, key;
	__u64 stamp;

	if (!p)
		return XDP_DROP;
	h = hash_bytes(p, end, cfg_seed);
	h = hash_bytes(p, end, rotl(h, 13));
	key = h;
	stamp = h;
	bpf_map_update_elem(&large_recent, &key, &stamp, BPF_ANY);
	__builtin_memcpy(p, &h, sizeof(h));
	return XDP_TX;
}

SEC("xdp")
int large_config_rewrite(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 32);
	__u32 i;

	if (!p)
		return XDP_DROP;
#pragma unroll
	for (i = 0; i < 32; i++) {
		__u32 key = i, *c = bpf_map_lookup_elem(&large_config, &key);

		if (c && *c)
			p[i] ^= *c;
	}
	return XDP_TX;
}

SEC("xdp")
int large_mixer(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 16);
	__u32 a, b, c, d;

	if (!p)
		return XDP_DROP;
	a = p[0] | p[1] << 8;
	b = p[2] | p[3] << 8;
	c = p[4] | p[5] << 8;
	d = p[6] | p[7] << 8;
#pragma unroll
	for (int i = 0; i < 24; i++) {
		a += b; d ^= a; d = (d << 16) | (d >> 16);
		c += d; b ^= c; b = (b << 12) | (b >> 20);
		a += b; d ^= a; d = (d << 8) | (d >> 24);
		c += d; b ^= c; b = (b << 7) | (b >> 25);
	}
	__builtin_memcpy(p, &a, 4);
	__builtin_memcpy(p + 4, &b, 4);
	__builtin_memcpy(p + 8, &c, 4);
	__builtin_memcpy(p + 12, &d, 4);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
