/* pyxsk prog load tests: an XDP program in a section whose name says no
 * program type, loadable only with --type xdp (as bpftool's "type xdp"). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("pyxsk_custom")
int cli_custom(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
