"""Bad input raises a clear Python exception before the kernel is asked anything."""

import errno

import pytest

from fakekernel import FakeKernel
from pyxsk import _libc
from pyxsk.errors import ConfigError, LedgerError
from pyxsk.umem import Umem
from pyxsk.xsk import Socket


@pytest.fixture
def kernel(monkeypatch):
    return FakeKernel("6.18").install(monkeypatch)


BAD_SOCKETS = [
    (dict(rx_size=1000), "rx_size must be a power of two"),
    (dict(tx_size=3), "tx_size must be a power of two"),
    (dict(fill_size=0), "fill_size must be a power of two"),
    (dict(comp_size=-4), "comp_size must be a power of two"),
    (dict(rx_size=0, tx_size=0), "needs an RX ring, a TX ring, or both"),
    (dict(queue=-1), "queue must be an int"),
    (dict(queue="0"), "queue must be an int"),
    (dict(queue=True), "queue must be an int"),
    (dict(zerocopy="yes"), "zerocopy must be True, False or None"),
    (dict(frame_size=3000), "not a power of two"),
    (dict(frame_size=8192), "out of range: chunks are 2048 bytes to one page"),
    (dict(frame_size=1024), "out of range"),
    (dict(headroom=4000), "headroom"),
    (dict(num_frames=0), "num_frames must be a positive int"),
    (dict(tx_budget=16), "tx_budget must be between 32 and tx_size"),
    (dict(tx_budget=4096), "tx_budget must be between 32 and tx_size"),
    (dict(tx_size=0, tx_budget=64), "tx_budget needs a TX ring"),
]


@pytest.mark.parametrize("kwargs,message", BAD_SOCKETS, ids=[m for _, m in BAD_SOCKETS])
def test_bad_socket_arguments_raise_before_any_syscall(kernel, kwargs, message):
    args = dict(dict(queue=0), **kwargs)
    queue = args.pop("queue")
    with pytest.raises(ConfigError, match=message):
        Socket(7, queue, **args)
    assert kernel.calls == []


@pytest.mark.parametrize("interface,exc", [(0, ConfigError), (-3, ConfigError), (3.5, TypeError),
                                           (None, TypeError), (True, TypeError)])
def test_bad_interface_raises_before_any_syscall(kernel, interface, exc):
    with pytest.raises(exc):
        Socket(interface)
    assert kernel.calls == []


@pytest.mark.parametrize("name", ["", "x" * 16, "a/b", "a\0b"])
def test_bad_interface_names_never_reach_libc(name):
    with pytest.raises(ValueError, match="not a valid interface name"):
        _libc.if_nametoindex(name)


def test_unknown_interface_is_a_clear_oserror_and_nothing_is_created(no_leaks):
    with pytest.raises(OSError) as info:
        Socket("pxnosuchif0")
    assert info.value.errno == errno.ENODEV
    assert "no such interface" in str(info.value)
    assert "if_nametoindex('pxnosuchif0')" in str(info.value)


@pytest.mark.parametrize("kwargs,message", [
    (dict(frame_size=3000), "not a power of two"),
    (dict(frame_size=5000, unaligned=True), "out of range"),
    (dict(frame_size=4096, headroom=3840), "headroom"),
    (dict(frame_size=4096, headroom=-1), "headroom"),
    (dict(num_frames=-5), "num_frames"),
    (dict(num_frames=4.0), "num_frames"),
    (dict(tx_metadata_len=12), "tx_metadata_len"),
    (dict(tx_metadata_len=256), "tx_metadata_len"),
])
def test_bad_umem_raises_before_any_mmap(kernel, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Umem(**kwargs)
    assert kernel.calls == []


def test_umem_geometry_belongs_to_the_umem(kernel):
    with Umem(64) as umem:
        with pytest.raises(ConfigError, match="set them on the Umem you pass"):
            Socket(7, umem=umem, frame_size=2048)
        with pytest.raises(TypeError, match="pyxsk.Umem"):
            Socket(7, umem=object())
    assert kernel.syscalls() == []


def test_a_sharing_socket_inherits_the_bind_mode(kernel):
    with Socket(7, 0, rx_size=64, tx_size=64, num_frames=256) as first:
        before = len(kernel.calls)
        for kwargs in (dict(zerocopy=False), dict(need_wakeup=True)):
            with pytest.raises(ConfigError, match="inherits zerocopy and need_wakeup"):
                Socket(7, 1, umem=first.umem, rx_size=64, tx_size=64, **kwargs)
        assert len(kernel.calls) == before


@pytest.mark.parametrize("frame,message", [(b"", "frame 1 is 0 bytes"),
                                           (b"x" * 4097, "frame 1 is 4097 bytes"),
                                           (bytearray(5000), "frame 1 is 5000 bytes")])
def test_frame_longer_than_its_chunk_raises_before_anything_is_queued(kernel, frame, message):
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        before = len(kernel.calls)
        prod = sock.tx.shared_producer()
        with pytest.raises(ConfigError, match=message):
            sock.send([b"\x01" * 60, frame])
        with pytest.raises(ConfigError, match=message):
            sock.sendall([b"\x01" * 60, frame])
        assert sock.tx.shared_producer() == prod
        assert kernel.calls[before:] == []
        assert sock.umem.check().pools["fake7/0"].tx == 0


def test_tx_budget_on_a_kernel_that_lacks_it(kernel):
    with pytest.raises(OSError, match="XDP_MAX_TX_SKB_BUDGET needs Linux 6.17"):
        Socket(7, 0, rx_size=64, tx_size=64, tx_budget=64)
    assert kernel.sockets == {} and kernel.maps == {}


def test_freeing_a_chunk_the_application_does_not_hold(kernel):
    with Umem(16) as umem:
        got = umem.alloc(2)
        with pytest.raises(LedgerError, match="not held by the application"):
            umem.free([got[0], 3 * 4096])
        with pytest.raises(ValueError, match="outside this UMEM"):
            umem.free([16 * 4096])
        umem.free(got)
        assert umem.check().free == 16


def test_operations_on_a_closed_socket(kernel):
    sock = Socket(7, 0, rx_size=64, tx_size=64)
    sock.close()
    assert sock.fileno() == -1
    for op in (lambda: sock.send([b"x" * 60]), lambda: sock.recv(1, 0), sock.statistics,
               sock.options, sock.kick, lambda: sock.poll(0)):
        with pytest.raises(ValueError, match="closed AF_XDP socket"):
            op()


@pytest.mark.parametrize("length,error,message", [
    (0, ConfigError, "shorter than an Ethernet header"),
    (13, ConfigError, "shorter than an Ethernet header"),
    (-1, ConfigError, "shorter than an Ethernet header"),
    (4097, ConfigError, "longer than a UMEM chunk holds"),
    (1515, ConfigError, "carries at most 1514"),
    (60.0, TypeError, "length must be an int"),
    (True, TypeError, "length must be an int")])
def test_retransmit_length_is_checked_before_the_kernel(kernel, length, error, message):
    """A bad length would make the kernel drop the descriptors as invalid (or
    the frames silently) and their chunks would be lost to the ledger."""
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        before = len(kernel.calls)
        with pytest.raises(error, match=message):
            sock.retransmit(length)
        assert [c for c in kernel.calls[before:] if c[0] != "getlink"] == []
        sock.umem.check()
