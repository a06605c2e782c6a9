"""pyxsk.uapi.perf_event against two oracles: gcc on the installed
<linux/perf_event.h> (6.1 here) and the running kernel's BTF (6.18 here)."""

import ctypes

import pytest

from kabi import ctypes_layout, gcc_layout, kernel_btf
from pyxsk.uapi import perf_event as pe

STRUCTS = [pe.perf_event_attr, pe.perf_event_mmap_page, pe.perf_event_header]
BITFIELDS = {name for name, _bits in pe.ATTR_FLAG_BITS}
ATTR_FLAGS_OFFSET = 40          # the u64 holding the flag bits, after read_format
# Newer than the installed 6.1 headers: gcc cannot see them, BTF must.
NEWER_THAN_HEADERS = {
    (pe.perf_event_attr, "config3"),        # 6.3
    (pe.perf_event_attr, "aux_action"),     # 6.13 (__reserved_3 before)
}
NOT_IN_HEADERS = {"PERF_ATTR_SIZE_VER8"}    # 6.3


def public_members(cls):
    """{name: (offset, size)} without bitfields and private padding."""
    return {name: v for name, v in ctypes_layout(cls).items()
            if name not in BITFIELDS and not any(part.startswith("_") for part in name.split("."))}


def gcc_members(cls):
    return [m for m in public_members(cls) if (cls, m) not in NEWER_THAN_HEADERS]


@pytest.fixture(scope="module")
def gcc():
    return gcc_layout(["linux/perf_event.h"], structs=["struct " + c.__name__ for c in STRUCTS],
                      members={"struct " + c.__name__: gcc_members(c) for c in STRUCTS})


@pytest.mark.parametrize("cls", STRUCTS, ids=lambda c: c.__name__)
def test_layout_matches_gcc(gcc, cls):
    name = "struct " + cls.__name__
    for member in gcc_members(cls):
        got = public_members(cls)[member]
        want = (gcc["offsetof"][(name, member)], gcc["memberof"][(name, member)])
        assert got == want, "%s.%s: ctypes %s, gcc says %s" % (cls.__name__, member, got, want)
    if cls is pe.perf_event_attr:       # grew since 6.1: the older layout is a prefix of ours
        assert ctypes.sizeof(cls) > gcc["sizeof"][name] == pe.PERF_ATTR_SIZE_VER7
    else:
        assert ctypes.sizeof(cls) == gcc["sizeof"][name]


@pytest.mark.parametrize("cls", STRUCTS, ids=lambda c: c.__name__)
def test_layout_matches_kernel_btf(cls):
    size, members = kernel_btf().layout(cls.__name__)
    assert ctypes.sizeof(cls) == size
    for member, got in public_members(cls).items():
        assert got == members[member], "%s.%s: ctypes %s, kernel BTF says %s" % (
            cls.__name__, member, got, members[member])


def ctypes_bit(name, bits):
    """(lowest bit, width) of flag ``name`` in the u64 at ATTR_FLAGS_OFFSET,
    found by setting it to all ones in a zeroed attr."""
    attr = pe.perf_event_attr()
    setattr(attr, name, (1 << bits) - 1)
    word = int.from_bytes(bytes(attr)[ATTR_FLAGS_OFFSET:ATTR_FLAGS_OFFSET + 8], "little")
    assert bytes(attr)[:ATTR_FLAGS_OFFSET] == bytes(ATTR_FLAGS_OFFSET)
    low = (word & -word).bit_length() - 1
    return low, word.bit_length() - low


def test_flag_bits_match_gcc():
    probe = ("((union { struct perf_event_attr a; unsigned long long u[%d]; })"
             "{ .a = { .%s = %d } }).u[%d]")
    words = ctypes.sizeof(pe.perf_event_attr) // 8
    exprs = {name: probe % (words, name, (1 << bits) - 1, ATTR_FLAGS_OFFSET // 8)
             for name, bits in pe.ATTR_FLAG_BITS}
    res = gcc_layout(["linux/perf_event.h"], consts=list(exprs.values()))
    position = 0
    for name, bits in pe.ATTR_FLAG_BITS:
        word = res["const"][exprs[name]] & ((1 << 64) - 1)
        assert word == ((1 << bits) - 1) << position, name
        assert ctypes_bit(name, bits) == (position, bits), name
        position += bits
    assert position == 64


def test_flag_bits_match_kernel_btf():
    btf = kernel_btf()
    tid = btf.by_name[(4, "perf_event_attr")]     # BTF_KIND_STRUCT
    bit_offsets = {name: off for name, _type, off in btf.types[tid]["members"]}
    for name, bits in pe.ATTR_FLAG_BITS:
        low, width = ctypes_bit(name, bits)
        assert bit_offsets[name] == ATTR_FLAGS_OFFSET * 8 + low, name
        assert width == bits


def module_constants():
    return {name: value for name, value in vars(pe).items()
            if name[:1].isupper() and isinstance(value, int)}


def test_enum_constants_match_kernel_btf():
    enums = kernel_btf().enums
    checked = 0
    for name, value in module_constants().items():
        if name in enums:
            assert value == enums[name], "%s = %d, kernel BTF says %d" % (name, value, enums[name])
            checked += 1
    # event types, software events, sample formats, record types
    assert checked >= 40


def test_defines_match_gcc():
    enums = kernel_btf().enums
    names = sorted(n for n in module_constants() if n not in enums and n not in NOT_IN_HEADERS)
    assert "PERF_EVENT_IOC_ENABLE" in names and "PERF_FLAG_FD_CLOEXEC" in names
    res = gcc_layout(["linux/perf_event.h"], consts=names)
    for name in names:
        assert module_constants()[name] == res["const"][name], name


def test_newest_attr_size_is_the_running_kernels():
    size, _members = kernel_btf().layout("perf_event_attr")
    assert pe.PERF_ATTR_SIZE_VER8 == size == ctypes.sizeof(pe.perf_event_attr)
