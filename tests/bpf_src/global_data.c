/* Global data of each kind, as libbpf turns it into single-value ARRAY
 * maps: .data (initialised variables), .bss (zeroed ones), .rodata
 * (const volatile configuration the loader sets by name before load, and a
 * plain const table), .rodata.str1.1 (string literals the compiler merges),
 * plus a "version" section next to the license.
 *
 * xdp_globals copies the configuration and the counters into the frame;
 * xdp_strings copies a byte of a string literal chosen by the frame, and
 * xdp_printk formats through bpf_trace_printk, whose format the kernel
 * wants in a frozen, read-only map. */
#include "corpus.h"

/* .rodata: the loader may change these by name before loading */
const volatile __u16 cfg_port = 53;
const volatile __u32 cfg_action = XDP_TX;
const volatile __u8 cfg_tag[6] = { 0x02, 'p', 'y', 'x', 's', 'k' };
const volatile __u64 cfg_unset;

/* .rodata too: a table the program indexes at run time */
const __u32 squares[8] = { 0, 1, 4, 9, 16, 25, 36, 49 };

/* .data */
__u32 seen = 7;
char greeting[8] = "hello";
static __u64 hidden_total = 1000;

/* .bss */
__u64 packets;
__u32 last_len;

SEC("xdp")
int xdp_globals(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 40);
	__u16 port = cfg_port;		/* one volatile read: clang may not fold it */
	__u32 i;

	if (!p)
		return XDP_DROP;
	packets++;
	seen += 1;
	hidden_total += p[0];
	last_len = ctx->data_end - ctx->data;
	__builtin_memcpy(p + 0, &port, sizeof(port));
	for (i = 0; i < sizeof(cfg_tag); i++)
		p[2 + i] = cfg_tag[i];
	__builtin_memcpy(p + 8, &packets, sizeof(packets));
	__builtin_memcpy(p + 16, &seen, sizeof(seen));
	__builtin_memcpy(p + 20, greeting, sizeof(greeting));
	__builtin_memcpy(p + 28, &hidden_total, sizeof(hidden_total));
	p[36] = squares[p[37] & 7];
	p[38] = cfg_unset ? 1 : 0;
	return cfg_action;
}

SEC("xdp")
int xdp_strings(struct xdp_md *ctx)
{
	const char *motto = "pyxsk reads objects";
	__u8 *p = payload(ctx, 2);

	if (!p)
		return XDP_DROP;
	p[1] = motto[p[0] & 15];
	return XDP_TX;
}

SEC("xdp")
int xdp_printk(struct xdp_md *ctx)
{
	__u8 *p = payload(ctx, 1);

	if (!p)
		return XDP_DROP;
	p[0] = bpf_trace_printk("pyxsk corpus %d\n", sizeof("pyxsk corpus %d\n"), p[0]);
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual MIT/GPL";
__u32 _version SEC("version") = 0x061200;
