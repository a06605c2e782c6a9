"""include/uapi/linux/if_xdp.h: the AF_XDP socket interface.

Names are the kernel's.  Structures use the C layout (natural alignment),
exactly as the kernel's own ``sizeof`` sees them: the kernel decides which
version of a structure it was given by its length, so a tightly packed
28-byte ``xdp_umem_reg`` would be read as the 24-byte v1 and lose its flags.
The tests compare every size and offset with gcc on the installed headers and
with the running kernel's BTF.
"""

from __future__ import annotations

import ctypes
import typing

if typing.TYPE_CHECKING:
    from . import Field

_u16, _u32, _u64 = ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64

# linux/socket.h
AF_XDP = 44
SOL_XDP = 283

# sxdp_flags
XDP_SHARED_UMEM = 1 << 0
XDP_COPY = 1 << 1           # force copy mode
XDP_ZEROCOPY = 1 << 2       # force zero-copy mode
XDP_USE_NEED_WAKEUP = 1 << 3
XDP_USE_SG = 1 << 4         # multi-buffer (6.6)

# xdp_umem_reg.flags
XDP_UMEM_UNALIGNED_CHUNK_FLAG = 1 << 0
XDP_UMEM_TX_SW_CSUM = 1 << 1        # 6.8
XDP_UMEM_TX_METADATA_LEN = 1 << 2   # 6.11

# ring flags
XDP_RING_NEED_WAKEUP = 1 << 0

# socket options (level SOL_XDP)
XDP_MMAP_OFFSETS = 1
XDP_RX_RING = 2
XDP_TX_RING = 3
XDP_UMEM_REG = 4
XDP_UMEM_FILL_RING = 5
XDP_UMEM_COMPLETION_RING = 6
XDP_STATISTICS = 7
XDP_OPTIONS = 8
XDP_MAX_TX_SKB_BUDGET = 9   # 6.17

# xdp_options.flags
XDP_OPTIONS_ZEROCOPY = 1 << 0

# mmap page offsets of the four rings
XDP_PGOFF_RX_RING = 0
XDP_PGOFF_TX_RING = 0x80000000
XDP_UMEM_PGOFF_FILL_RING = 0x100000000
XDP_UMEM_PGOFF_COMPLETION_RING = 0x180000000

# unaligned-chunk addresses: offset in the top 16 bits, base address below
XSK_UNALIGNED_BUF_OFFSET_SHIFT = 48
XSK_UNALIGNED_BUF_ADDR_MASK = (1 << XSK_UNALIGNED_BUF_OFFSET_SHIFT) - 1

# xdp_desc.options
XDP_PKT_CONTD = 1 << 0      # multi-buffer: more fragments follow
XDP_TX_METADATA = 1 << 1

# include/net/xdp.h, not UAPI but fixed: the kernel puts received data this far
# into a chunk (after the UMEM headroom) in copy mode and aligned zero-copy.
XDP_PACKET_HEADROOM = 256


class sockaddr_xdp(ctypes.Structure):
    _fields_ = [
        ("sxdp_family", _u16),
        ("sxdp_flags", _u16),
        ("sxdp_ifindex", _u32),
        ("sxdp_queue_id", _u32),
        ("sxdp_shared_umem_fd", _u32),
    ]
    sxdp_family: Field[ctypes.c_uint16, int]
    sxdp_flags: Field[ctypes.c_uint16, int]
    sxdp_ifindex: Field[ctypes.c_uint32, int]
    sxdp_queue_id: Field[ctypes.c_uint32, int]
    sxdp_shared_umem_fd: Field[ctypes.c_uint32, int]


class xdp_ring_offset(ctypes.Structure):
    _fields_ = [("producer", _u64), ("consumer", _u64), ("desc", _u64), ("flags", _u64)]
    producer: Field[ctypes.c_uint64, int]
    consumer: Field[ctypes.c_uint64, int]
    desc: Field[ctypes.c_uint64, int]
    flags: Field[ctypes.c_uint64, int]


class xdp_ring_offset_v1(ctypes.Structure):
    """Before 5.4 the kernel had no ring flags (so no need_wakeup)."""
    _fields_ = [("producer", _u64), ("consumer", _u64), ("desc", _u64)]
    producer: Field[ctypes.c_uint64, int]
    consumer: Field[ctypes.c_uint64, int]
    desc: Field[ctypes.c_uint64, int]


class xdp_mmap_offsets(ctypes.Structure):
    _fields_ = [("rx", xdp_ring_offset), ("tx", xdp_ring_offset),
                ("fr", xdp_ring_offset), ("cr", xdp_ring_offset)]
    rx: Field[xdp_ring_offset, xdp_ring_offset]
    tx: Field[xdp_ring_offset, xdp_ring_offset]
    fr: Field[xdp_ring_offset, xdp_ring_offset]
    cr: Field[xdp_ring_offset, xdp_ring_offset]


class xdp_mmap_offsets_v1(ctypes.Structure):
    _fields_ = [("rx", xdp_ring_offset_v1), ("tx", xdp_ring_offset_v1),
                ("fr", xdp_ring_offset_v1), ("cr", xdp_ring_offset_v1)]
    rx: Field[xdp_ring_offset_v1, xdp_ring_offset_v1]
    tx: Field[xdp_ring_offset_v1, xdp_ring_offset_v1]
    fr: Field[xdp_ring_offset_v1, xdp_ring_offset_v1]
    cr: Field[xdp_ring_offset_v1, xdp_ring_offset_v1]


class xdp_umem_reg_v1(ctypes.Structure):
    """4.18 - 5.3: no flags."""
    _fields_ = [("addr", _u64), ("len", _u64), ("chunk_size", _u32), ("headroom", _u32)]
    addr: Field[ctypes.c_uint64, int]
    len: Field[ctypes.c_uint64, int]
    chunk_size: Field[ctypes.c_uint32, int]
    headroom: Field[ctypes.c_uint32, int]


class xdp_umem_reg_v2(ctypes.Structure):
    """5.4 - 6.7: flags; 4 bytes of tail padding make it 32 bytes."""
    _fields_ = [("addr", _u64), ("len", _u64), ("chunk_size", _u32), ("headroom", _u32),
                ("flags", _u32)]
    addr: Field[ctypes.c_uint64, int]
    len: Field[ctypes.c_uint64, int]
    chunk_size: Field[ctypes.c_uint32, int]
    headroom: Field[ctypes.c_uint32, int]
    flags: Field[ctypes.c_uint32, int]


class xdp_umem_reg(ctypes.Structure):
    """6.8 on: tx_metadata_len takes the former padding (same 32 bytes)."""
    _fields_ = [("addr", _u64), ("len", _u64), ("chunk_size", _u32), ("headroom", _u32),
                ("flags", _u32), ("tx_metadata_len", _u32)]
    addr: Field[ctypes.c_uint64, int]
    len: Field[ctypes.c_uint64, int]
    chunk_size: Field[ctypes.c_uint32, int]
    headroom: Field[ctypes.c_uint32, int]
    flags: Field[ctypes.c_uint32, int]
    tx_metadata_len: Field[ctypes.c_uint32, int]


class xdp_statistics_v1(ctypes.Structure):
    """4.18 - 5.8 kernels answer XDP_STATISTICS with these three counters."""
    _fields_ = [("rx_dropped", _u64), ("rx_invalid_descs", _u64), ("tx_invalid_descs", _u64)]
    rx_dropped: Field[ctypes.c_uint64, int]
    rx_invalid_descs: Field[ctypes.c_uint64, int]
    tx_invalid_descs: Field[ctypes.c_uint64, int]


class xdp_statistics(ctypes.Structure):
    _fields_ = [
        ("rx_dropped", _u64),               # dropped for other reasons
        ("rx_invalid_descs", _u64),         # dropped: invalid descriptor
        ("tx_invalid_descs", _u64),         # dropped: invalid descriptor
        ("rx_ring_full", _u64),             # dropped: rx ring full
        ("rx_fill_ring_empty_descs", _u64),  # no chunk on the fill ring
        ("tx_ring_empty_descs", _u64),      # tx ring was empty when polled
    ]
    rx_dropped: Field[ctypes.c_uint64, int]
    rx_invalid_descs: Field[ctypes.c_uint64, int]
    tx_invalid_descs: Field[ctypes.c_uint64, int]
    rx_ring_full: Field[ctypes.c_uint64, int]
    rx_fill_ring_empty_descs: Field[ctypes.c_uint64, int]
    tx_ring_empty_descs: Field[ctypes.c_uint64, int]


class xdp_options(ctypes.Structure):
    _fields_ = [("flags", _u32)]
    flags: Field[ctypes.c_uint32, int]


class xdp_desc(ctypes.Structure):
    """An rx/tx ring entry.  Fill and completion rings hold a bare __u64 addr."""
    _fields_ = [("addr", _u64), ("len", _u32), ("options", _u32)]
    addr: Field[ctypes.c_uint64, int]
    len: Field[ctypes.c_uint32, int]
    options: Field[ctypes.c_uint32, int]
