"""pyxsk.uapi.bpf against two oracles: gcc on the installed <linux/bpf.h>
(6.1 here) and the running kernel's BTF (6.18 here)."""

import ctypes

import pytest

from kabi import ctypes_layout, gcc_layout, kernel_btf
from pyxsk.uapi import bpf

# Each structure: the C type it mirrors and, member by member, the C path of
# that member inside it ("test.prog_fd" for a member of union bpf_attr's
# named ``test``; anonymous members of the union are reached directly).
ATTR_PIECES = {
    bpf.bpf_attr_map_create: "",
    bpf.bpf_attr_map_elem: "",
    bpf.bpf_attr_prog_load: "",
    bpf.bpf_attr_get_id: "",
    bpf.bpf_attr_info: "info.",
    bpf.bpf_attr_test: "test.",
    bpf.bpf_attr_link_create: "link_create.",
    bpf.bpf_attr_link_update: "link_update.",
    bpf.bpf_attr_link_detach: "link_detach.",
    bpf.bpf_attr_obj: "",
    bpf.bpf_attr_btf_load: "",
}
# members whose whole C counterpart the piece covers (so the sizes agree too)
WHOLE_MEMBER = {bpf.bpf_attr_info: "info", bpf.bpf_attr_test: "test",
                bpf.bpf_attr_link_update: "link_update", bpf.bpf_attr_link_detach: "link_detach"}
STRUCTS = [bpf.xdp_md, bpf.bpf_prog_info, bpf.bpf_map_info, bpf.bpf_link_info, bpf.bpf_btf_info,
           bpf.bpf_func_info, bpf.bpf_line_info]

# Newer than the installed 6.1 headers: gcc cannot see them, BTF must.
NEWER_THAN_HEADERS = {
    (bpf.bpf_attr_prog_load, "log_true_size"),           # 6.4
    (bpf.bpf_attr_btf_load, "btf_log_true_size"),        # 6.4
    (bpf.bpf_attr_obj, "path_fd"),                       # 6.5
    (bpf.bpf_map_info, "btf_vmlinux_id"),                # 6.7
    (bpf.bpf_map_info, "hash"), (bpf.bpf_map_info, "hash_size"),   # 6.18
}
BITFIELDS = {(bpf.bpf_insn, "dst_reg"), (bpf.bpf_insn, "src_reg"),
             (bpf.bpf_prog_info, "gpl_compatible")}


def public_members(cls):
    """{name: (offset, size)} without the private padding/union helpers."""
    return {name: v for name, v in ctypes_layout(cls).items()
            if not any(part.startswith("_") for part in name.split("."))}


def c_name(cls):
    return "union bpf_attr" if cls in ATTR_PIECES else "struct " + cls.__name__


def c_path(cls, member):
    return ATTR_PIECES.get(cls, "") + member


def gcc_members(cls):
    return [m for m in public_members(cls)
            if (cls, m) not in NEWER_THAN_HEADERS and (cls, m) not in BITFIELDS]


@pytest.fixture(scope="module")
def gcc():
    classes = list(ATTR_PIECES) + STRUCTS + [bpf.bpf_insn]
    members = {}
    for cls in classes:
        members.setdefault(c_name(cls), []).extend(c_path(cls, m) for m in gcc_members(cls))
    members["union bpf_attr"].extend(WHOLE_MEMBER.values())
    return gcc_layout(["linux/bpf.h"], structs=["union bpf_attr"] + [c_name(c) for c in STRUCTS]
                      + ["struct bpf_insn"], members=members)


@pytest.mark.parametrize("cls", list(ATTR_PIECES) + STRUCTS + [bpf.bpf_insn],
                         ids=lambda c: c.__name__)
def test_layout_matches_gcc(gcc, cls):
    name = c_name(cls)
    for member in gcc_members(cls):
        path = c_path(cls, member)
        got = public_members(cls)[member]
        want = (gcc["offsetof"][(name, path)], gcc["memberof"][(name, path)])
        assert got == want, "%s.%s: ctypes %s, gcc says %s" % (cls.__name__, member, got, want)
    if cls in WHOLE_MEMBER:
        assert ctypes.sizeof(cls) == gcc["memberof"][(name, WHOLE_MEMBER[cls])]
    elif cls in ATTR_PIECES:
        assert ctypes.sizeof(cls) <= gcc["sizeof"][name]
    elif cls is bpf.bpf_link_info or any((cls, m) in NEWER_THAN_HEADERS
                                         for m in public_members(cls)):
        # grew since 6.1: the older, shorter layout is a prefix of ours
        assert ctypes.sizeof(cls) >= gcc["sizeof"][name]
    else:
        assert ctypes.sizeof(cls) == gcc["sizeof"][name]


@pytest.mark.parametrize("cls", list(ATTR_PIECES) + STRUCTS + [bpf.bpf_insn],
                         ids=lambda c: c.__name__)
def test_layout_matches_kernel_btf(cls):
    btf = kernel_btf()
    if cls in ATTR_PIECES:
        size, members = btf.layout("bpf_attr", union=True)
        assert ctypes.sizeof(cls) <= size
        if cls in WHOLE_MEMBER:
            assert ctypes.sizeof(cls) == members[WHOLE_MEMBER[cls]][1]
    else:
        size, members = btf.layout(cls.__name__)
        assert ctypes.sizeof(cls) == size, "%s: sizeof %d, kernel BTF says %d" % (
            cls.__name__, ctypes.sizeof(cls), size)
    for member, got in public_members(cls).items():
        want = members[c_path(cls, member)]
        assert got == want, "%s.%s: ctypes %s, kernel BTF says %s" % (cls.__name__, member, got, want)


def test_insn_register_nibbles_match_gcc():
    """dst_reg is the low nibble of byte 1, src_reg the high one: what the C
    compiler makes of ``{.dst_reg = 1, .src_reg = 2}``."""
    probe = ("((union { struct bpf_insn i; unsigned char b[8]; })"
             "{ .i = { .code = 0x61, .dst_reg = %d, .src_reg = %d } }).b[1]")
    cases = [(1, 2), (10, 0), (0, 10), (15, 15)]
    res = gcc_layout(["linux/bpf.h"], consts=[probe % c for c in cases])
    for dst, src in cases:
        raw = bytes(bpf.bpf_insn(code=0x61, dst_reg=dst, src_reg=src))
        assert raw[1] == res["const"][probe % (dst, src)]


def module_constants():
    return {name: value for name, value in vars(bpf).items()
            if name[:1].isupper() and isinstance(value, int)}


# constants under the kernel's names that are neither enum members (BTF) nor
# in the 6.1 UAPI headers: BPF_MEMSX (6.6) is newer; the log levels live in
# the kernel-internal linux/bpf_verifier.h.  test_asm has the kernel list and
# run sign-extending loads, and test_bpf asks for a log at each level.
NOT_IN_HEADERS = {"BPF_MEMSX", "BPF_LOG_LEVEL1", "BPF_LOG_LEVEL2", "BPF_LOG_STATS"}


def test_enum_constants_match_kernel_btf():
    enums = kernel_btf().enums
    checked = 0
    for name, value in module_constants().items():
        if name in enums:
            assert value == enums[name], "%s = %d, kernel BTF says %d" % (name, value, enums[name])
            checked += 1
    # the enums: commands, map/prog/attach/link types, helpers, XDP actions, flags
    assert checked > 400


def test_defines_match_gcc():
    enums = kernel_btf().enums
    names = sorted(n for n in module_constants()
                   if n not in enums and n not in NOT_IN_HEADERS)
    assert "BPF_PSEUDO_MAP_FD" in names
    res = gcc_layout(["linux/bpf.h"], consts=names)
    for name in names:
        assert module_constants()[name] == res["const"][name], name


def test_code_field_macros_match_gcc():
    codes = [0x00, 0x07, 0x18, 0x61, 0x7b, 0xc3, 0xdb, 0xdc, 0xff]
    macros = ["BPF_CLASS", "BPF_SIZE", "BPF_MODE", "BPF_OP", "BPF_SRC"]
    exprs = ["%s(%d)" % (m, c) for m in macros for c in codes]
    res = gcc_layout(["linux/bpf.h"], consts=exprs)
    for m in macros:
        for c in codes:
            assert getattr(bpf, m)(c) == res["const"]["%s(%d)" % (m, c)]


def test_every_kernel_helper_has_a_name():
    enums = kernel_btf().enums
    kernel = {value: "bpf_" + name[len("BPF_FUNC_"):] for name, value in enums.items()
              if name.startswith("BPF_FUNC_")}
    assert bpf.HELPER_NAMES == kernel
    assert bpf.HELPER_NAMES[bpf.BPF_FUNC_redirect_map] == "bpf_redirect_map"
