"""Older kernels, played by a fake kernel behind the libc layer: the v1
mmap-offsets layout (no ring flags, so no need_wakeup and a kick for every
TX), the 24-byte xdp_umem_reg and xdp_statistics, and no XDP_OPTIONS."""

import ctypes

import pytest

from fakekernel import FakeKernel
from pyxsk.umem import Umem
from pyxsk.uapi import if_xdp
from pyxsk.xsk import Socket, read_mmap_offsets


@pytest.fixture
def kernel(request, monkeypatch):
    return FakeKernel(request.param).install(monkeypatch)


@pytest.mark.parametrize("kernel", ["6.18"], indirect=True)
def test_current_kernel_layout(kernel):
    rings, has_flags = read_mmap_offsets(kernel.socket(if_xdp.AF_XDP, 3))
    assert has_flags
    assert rings["rx"].flags == 128 and rings["cr"].desc == 192


@pytest.mark.parametrize("kernel", ["5.3", "4.19"], indirect=True)
def test_v1_offsets_mean_no_ring_flags(kernel):
    rings, has_flags = read_mmap_offsets(kernel.socket(if_xdp.AF_XDP, 3))
    assert not has_flags
    assert all(r.flags is None for r in rings.values())
    assert rings["tx"].desc == 128


@pytest.mark.parametrize("kernel", ["5.3", "4.19"], indirect=True)
def test_socket_on_a_kernel_without_ring_flags(kernel):
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        assert not sock.ring_flags
        assert not sock.need_wakeup
        assert sock.tx.needs_wakeup() and not sock.pool.fill.needs_wakeup()
        bind = [c for c in kernel.calls if c[0] == "bind"]
        assert bind == [("bind", if_xdp.XDP_USE_NEED_WAKEUP, 7, 0)]
        # every send kicks, although no flag asked for it
        before = sum(1 for c in kernel.calls if c[0] == "sendto")
        for _ in range(3):
            assert sock.send([b"\x01" * 60]) == 1
        after = sum(1 for c in kernel.calls if c[0] == "sendto")
        assert after - before >= 3
        assert "need_wakeup" not in repr(sock)


@pytest.mark.parametrize("kernel", ["6.18"], indirect=True)
def test_socket_on_a_kernel_with_ring_flags_kicks_only_when_asked(kernel):
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        assert sock.ring_flags and sock.need_wakeup
        before = len(kernel.calls)
        sock.send([b"\x01" * 60])   # flag clear: the kernel did not ask
        assert not [c for c in kernel.calls[before:] if c[0] == "sendto"]
        sock.tx._flags[0] = if_xdp.XDP_RING_NEED_WAKEUP
        sock.send([b"\x02" * 60])
        assert [c for c in kernel.calls[before:] if c[0] == "sendto"]


@pytest.mark.parametrize("kernel", ["4.19"], indirect=True)
def test_umem_registration_falls_back_to_the_short_struct(kernel):
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        regs = [c for c in kernel.calls if c[:2] == ("setsockopt", if_xdp.XDP_UMEM_REG)]
        assert regs == [("setsockopt", if_xdp.XDP_UMEM_REG, 32),
                        ("setsockopt", if_xdp.XDP_UMEM_REG, 24)]
        assert sock.umem.reg_size == ctypes.sizeof(if_xdp.xdp_umem_reg_v1)


@pytest.mark.parametrize("kernel", ["4.19"], indirect=True)
def test_no_fallback_when_a_flag_needs_the_long_struct(kernel):
    umem = Umem(64, 3072, unaligned=True)
    with pytest.raises(OSError, match="unaligned chunks need Linux 5.4"):
        Socket(7, 0, umem=umem, rx_size=64, tx_size=64)
    regs = [c for c in kernel.calls if c[:2] == ("setsockopt", if_xdp.XDP_UMEM_REG)]
    assert len(regs) == 1
    umem.close()


@pytest.mark.parametrize("kernel", ["6.18"], indirect=True)
def test_umem_registration_uses_the_full_struct(kernel):
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        assert sock.umem.reg_size == 32
        regs = [c for c in kernel.calls if c[:2] == ("setsockopt", if_xdp.XDP_UMEM_REG)]
        assert len(regs) == 1


@pytest.mark.parametrize("kernel", ["5.3", "4.19"], indirect=True)
def test_short_statistics(kernel):
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        stats = sock.statistics()
        assert stats[:3] == (1, 2, 3)
        assert stats.rx_ring_full is None and stats.tx_ring_empty_descs is None


@pytest.mark.parametrize("kernel", ["6.18"], indirect=True)
def test_full_statistics(kernel):
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        assert tuple(sock.statistics()) == (1, 2, 3, 4, 5, 6)


@pytest.mark.parametrize("kernel", ["4.19"], indirect=True)
def test_options_unknown_before_5_3(kernel):
    with Socket(7, 0, rx_size=64, tx_size=64) as sock:
        assert sock.options().zerocopy is None


@pytest.mark.parametrize("kernel", ["6.18", "5.3", "4.19"], indirect=True)
def test_every_ring_mapped_is_unmapped_and_the_fd_closed(kernel):
    sock = Socket(7, 0, rx_size=64, tx_size=64)
    assert sorted(kernel.maps.values()) == ["cr", "fr", "rx", "tx"]
    sock.close()
    sock.close()
    assert kernel.maps == {} and kernel.sockets == {}
    assert "[closed]" in repr(sock)
