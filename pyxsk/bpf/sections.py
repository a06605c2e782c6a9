"""ELF section names to program types, as libbpf reads ``SEC("...")``.

A name either matches an entry exactly or, for the entries marked as
taking a suffix (``kprobe/<function>``, ``tracepoint/<category>/<name>``),
starts with it followed by ``/``.  The entry gives the program type, the
``expected_attach_type`` BPF_PROG_LOAD is told, and load flags
(``xdp.frags`` -> BPF_F_XDP_HAS_FRAGS).  Sections whose programs need a
BTF id of a kernel function to load (fentry, fexit, lsm, iter, struct_ops,
freplace) are known and refused by name: pyxsk does not resolve kernel BTF.
Other names need an explicit type, as ``bpftool prog load ... type xdp``.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Tuple, Union

from ..errors import ObjectError
from ..uapi import bpf as k


class SectionType(NamedTuple):
    """What BPF_PROG_LOAD is told for a program from one section."""
    prog_type: int
    expected_attach_type: int
    flags: int


# (name, takes "/suffix", type, expected attach type, flags)
_DEFS: Tuple[Tuple[str, bool, int, int, int], ...] = (
    ("socket", False, k.BPF_PROG_TYPE_SOCKET_FILTER, 0, 0),
    ("sk_reuseport/migrate", False, k.BPF_PROG_TYPE_SK_REUSEPORT, k.BPF_SK_REUSEPORT_SELECT_OR_MIGRATE, 0),
    ("sk_reuseport", False, k.BPF_PROG_TYPE_SK_REUSEPORT, k.BPF_SK_REUSEPORT_SELECT, 0),
    ("kprobe", True, k.BPF_PROG_TYPE_KPROBE, 0, 0),
    ("kretprobe", True, k.BPF_PROG_TYPE_KPROBE, 0, 0),
    ("uprobe", True, k.BPF_PROG_TYPE_KPROBE, 0, 0),
    ("uretprobe", True, k.BPF_PROG_TYPE_KPROBE, 0, 0),
    ("tc", False, k.BPF_PROG_TYPE_SCHED_CLS, 0, 0),
    ("classifier", False, k.BPF_PROG_TYPE_SCHED_CLS, 0, 0),
    ("action", False, k.BPF_PROG_TYPE_SCHED_ACT, 0, 0),
    ("tc/ingress", False, k.BPF_PROG_TYPE_SCHED_CLS, k.BPF_TCX_INGRESS, 0),
    ("tc/egress", False, k.BPF_PROG_TYPE_SCHED_CLS, k.BPF_TCX_EGRESS, 0),
    ("tcx/ingress", False, k.BPF_PROG_TYPE_SCHED_CLS, k.BPF_TCX_INGRESS, 0),
    ("tcx/egress", False, k.BPF_PROG_TYPE_SCHED_CLS, k.BPF_TCX_EGRESS, 0),
    ("tracepoint", True, k.BPF_PROG_TYPE_TRACEPOINT, 0, 0),
    ("tp", True, k.BPF_PROG_TYPE_TRACEPOINT, 0, 0),
    ("raw_tracepoint", True, k.BPF_PROG_TYPE_RAW_TRACEPOINT, 0, 0),
    ("raw_tp", True, k.BPF_PROG_TYPE_RAW_TRACEPOINT, 0, 0),
    ("xdp.frags/devmap", False, k.BPF_PROG_TYPE_XDP, k.BPF_XDP_DEVMAP, k.BPF_F_XDP_HAS_FRAGS),
    ("xdp/devmap", False, k.BPF_PROG_TYPE_XDP, k.BPF_XDP_DEVMAP, 0),
    ("xdp.frags/cpumap", False, k.BPF_PROG_TYPE_XDP, k.BPF_XDP_CPUMAP, k.BPF_F_XDP_HAS_FRAGS),
    ("xdp/cpumap", False, k.BPF_PROG_TYPE_XDP, k.BPF_XDP_CPUMAP, 0),
    ("xdp.frags", False, k.BPF_PROG_TYPE_XDP, k.BPF_XDP, k.BPF_F_XDP_HAS_FRAGS),
    ("xdp", False, k.BPF_PROG_TYPE_XDP, k.BPF_XDP, 0),
    ("perf_event", False, k.BPF_PROG_TYPE_PERF_EVENT, 0, 0),
    ("lwt_in", False, k.BPF_PROG_TYPE_LWT_IN, 0, 0),
    ("lwt_out", False, k.BPF_PROG_TYPE_LWT_OUT, 0, 0),
    ("lwt_xmit", False, k.BPF_PROG_TYPE_LWT_XMIT, 0, 0),
    ("lwt_seg6local", False, k.BPF_PROG_TYPE_LWT_SEG6LOCAL, 0, 0),
    ("sockops", False, k.BPF_PROG_TYPE_SOCK_OPS, k.BPF_CGROUP_SOCK_OPS, 0),
    ("sk_skb/stream_parser", False, k.BPF_PROG_TYPE_SK_SKB, k.BPF_SK_SKB_STREAM_PARSER, 0),
    ("sk_skb/stream_verdict", False, k.BPF_PROG_TYPE_SK_SKB, k.BPF_SK_SKB_STREAM_VERDICT, 0),
    ("sk_skb", False, k.BPF_PROG_TYPE_SK_SKB, 0, 0),
    ("sk_msg", False, k.BPF_PROG_TYPE_SK_MSG, k.BPF_SK_MSG_VERDICT, 0),
    ("flow_dissector", False, k.BPF_PROG_TYPE_FLOW_DISSECTOR, k.BPF_FLOW_DISSECTOR, 0),
    ("cgroup_skb/ingress", False, k.BPF_PROG_TYPE_CGROUP_SKB, k.BPF_CGROUP_INET_INGRESS, 0),
    ("cgroup_skb/egress", False, k.BPF_PROG_TYPE_CGROUP_SKB, k.BPF_CGROUP_INET_EGRESS, 0),
    ("cgroup/skb", False, k.BPF_PROG_TYPE_CGROUP_SKB, 0, 0),
    ("cgroup/sock_create", False, k.BPF_PROG_TYPE_CGROUP_SOCK, k.BPF_CGROUP_INET_SOCK_CREATE, 0),
    ("cgroup/sock_release", False, k.BPF_PROG_TYPE_CGROUP_SOCK, k.BPF_CGROUP_INET_SOCK_RELEASE, 0),
    ("cgroup/sock", False, k.BPF_PROG_TYPE_CGROUP_SOCK, k.BPF_CGROUP_INET_SOCK_CREATE, 0),
    ("cgroup/dev", False, k.BPF_PROG_TYPE_CGROUP_DEVICE, k.BPF_CGROUP_DEVICE, 0),
    ("sk_lookup", False, k.BPF_PROG_TYPE_SK_LOOKUP, k.BPF_SK_LOOKUP, 0),
    ("netfilter", False, k.BPF_PROG_TYPE_NETFILTER, k.BPF_NETFILTER, 0),
)
# sections whose programs need a kernel BTF id at load (attach_btf_id)
_NEEDS_KERNEL_BTF = ("fentry", "fexit", "fmod_ret", "fentry.s", "fexit.s", "fmod_ret.s", "freplace",
                     "lsm", "lsm.s", "lsm_cgroup", "iter", "iter.s", "struct_ops", "struct_ops.s",
                     "tp_btf", "syscall")
# what a user may name as the type of a non-standard section (bpftool's names)
TYPE_NAMES: Dict[str, SectionType] = {
    "xdp": SectionType(k.BPF_PROG_TYPE_XDP, k.BPF_XDP, 0),
    "xdp.frags": SectionType(k.BPF_PROG_TYPE_XDP, k.BPF_XDP, k.BPF_F_XDP_HAS_FRAGS),
    "socket": SectionType(k.BPF_PROG_TYPE_SOCKET_FILTER, 0, 0),
    "tc": SectionType(k.BPF_PROG_TYPE_SCHED_CLS, 0, 0),
    "classifier": SectionType(k.BPF_PROG_TYPE_SCHED_CLS, 0, 0),
    "action": SectionType(k.BPF_PROG_TYPE_SCHED_ACT, 0, 0),
    "kprobe": SectionType(k.BPF_PROG_TYPE_KPROBE, 0, 0),
    "tracepoint": SectionType(k.BPF_PROG_TYPE_TRACEPOINT, 0, 0),
    "raw_tracepoint": SectionType(k.BPF_PROG_TYPE_RAW_TRACEPOINT, 0, 0),
    "perf_event": SectionType(k.BPF_PROG_TYPE_PERF_EVENT, 0, 0),
    "sk_skb": SectionType(k.BPF_PROG_TYPE_SK_SKB, 0, 0),
    "flow_dissector": SectionType(k.BPF_PROG_TYPE_FLOW_DISSECTOR, k.BPF_FLOW_DISSECTOR, 0),
}

ProgTypeLike = Union[str, int, SectionType, None]


def _matches(section: str, name: str, suffix: bool) -> bool:
    return section == name or (suffix and section.startswith(name + "/"))


def section_type(section: str, override: ProgTypeLike = None) -> SectionType:
    """The program type for a program in ``section``; ``override`` (a name
    from :data:`TYPE_NAMES`, a BPF_PROG_TYPE_* int or a SectionType) wins
    over the section's name.  A leading "?" (libbpf's "do not load unless
    asked") does not change the type."""
    if override is not None:
        return explicit_type(override)
    section = section[1:] if section.startswith("?") else section
    for name, suffix, prog_type, attach, flags in _DEFS:
        if _matches(section, name, suffix):
            return SectionType(prog_type, attach, flags)
    for name in _NEEDS_KERNEL_BTF:
        if _matches(section, name, True):
            raise ObjectError("section %r: %s programs need the BTF id of a kernel function to load, "
                              "which pyxsk does not resolve" % (section, name))
    raise ObjectError("section %r does not name a program type libbpf knows: pass prog_type= "
                      "(one of %s, or a BPF_PROG_TYPE_* number)" % (section, ", ".join(sorted(TYPE_NAMES))))


def explicit_type(value: ProgTypeLike) -> SectionType:
    if isinstance(value, SectionType):
        return value
    if isinstance(value, str):
        found: Optional[SectionType] = TYPE_NAMES.get(value)
        if found is None:
            raise ObjectError("program type %r: one of %s" % (value, ", ".join(sorted(TYPE_NAMES))))
        return found
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 64:
        attach = k.BPF_XDP if value == k.BPF_PROG_TYPE_XDP else 0
        return SectionType(value, attach, 0)
    raise ObjectError("program type must be a name (%s) or a BPF_PROG_TYPE_* number, not %r" % (
        ", ".join(sorted(TYPE_NAMES)), value))
