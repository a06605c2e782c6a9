"""Geometry checks match the kernel: pyxsk refuses exactly the UMEMs this
kernel refuses (the headroom limit of xdp_umem_reg) and the ones it would
mishandle (odd unaligned chunks), and the constants behind the limit are
this kernel's own."""

import errno
import os
import struct

import pytest

from pyxsk import _libc
from pyxsk import umem as umem_module
from pyxsk.errors import ConfigError
from pyxsk.uapi import if_xdp
from pyxsk.umem import CHUNK_RESERVE, SKB_SHARED_INFO_TAILROOM, Umem, max_headroom

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
SMP_CACHE_BYTES = 64          # x86-64: SKB_DATA_ALIGN rounds up to it

GEOMETRIES = [(2048, False), (4096, False), (3000, True), (4002, True)]


def register(frame_size, headroom, unaligned):
    """XDP_UMEM_REG of a 16-chunk UMEM on a fresh AF_XDP socket; returns the
    errno, or 0 if the kernel accepted it."""
    umem = Umem(16, frame_size, headroom, unaligned=unaligned)
    fd = _libc.socket(if_xdp.AF_XDP, _libc.SOCK_RAW, 0)
    try:
        umem.register(fd)
        return 0
    except OSError as e:
        return e.errno
    finally:
        _libc.close(fd)
        umem.close()


@pytest.mark.root
@pytest.mark.parametrize("frame_size,unaligned", GEOMETRIES)
def test_headroom_limit_is_the_kernels(monkeypatch, frame_size, unaligned):
    limit = max_headroom(frame_size)
    assert limit == frame_size - 256 - 320 - 128
    assert register(frame_size, limit, unaligned) == 0
    with pytest.raises(ConfigError, match=r"headroom %d must be 0 to %d for %d-byte chunks"
                                          % (limit + 1, limit, frame_size)):
        Umem(16, frame_size, limit + 1, unaligned=unaligned)
    monkeypatch.setattr(umem_module, "validate_geometry", lambda *args, **kwargs: None)
    assert register(frame_size, limit + 1, unaligned) == errno.EINVAL


def skb_shared_info_size(path=VMLINUX_BTF):
    """sizeof(struct skb_shared_info) from the kernel's BTF: walk the type
    section (struct btf_header, then btf_type records, each followed by
    data whose size its kind and vlen give) to the struct of that name."""
    with open(path, "rb") as f:
        data = f.read()
    magic, _, _, hdr_len, type_off, type_len, str_off, _ = struct.unpack_from("<HBBIIIII", data)
    assert magic == 0xEB9F, "not BTF"
    strings = hdr_len + str_off
    trailing = {1: lambda v: 4, 3: lambda v: 12, 4: lambda v: 12 * v, 5: lambda v: 12 * v,
                6: lambda v: 8 * v, 13: lambda v: 8 * v, 14: lambda v: 4, 15: lambda v: 12 * v,
                17: lambda v: 4, 19: lambda v: 12 * v}
    pos, end = hdr_len + type_off, hdr_len + type_off + type_len
    name = b"skb_shared_info\0"
    while pos < end:
        name_off, info, size = struct.unpack_from("<III", data, pos)
        kind, vlen = info >> 24 & 0x1F, info & 0xFFFF
        if kind == 4 and data.startswith(name, strings + name_off):
            return size
        pos += 12 + trailing.get(kind, lambda v: 0)(vlen)
    raise LookupError("no struct skb_shared_info in %s" % path)


@pytest.mark.skipif(not os.path.exists(VMLINUX_BTF), reason="this kernel exposes no BTF")
def test_the_tailroom_is_this_kernels_skb_shared_info():
    size = skb_shared_info_size()
    aligned = (size + SMP_CACHE_BYTES - 1) // SMP_CACHE_BYTES * SMP_CACHE_BYTES
    assert aligned == SKB_SHARED_INFO_TAILROOM
    assert CHUNK_RESERVE == if_xdp.XDP_PACKET_HEADROOM + aligned + 128


@pytest.mark.parametrize("frame_size", [2049, 3001, 4001, 4095])
def test_odd_unaligned_chunks_are_refused_with_the_reason(frame_size):
    with pytest.raises(ConfigError, match=r"frame_size %d: unaligned chunks of odd size start at "
                                          r"odd addresses.*0ebc27a4c67d.*use an even size such "
                                          r"as %d" % (frame_size, frame_size + 1)):
        Umem(16, frame_size, unaligned=True)
