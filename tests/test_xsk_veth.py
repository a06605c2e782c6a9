"""The AF_XDP socket on a real veth pair across two network namespaces.

pyxsk transmits on one end; a plain AF_PACKET socket on the other end is the
independent witness that every frame arrived, byte for byte."""

import errno
import gc
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

import pytest

from conftest import is_mapped, mapping_count, open_fds, socket_mappings
from traffic import Capture, make_frames
from pyxsk.net import netns
from pyxsk.umem import Umem
from pyxsk.uapi import if_xdp
from pyxsk import xsk
from pyxsk.xsk import Socket

pytestmark = pytest.mark.root


def test_send_10000_mixed_frames_byte_exact(veth_pair, no_leaks):
    frames = make_frames(veth_pair.a, veth_pair.b, 10000)
    cap = Capture(veth_pair.b, len(frames))
    with netns.entered(veth_pair.a.netns):
        sock = Socket(veth_pair.a.name, 0, rx_size=0, tx_size=2048, num_frames=4096)
    umem_addr = sock.umem.addr
    with sock:
        for i in range(0, len(frames), 500):
            assert sock.sendall(frames[i:i + 500], timeout=10) == len(frames[i:i + 500])
        assert sock.flush(timeout=5) == 0
        got = cap.wait()
        assert len(got) == len(frames), "received %d of %d" % (len(got), len(frames))
        by_seq = {struct.unpack_from("!I", f, 14)[0]: f for f in got}
        assert len(by_seq) == len(frames)
        for seq, frame in enumerate(frames):
            assert by_seq[seq] == frame, "frame %d differs" % seq
        # the completion ring gave back every chunk
        ledger = sock.umem.check()
        pool = ledger.pools["%s/0" % veth_pair.a.name]
        assert (pool.tx, pool.completion, pool.fill, pool.user) == (0, 0, 0, 0)
        assert ledger.free + pool.spare == ledger.total == 4096
        stats = sock.statistics()
        assert stats.tx_invalid_descs == 0
        assert sock.options().zerocopy is False
        assert "copy need_wakeup" in repr(sock)
    assert not is_mapped(umem_addr)


def test_200_open_close_cycles_leak_nothing(veth_pair):
    frame = make_frames(veth_pair.a, veth_pair.b, 1)[0]
    with netns.entered(veth_pair.a.netns):
        shared = Umem(128, 2048)

        def cycle_once():
            own = Socket(veth_pair.a.name, 0, rx_size=64, tx_size=64)       # its own UMEM
            assert own.send([frame]) == 1
            assert own.flush(2) == 0
            own.close()

        for _ in range(5):            # Python's allocator settles its own arenas first
            cycle_once()
        gc.collect()
        fds, maps, rings = open_fds(), mapping_count(), socket_mappings()
        for cycle in range(200):
            own = Socket(veth_pair.a.name, 0, rx_size=64, tx_size=64)       # its own UMEM
            assert own.send([frame]) == 1
            assert own.flush(2) == 0
            assert socket_mappings() == rings + 4
            own.close()
            assert not is_mapped(own.umem.addr)
            with Socket(veth_pair.a.name, 0, umem=shared, rx_size=64, tx_size=64) as sock:
                assert sock.send([frame]) == 1
                assert sock.flush(2) == 0
            assert shared.check().free == 128, "cycle %d lost chunks" % cycle
        gc.collect()
        assert open_fds() == fds
        assert socket_mappings() == rings
        assert mapping_count() == maps
        shared.close()


def test_a_frame_view_alive_blocks_unmapping(veth_pair):
    with netns.entered(veth_pair.a.netns):
        sock = Socket(veth_pair.a.name, 0, rx_size=64, tx_size=64)
    kept = sock.umem.view[0:64]
    with pytest.raises(BufferError, match="still alive"):
        sock.close()
    assert sock.closed                  # the socket itself is gone
    kept.release()
    sock.close()                        # and now the UMEM follows
    assert sock.umem.closed


def test_zero_copy_on_veth_says_why(veth_pair):
    with netns.entered(veth_pair.a.netns), pytest.raises(OSError) as info:
        Socket(veth_pair.a.name, 0, zerocopy=True)
    assert info.value.errno == errno.EOPNOTSUPP
    assert "no zero-copy support" in str(info.value)


def test_queue_beyond_the_interface_says_why(veth_pair):
    with netns.entered(veth_pair.a.netns), pytest.raises(OSError) as info:
        Socket(veth_pair.a.name, 5)
    assert info.value.errno == errno.EINVAL
    assert "queue id beyond" in str(info.value) and "bind(AF_XDP %s queue 5)" % veth_pair.a.name in str(info.value)


def test_queue_already_bound_says_why(veth_pair):
    with netns.entered(veth_pair.a.netns):
        with Socket(veth_pair.a.name, 0, rx_size=64, tx_size=64):
            t0 = time.monotonic()
            with pytest.raises(OSError) as info:
                Socket(veth_pair.a.name, 0, rx_size=64, tx_size=64)
            assert time.monotonic() - t0 < 5
    assert info.value.errno == errno.EBUSY
    assert isinstance(info.value, OSError) and "queue already bound" in str(info.value)


def test_two_queues_one_umem(make_veth_pair):
    pair = make_veth_pair(queues=2)
    frames = make_frames(pair.a, pair.b, 400, seed=2)
    cap = Capture(pair.b, len(frames))
    with netns.entered(pair.a.netns):
        umem = Umem(512, 2048)
        q0 = Socket(pair.a.name, 0, umem=umem, rx_size=64, tx_size=128)
        q1 = Socket(pair.a.name, 1, umem=umem, rx_size=64, tx_size=128)
    try:
        assert q1.shared and not q0.shared and q0.pool is not q1.pool
        assert q0.sendall(frames[:200], timeout=5) == 200
        assert q1.sendall(frames[200:], timeout=5) == 200
        assert q0.flush(5) == 0 and q1.flush(5) == 0
        assert sorted(cap.wait()) == sorted(frames)
        assert set(umem.check().pools) == {"%s/0" % pair.a.name, "%s/1" % pair.a.name}
    finally:
        q0.close()
        q1.close()
    assert umem.check().free == 512
    umem.close()


@pytest.mark.parametrize("frame_size", [2048, 3000])
def test_unaligned_chunks_transmit(veth_pair, frame_size):
    frames = make_frames(veth_pair.a, veth_pair.b, 300, seed=3, sizes=(60, 1514))
    cap = Capture(veth_pair.b, len(frames))
    with netns.entered(veth_pair.a.netns):
        umem = Umem(256, frame_size, unaligned=True)
        with Socket(veth_pair.a.name, 0, umem=umem, rx_size=64, tx_size=128) as sock:
            assert sock.sendall(frames, timeout=5) == len(frames)
            assert sock.flush(5) == 0
        umem.close()
    assert sorted(cap.wait()) == sorted(frames)


def test_constants_newer_than_the_installed_headers(veth_pair):
    """XDP_USE_SG, XDP_MAX_TX_SKB_BUDGET and XDP_UMEM_TX_METADATA_LEN are not
    in the 6.1 headers here; the running kernel proves their values."""
    with netns.entered(veth_pair.a.netns):
        with Socket(veth_pair.a.name, 0, rx_size=64, tx_size=256, tx_budget=256) as sock:
            assert sock.send([make_frames(veth_pair.a, veth_pair.b, 1)[0]] * 3) == 3
        with Umem(64, 2048, tx_metadata_len=16) as umem:
            with Socket(veth_pair.a.name, 0, umem=umem, rx_size=64, tx_size=64) as sock:
                assert umem.tx_capacity == 2048 - 16
                assert sock.flush(1) == 0
        # XDP_USE_SG (multi-buffer) in copy mode: accepted since 6.6
        sock = Socket(veth_pair.a.name, 0, rx_size=64, tx_size=64)
        sock.close()
        from pyxsk import _libc
        fd = _libc.socket(if_xdp.AF_XDP, _libc.SOCK_RAW, 0)
        try:
            umem = Umem(64, 4096)
            umem.register(fd)
            for opt in (if_xdp.XDP_UMEM_FILL_RING, if_xdp.XDP_UMEM_COMPLETION_RING, if_xdp.XDP_TX_RING):
                _libc.setsockopt_int(fd, if_xdp.SOL_XDP, opt, 64)
            sa = if_xdp.sockaddr_xdp(if_xdp.AF_XDP, if_xdp.XDP_COPY | if_xdp.XDP_USE_SG,
                                     socket.if_nametoindex(veth_pair.a.name), 0)
            xsk.bind(fd, sa)
            with pytest.raises(OSError) as info:    # budget below 32: the kernel's EACCES
                _libc.setsockopt_int(fd, if_xdp.SOL_XDP, if_xdp.XDP_MAX_TX_SKB_BUDGET, 16)
            assert info.value.errno == errno.EACCES
        finally:
            _libc.close(fd)
            umem.close()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_memlock_limit_without_cap_ipc_lock_says_why(veth_pair):
    """Without CAP_IPC_LOCK the UMEM counts against RLIMIT_MEMLOCK: ENOBUFS."""
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from pyxsk import _libc; from pyxsk.net import netns\n"
            "from pyxsk.xsk import Socket\n"
            "_libc.setrlimit(_libc.RLIMIT_MEMLOCK, 65536, 65536)\n"
            "with netns.entered(%r):\n"
            "    try:\n"
            "        Socket(%r, 0, num_frames=1024)\n"
            "    except OSError as e:\n"
            "        print(e.errno, e)\n" % (os.path.dirname(os.path.dirname(__file__)), veth_pair.a.netns, veth_pair.a.name))
    res = subprocess.run(["setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock",
                          sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("%d " % errno.ENOBUFS), res.stdout
    assert "RLIMIT_MEMLOCK" in res.stdout and "CAP_IPC_LOCK" in res.stdout


@pytest.fixture
def huge_pages():
    """Reserve a few 2 MiB huge pages for the test and give them back after."""
    path = "/proc/sys/vm/nr_hugepages"
    with open(path) as f:
        before = int(f.read())
    with open(path, "w") as f:
        f.write(str(before + 8))
    try:
        yield
    finally:
        with open(path, "w") as f:
            f.write(str(before))


def _meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _kernel_page_size(addr):
    """KernelPageSize (kB) of the mapping starting at ``addr``, from smaps."""
    start = "%x-" % addr
    with open("/proc/self/smaps") as f:
        lines = f.read().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(start))
    return next(int(line.split()[1]) for line in lines[at:] if line.startswith("KernelPageSize:"))


def test_umem_without_enough_huge_pages_says_why():
    huge = _meminfo("Hugepagesize") * 1024
    frames = (_meminfo("HugePages_Free") + 1) * huge // 4096
    with pytest.raises(OSError, match=r"reserve them first \(echo N > /proc/sys/vm/nr_hugepages\)"):
        Umem(frames, 4096, hugepages=True)


def test_transmit_from_a_umem_on_huge_pages(veth_pair, huge_pages):
    frames = make_frames(veth_pair.a, veth_pair.b, 200, seed=21)
    cap = Capture(veth_pair.b, len(frames))
    with netns.entered(veth_pair.a.netns):
        with Umem(1024, 4096, hugepages=True) as umem:
            assert "hugepages" in repr(umem)
            assert _kernel_page_size(umem.addr) == _meminfo("Hugepagesize")
            with Socket(veth_pair.a.name, 0, umem=umem, rx_size=64, tx_size=256) as sock:
                assert sock.sendall(frames, timeout=5) == len(frames)
                assert sock.flush(5) == 0
    assert sorted(cap.wait()) == sorted(frames)
