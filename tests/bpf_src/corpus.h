/* Shared by the object-loader test corpus (the .c files here): the headers
 * every program includes and a bounds-checked view of an Ethernet frame.
 * Built by tests/bpfobj.py with
 *   clang -O2 -g -target bpf -I/usr/include/<gcc -dumpmachine> -c FILE.c
 */
#ifndef PYXSK_CORPUS_H
#define PYXSK_CORPUS_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* The frame's first byte after the Ethernet header, or NULL when the
 * frame is shorter than ETH_HLEN + need bytes. */
static __always_inline __u8 *payload(struct xdp_md *ctx, __u32 need)
{
	__u8 *data = (__u8 *)(long)ctx->data;
	__u8 *end = (__u8 *)(long)ctx->data_end;

	if (data + ETH_HLEN + need > end)
		return 0;
	return data + ETH_HLEN;
}

#endif
