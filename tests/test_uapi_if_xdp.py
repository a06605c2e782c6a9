"""if_xdp.h and the libc structures: every size, offset and constant against
gcc on the installed headers and against the running kernel's BTF."""

import ctypes
import mmap
import platform
import select
import socket

import pytest

from kabi import assert_layout, ctypes_layout, gcc_layout, kernel_btf
from pyxsk import _libc
from pyxsk.uapi import if_xdp

# (ctypes class, C struct in <linux/if_xdp.h> 6.1)
HEADER_STRUCTS = [
    (if_xdp.sockaddr_xdp, "struct sockaddr_xdp"),
    (if_xdp.xdp_ring_offset, "struct xdp_ring_offset"),
    (if_xdp.xdp_mmap_offsets, "struct xdp_mmap_offsets"),
    (if_xdp.xdp_umem_reg_v2, "struct xdp_umem_reg"),   # 6.1: flags, no tx_metadata_len
    (if_xdp.xdp_statistics, "struct xdp_statistics"),
    (if_xdp.xdp_options, "struct xdp_options"),
    (if_xdp.xdp_desc, "struct xdp_desc"),
]

# (ctypes class, struct name in the running kernel's BTF)
BTF_STRUCTS = [
    (if_xdp.sockaddr_xdp, "sockaddr_xdp"),
    (if_xdp.xdp_ring_offset, "xdp_ring_offset"),
    (if_xdp.xdp_mmap_offsets, "xdp_mmap_offsets"),
    (if_xdp.xdp_ring_offset_v1, "xdp_ring_offset_v1"),
    (if_xdp.xdp_mmap_offsets_v1, "xdp_mmap_offsets_v1"),
    (if_xdp.xdp_umem_reg, "xdp_umem_reg"),
    (if_xdp.xdp_statistics, "xdp_statistics"),
    (if_xdp.xdp_options, "xdp_options"),
    (if_xdp.xdp_desc, "xdp_desc"),
]

HEADER_CONSTANTS = [
    "XDP_SHARED_UMEM", "XDP_COPY", "XDP_ZEROCOPY", "XDP_USE_NEED_WAKEUP",
    "XDP_UMEM_UNALIGNED_CHUNK_FLAG", "XDP_RING_NEED_WAKEUP",
    "XDP_MMAP_OFFSETS", "XDP_RX_RING", "XDP_TX_RING", "XDP_UMEM_REG", "XDP_UMEM_FILL_RING",
    "XDP_UMEM_COMPLETION_RING", "XDP_STATISTICS", "XDP_OPTIONS", "XDP_OPTIONS_ZEROCOPY",
    "XDP_PGOFF_RX_RING", "XDP_PGOFF_TX_RING", "XDP_UMEM_PGOFF_FILL_RING",
    "XDP_UMEM_PGOFF_COMPLETION_RING", "XSK_UNALIGNED_BUF_OFFSET_SHIFT",
    "XSK_UNALIGNED_BUF_ADDR_MASK",
]

LIBC_CONSTANTS = {
    "<sys/socket.h>": ["SOL_SOCKET", "SO_RCVBUF", "SO_SNDBUF", "SO_RCVBUFFORCE", "SO_SNDBUFFORCE",
                       "SOCK_RAW", "SOCK_CLOEXEC", "SOCK_NONBLOCK", "MSG_PEEK", "MSG_TRUNC",
                       "MSG_DONTWAIT", "AF_UNSPEC", "AF_INET", "AF_INET6", "AF_NETLINK",
                       "AF_PACKET", "AF_XDP", "SOL_XDP"],
    "<sys/mman.h>": ["PROT_NONE", "PROT_READ", "PROT_WRITE", "MAP_SHARED", "MAP_PRIVATE",
                     "MAP_ANONYMOUS", "MAP_POPULATE", "MAP_HUGETLB"],
    "<poll.h>": ["POLLIN", "POLLOUT", "POLLERR", "POLLHUP", "POLLNVAL"],
    "<sys/resource.h>": ["RLIMIT_MEMLOCK"],
    "<unistd.h>": ["_SC_PAGESIZE"],
    "<sched.h>": ["CLONE_NEWNET", "SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH",
                  "SCHED_IDLE"],
    "<sys/mount.h>": ["MS_BIND", "MS_REC", "MS_SHARED", "MNT_DETACH"],
    "<net/if.h>": ["IF_NAMESIZE"],
}

LIBC_STRUCTS = [
    (_libc.pollfd, "struct pollfd", "<poll.h>"),
    (_libc.rlimit, "struct rlimit", "<sys/resource.h>"),
    (_libc.iovec, "struct iovec", "<sys/uio.h>"),
    (_libc.msghdr, "struct msghdr", "<sys/socket.h>"),
    (_libc.sched_param, "struct sched_param", "<sched.h>"),
]


def _header_oracle(structs, headers):
    members = {c: list(ctypes_layout(cls)) for cls, c in structs}
    return gcc_layout(headers, structs=[c for _, c in structs], members=members)


@pytest.mark.parametrize("cls,cname", HEADER_STRUCTS, ids=[c for _, c in HEADER_STRUCTS])
def test_struct_matches_installed_header(cls, cname):
    got = _header_oracle([(cls, cname)], ["linux/if_xdp.h"])
    members = {m: (got["offsetof"][(cname, m)], got["memberof"][(cname, m)])
               for m in ctypes_layout(cls)}
    assert_layout(cls, got["sizeof"][cname], members, "gcc <linux/if_xdp.h>")


@pytest.mark.parametrize("cls,name", BTF_STRUCTS, ids=[n for _, n in BTF_STRUCTS])
def test_struct_matches_running_kernel(cls, name):
    size, members = kernel_btf().layout(name)
    assert_layout(cls, size, members, "kernel BTF")


def test_short_structs_are_prefixes_of_the_current_ones():
    """The kernel tells the old layouts by length: each is the leading part
    of the current struct, cut where the newer fields begin."""
    full = ctypes_layout(if_xdp.xdp_umem_reg)
    assert ctypes.sizeof(if_xdp.xdp_umem_reg_v1) == full["flags"][0] == 24
    for name, place in ctypes_layout(if_xdp.xdp_umem_reg_v1).items():
        assert full[name] == place
    stats = ctypes_layout(if_xdp.xdp_statistics)
    assert ctypes.sizeof(if_xdp.xdp_statistics_v1) == stats["rx_ring_full"][0] == 24
    for name, place in ctypes_layout(if_xdp.xdp_statistics_v1).items():
        assert stats[name] == place
    v2 = ctypes_layout(if_xdp.xdp_umem_reg_v2)
    assert ctypes.sizeof(if_xdp.xdp_umem_reg_v2) == ctypes.sizeof(if_xdp.xdp_umem_reg) == 32
    for name, place in v2.items():
        assert full[name] == place


def test_constants_match_installed_header():
    got = gcc_layout(["linux/if_xdp.h"], consts=HEADER_CONSTANTS)["const"]
    for name in HEADER_CONSTANTS:
        assert getattr(if_xdp, name) == got[name], name


@pytest.mark.parametrize("header", sorted(LIBC_CONSTANTS))
def test_libc_constants_match_headers(header):
    names = LIBC_CONSTANTS[header]
    got = gcc_layout(["sys/types.h", header.strip("<>")], consts=names)["const"]
    for name in names:
        ours = getattr(_libc, name, None)
        if ours is None:
            ours = getattr(if_xdp, name)
        assert ours == got[name], name


@pytest.mark.parametrize("cls,cname,header", LIBC_STRUCTS, ids=[c for _, c, _ in LIBC_STRUCTS])
def test_libc_structs_match_headers(cls, cname, header):
    got = _header_oracle([(cls, cname)], [header.strip("<>")])
    members = {m: (got["offsetof"][(cname, m)], got["memberof"][(cname, m)])
               for m in ctypes_layout(cls)}
    assert_layout(cls, got["sizeof"][cname], members, "gcc " + header)


def test_libc_constants_agree_with_the_standard_library():
    """A second, independent source: CPython's own socket/mmap/select modules."""
    assert _libc.MSG_DONTWAIT == socket.MSG_DONTWAIT
    assert _libc.SOCK_RAW == socket.SOCK_RAW
    assert _libc.AF_NETLINK == socket.AF_NETLINK
    assert _libc.AF_PACKET == socket.AF_PACKET
    assert _libc.PROT_READ == mmap.PROT_READ and _libc.MAP_SHARED == mmap.MAP_SHARED
    assert _libc.MAP_ANONYMOUS == mmap.MAP_ANONYMOUS
    assert _libc.POLLIN == select.POLLIN and _libc.POLLOUT == select.POLLOUT
    assert _libc.page_size() == mmap.PAGESIZE


def test_sys_bpf_number_matches_this_machine():
    got = gcc_layout(["sys/syscall.h"], consts=["SYS_bpf"])["const"]["SYS_bpf"]
    assert _libc.sys_bpf_number() == got
    assert _libc.sys_bpf_number("aarch64") == 280
    with pytest.raises(OSError, match="does not know"):
        _libc.sys_bpf_number("vax")


def test_machine_is_what_the_tests_assume():
    # the ring tests below exercise x86 total store order; say so if not x86
    assert platform.machine().lower() in ("x86_64", "amd64"), platform.machine()
