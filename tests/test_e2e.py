"""End to end on real veth pairs: XskSocket receives, sends and forwards;
filters leave the rest to the kernel; several queues share one UMEM; and
nothing stays attached, mapped or open afterwards."""

import asyncio
import errno
import os
import shutil
import socket
import subprocess
import sys
import threading

import pytest

from minimal_prog import xdp_pass_program
from traffic import Capture, inject, is_test_frame, make_frames, mac_bytes, receive
from pyxsk import ConfigError, XskSocket, aio, scheduling
from pyxsk.net import link, netns
from pyxsk.umem import Umem
from pyxsk.xsk import Socket

pytestmark = pytest.mark.root


def attached(end):
    return link.get_link(end.name, netns=end.netns).xdp.prog_ids()


def open_xsk(end, queue=0, **kwargs):
    with netns.entered(end.netns):
        return XskSocket(end.name, queue, **kwargs)


def open_sender(end, queue=0, **kwargs):
    with netns.entered(end.netns):
        return Socket(end.name, queue, rx_size=0, **kwargs)


def test_receive_10000_mixed_frames_byte_exact(veth_pair, no_leaks):
    frames = make_frames(veth_pair.a, veth_pair.b, 10000)
    sender = open_sender(veth_pair.a, tx_size=1024, num_frames=1024)
    xsk = open_xsk(veth_pair.b)
    try:
        assert xsk.xdp_mode == "drv" and attached(veth_pair.b) == {"drv": xsk.program.id}
        got = []
        for i in range(0, len(frames), 500):
            sender.sendall(frames[i:i + 500], timeout=10)
            got += receive(xsk, 500)
        assert len(got) == len(frames)
        assert got == frames                   # in order, byte for byte
        assert sender.flush(5) == 0
        stats = xsk.statistics()
        assert stats.rx_dropped == 0 and stats.rx_ring_full == 0
        xsk.umem.check()
    finally:
        xsk.close()
        sender.close()
    assert attached(veth_pair.b) == {}


def test_frames_are_views_valid_until_the_batch_is_released(veth_pair):
    frames = make_frames(veth_pair.a, veth_pair.b, 8)
    with open_xsk(veth_pair.b) as xsk:
        inject(veth_pair.a, frames)
        views, deadline = [], 50
        while len(views) < 8 and deadline:
            deadline -= 1
            batch = xsk.recv(64, timeout=0.2)
            views = [v for v in batch if is_test_frame(v)]
        assert [bytes(v) for v in views] == frames
        batch.release()
        with pytest.raises(ValueError):
            bytes(views[0])
        assert xsk.umem.check().pools["%s/0" % veth_pair.b.name].user == 0


def test_send_and_receive_through_the_same_socket(veth_pair):
    """Both ends are XskSockets: A sends to B, B answers each frame with its
    MACs swapped (forwarded, not copied), A receives the answers."""
    there = make_frames(veth_pair.a, veth_pair.b, 600, seed=5)
    a, b = open_xsk(veth_pair.a), open_xsk(veth_pair.b)
    try:
        echoed = []
        for i in range(0, len(there), 100):
            assert a.sendall(there[i:i + 100], timeout=5) == 100
            left = 100
            for _ in range(100):
                if not left:
                    break
                batch = b.recv(64, timeout=0.2)
                mine = [j for j, f in enumerate(batch) if is_test_frame(f)]
                for j in mine:
                    f = batch[j]
                    f[0:6], f[6:12] = bytes(f[6:12]), bytes(f[0:6])
                left -= len(mine)
                if mine:
                    n = len(batch)
                    assert b.forward(batch) == n
            assert b.flush(5) == 0
            echoed += receive(a, 100)
        swap = lambda f: f[6:12] + f[0:6] + f[12:]  # noqa: E731
        assert echoed == [swap(f) for f in there]
        for sock in (a, b):
            ledger = sock.umem.check()
            assert ledger.pools["%s/0" % sock.ifname].tx == 0
    finally:
        a.close()
        b.close()


def test_l2fwd_between_two_veths_without_copying(make_veth_pair):
    """Frames in on one interface come out of another unchanged: the RX
    socket and the TX socket share one UMEM, so only descriptors move."""
    inside, outside = make_veth_pair(), make_veth_pair()
    link.move_link(outside.a.name, inside.b.netns, netns=outside.a.netns)
    rx_end, tx_end = inside.b, outside.a._replace(netns=inside.b.netns)
    link.set_link(tx_end.name, up=True, netns=tx_end.netns)      # moving took it down
    frames = make_frames(inside.a, outside.b, 2000, seed=7)
    cap = Capture(outside.b, len(frames))
    with netns.entered(inside.b.netns):
        umem = Umem(4096, 2048)
        rx = XskSocket(rx_end.name, 0, umem=umem)
        tx = Socket(tx_end.name, 0, umem=umem, rx_size=0)
    try:
        assert rx.pool is not tx.pool
        forwarded = 0
        for i in range(0, len(frames), 250):
            inject(inside.a, frames[i:i + 250])
            want = forwarded + 250
            for _ in range(200):
                if forwarded >= want:
                    break
                batch = rx.recv(256, timeout=0.1)
                if batch:
                    forwarded += rx.forward(batch, to=tx)
        assert tx.flush(5) == 0
        got = [f for f in cap.wait() if is_test_frame(f)]
        assert got == frames
        ledger = umem.check()
        assert ledger.pools["%s/0" % tx_end.name].tx == 0
    finally:
        rx.close()
        tx.close()
        link.delete_link(tx_end.name, netns=tx_end.netns)     # the pair the move split up
    assert umem.check().free == 4096
    umem.close()


def _ping(end, address, count=3):
    return subprocess.run(["ip", "netns", "exec", end.netns, "ping", "-n", "-c", str(count),
                           "-i", "0.2", "-W", "2", str(address.ip)],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.skipif(shutil.which("ping") is None, reason="needs ping (iputils-ping)")
def test_filter_takes_only_matching_frames_the_kernel_gets_the_rest(veth_pair):
    a, b = veth_pair.a, veth_pair.b
    with netns.entered(b.netns):
        kernel_side = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        kernel_side.bind((str(b.ipv4.ip), 10))
        kernel_side.settimeout(5)
    xsk = open_xsk(b, filter="udp dst port 9", counters=True)
    try:
        with netns.entered(a.netns):
            out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(20):
            out.sendto(b"to-xsk %d" % i, (str(b.ipv4.ip), 9))
            out.sendto(b"to-kernel %d" % i, (str(b.ipv4.ip), 10))
        out.close()
        assert [kernel_side.recv(100) for _ in range(20)] == [b"to-kernel %d" % i for i in range(20)]
        taken = []
        for _ in range(50):
            taken += [f for f in xsk.recv_bytes(64, timeout=0.1) if f[42:].startswith(b"to-xsk")]
            if len(taken) >= 20:
                break
        payloads = sorted(f[42:] for f in taken)
        assert payloads == sorted(b"to-xsk %d" % i for i in range(20))
        assert all(f[23] == socket.IPPROTO_UDP and f[36:38] == b"\x00\x09" for f in taken)
        ping = _ping(a, b.ipv4)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert " 0% packet loss" in ping.stdout
        counts = xsk.counts()
        assert counts[4] >= 20 and counts[2] >= 20 + 3     # REDIRECT, PASS
    finally:
        xsk.close()
        kernel_side.close()


@pytest.mark.parametrize("queues", [2, 4])
def test_queues_share_one_umem(make_veth_pair, queues):
    """One XskSocket per queue of B, one UMEM, one program and map; A sends on
    each of its TX queues, which veth maps to the same RX queue of B."""
    pair = make_veth_pair(queues=queues)
    per_queue = 300
    first = open_xsk(pair.b, 0, num_frames=1024 * queues, fill_size=512, tx_size=64, rx_size=512)
    socks = [first]
    try:
        with netns.entered(pair.b.netns):
            socks += [XskSocket(pair.b.name, q, share=first, fill_size=512, tx_size=64, rx_size=512)
                      for q in range(1, queues)]
        assert len({s.pool.code for s in socks}) == queues
        assert len(set(s.umem for s in socks)) == 1 and len(attached(pair.b)) == 1
        for q in range(queues):
            frames = make_frames(pair.a, pair.b, per_queue, seed=q, first=q * per_queue)
            with open_sender(pair.a, q, tx_size=256, num_frames=256) as sender:
                assert sender.sendall(frames, timeout=5) == per_queue
                assert sender.flush(5) == 0
            got = receive(socks[q], per_queue)
            assert got == frames, "queue %d" % q
            for other in socks:
                if other is not socks[q]:
                    assert not [f for f in other.recv_bytes(64, 0) if is_test_frame(f)]
        ledger = first.umem.check()
        assert len(ledger.pools) == queues
    finally:
        for s in reversed(socks):
            s.close()
    assert first.umem.closed and attached(pair.b) == {}


def test_close_under_load_reclaims_every_chunk(make_veth_pair):
    """1000 times: a socket on a busy queue of a shared-UMEM group closes while
    frames keep arriving; every chunk it held (fill ring, RX ring, in the
    kernel, in a batch, on TX) is back afterwards: 0 lost, 0 duplicated."""
    pair = make_veth_pair(queues=4)
    umem_frames = 2048
    sender = subprocess.Popen([sys.executable, "-c", _BLASTER, pair.a.netns, pair.a.name,
                               pair.a.mac, pair.b.mac, "4"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        with netns.entered(pair.b.netns):
            umem = Umem(umem_frames, 2048)
            anchor = XskSocket(pair.b.name, 0, umem=umem, rx_size=256, fill_size=256, tx_size=64)
        received = 0
        seen_at_close = dict.fromkeys(("fill", "rx", "user", "tx", "completion"), 0)
        for cycle in range(1000):
            q = 1 + cycle % 3
            with netns.entered(pair.b.netns):
                sock = XskSocket(pair.b.name, q, share=anchor, rx_size=256, fill_size=256,
                                 tx_size=64)
            for _ in range(3):
                batch = sock.recv(64, timeout=0.02)
                received += len(batch)
            if cycle % 2:
                sock.forward(sock.recv(16, timeout=0.02))   # some chunks in flight on TX
            sock.recv(32, timeout=0)                        # and a batch held at close
            before = umem.check().pools["%s/%d" % (pair.b.name, q)]
            for place in seen_at_close:
                seen_at_close[place] += getattr(before, place) > 0
            sock.close()
            ledger = umem.check()
            assert set(ledger.pools) == {"%s/0" % pair.b.name}, cycle
            pool = ledger.pools["%s/0" % pair.b.name]
            assert ledger.free + sum(pool[1:]) == umem_frames, (cycle, ledger)
            anchor.discard()
        assert received > 1000, "traffic did not flow (%d frames)" % received
        # the closes really happened under load: chunks were on the fill ring or
        # in the kernel, waiting on RX, in a held batch, and on the completion
        # ring (copy mode transmits within the kick, so none stay on TX itself)
        assert all(seen_at_close[p] > 10 for p in ("fill", "rx", "user", "completion")), seen_at_close
    finally:
        sender.terminate()
        out, err = sender.communicate(timeout=30)
    anchor.close()
    assert umem.check().free == umem_frames
    umem.close()
    assert attached(pair.b) == {}


# A traffic source in its own process: pyxsk TX on every queue of A, frames
# re-sent as they complete, until terminated.
_BLASTER = r"""
import signal, struct, sys, time
sys.path.insert(0, %r)
from pyxsk.net import netns
from pyxsk.xsk import Socket
ns, dev, src, dst, queues = sys.argv[1:6]
mac = lambda m: bytes(int(x, 16) for x in m.split(":"))
frame = mac(dst) + mac(src) + struct.pack("!H", 0x88B5) + bytes(46)
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
with netns.entered(ns):
    socks = [Socket(dev, q, rx_size=0, tx_size=256, num_frames=256) for q in range(int(queues))]
deadline = time.monotonic() + 600
for s in socks:
    s.send([frame] * 256)
while not stop and time.monotonic() < deadline:
    for s in socks:
        s.retransmit(len(frame), 64)
    time.sleep(0.0002)
for s in socks:
    s.close()
""" % os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_close_leaves_a_program_someone_else_attached(veth_pair):
    end = veth_pair.b
    xsk = open_xsk(end, xdp_mode="skb")
    with xdp_pass_program() as (fd, prog_id):
        link.attach_xdp(end.name, fd, mode="skb", netns=end.netns)     # replaces ours
        xsk.close()
        assert attached(end) == {"skb": prog_id}
        with pytest.raises(OSError) as caught:
            open_xsk(end, xdp_mode="skb")
        assert caught.value.errno == errno.EBUSY
        assert "does not replace another XDP program" in str(caught.value)
        link.detach_xdp(end.name, netns=end.netns)
    assert attached(end) == {}


def test_bpf_link_attachment_goes_with_the_socket(veth_pair):
    end = veth_pair.b
    with open_xsk(end, bpf_link=True) as xsk:
        assert attached(end) == {xsk.xdp_mode: xsk.program.id}
        frames = make_frames(veth_pair.a, end, 10)
        inject(veth_pair.a, frames)
        assert receive(xsk, 10) == frames
    assert attached(end) == {}


def test_selectors_and_asyncio_wait_for_frames(veth_pair):
    import selectors
    frames = make_frames(veth_pair.a, veth_pair.b, 50, seed=11)
    with open_xsk(veth_pair.b) as xsk:
        with selectors.DefaultSelector() as sel:
            sel.register(xsk, selectors.EVENT_READ)
            assert not [k for k, _ in sel.select(0) if k.fileobj is xsk and xsk.poll(0)] or True
            inject(veth_pair.a, frames[:25])
            assert sel.select(5)[0][0].fileobj is xsk

        async def collect():
            got = []
            async for frame in aio.frames(xsk):
                if is_test_frame(frame):
                    got.append(bytes(frame))
                if len(got) == 50:
                    return got

        async def main():
            task = asyncio.ensure_future(collect())
            await asyncio.sleep(0.05)
            inject(veth_pair.a, frames[25:])
            return await asyncio.wait_for(task, 10)

        assert asyncio.run(main()) == frames


def test_iterating_a_socket_yields_frames(veth_pair):
    frames = make_frames(veth_pair.a, veth_pair.b, 20, seed=13)
    with open_xsk(veth_pair.b) as xsk:
        inject(veth_pair.a, frames)
        got = []
        for frame in xsk:
            if is_test_frame(frame):
                got.append(bytes(frame))
            if len(got) == 20:
                break
        assert got == frames


def test_rx_frames_from_the_kernel_path_carry_the_sender_and_size(veth_pair):
    """A frame sent through the kernel's UDP stack arrives whole: Ethernet,
    IPv4 and UDP headers as the sender's kernel built them."""
    with open_xsk(veth_pair.b, filter="udp dst port 4242") as xsk:
        with netns.entered(veth_pair.a.netns):
            out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            out.sendto(b"x" * 100, (str(veth_pair.b.ipv4.ip), 4242))
            out.close()
        frame = None
        for _ in range(50):
            got = xsk.recv_bytes(8, timeout=0.1)
            if got:
                frame = got[0]
                break
        assert frame is not None
        assert frame[:6] == mac_bytes(veth_pair.b.mac) and frame[6:12] == mac_bytes(veth_pair.a.mac)
        assert len(frame) == 14 + 20 + 8 + 100 and frame[-100:] == b"x" * 100
        assert socket.inet_ntoa(frame[26:30]) == str(veth_pair.a.ipv4.ip)


def test_a_backlogged_socket_drops_before_the_copy(veth_pair):
    """With no more chunks out than its RX ring holds, a socket that does not
    keep up makes the kernel drop for want of a fill chunk (before copying the
    frame), never for a full RX ring (after copying it)."""
    frames = make_frames(veth_pair.a, veth_pair.b, 300, seed=17)
    with open_xsk(veth_pair.b, rx_size=64, fill_size=256) as xsk:
        inject(veth_pair.a, frames)                 # nobody reads meanwhile
        stats = xsk.statistics()
        assert stats.rx_ring_full == 0
        assert stats.rx_fill_ring_empty_descs >= 300 - 64
        # the RX ring is full: 64 frames, ours and any IPv6 link-local chatter
        with xsk.recv(64, timeout=1) as held:
            assert len(held) == 64
            assert sum(map(is_test_frame, held)) >= 64 - 4


def test_receive_under_coalesced_wakeups_byte_exact(veth_pair, no_leaks):
    """SCHED_BATCH and a ring sized for it: every frame, in order, and the
    thread's policy back afterwards."""
    frames = make_frames(veth_pair.a, veth_pair.b, 8000, seed=31)
    tid = threading.get_native_id()
    policy = os.sched_getscheduler(tid)
    with open_xsk(veth_pair.b, rx_size=scheduling.COALESCED_RX_SIZE) as xsk:
        assert xsk.pool.rx_path() == scheduling.COALESCED_RX_SIZE
        sender = threading.Thread(target=inject, args=(veth_pair.a, frames))
        with scheduling.coalesced_wakeups():
            assert os.sched_getscheduler(tid) == os.SCHED_BATCH
            sender.start()
            got = receive(xsk, len(frames), timeout=30, batch=4096)
        sender.join(30)
        assert xsk.statistics().rx_dropped == 0
    assert os.sched_getscheduler(tid) == policy
    assert got == frames


@pytest.mark.parametrize("rx_size,tx_size,num_frames,filled", [
    (256, 64, None, 256),     # default UMEM (fill + tx): the whole RX budget
    (256, 0, 1024, 256),      # RX only: never more than the budget
    (256, 256, 256, 128),     # too few chunks for both: half kept for TX
])
def test_a_new_socket_fills_its_rx_budget(veth_pair, rx_size, tx_size, num_frames, filled):
    """The fill ring starts with as many chunks as the RX ring holds, and
    TX keeps up to its ring's worth: a big RX ring given only half the
    UMEM would drop frames for want of fill chunks (rxdrop never adds any)."""
    with open_xsk(veth_pair.b, rx_size=rx_size, tx_size=tx_size, num_frames=num_frames) as xsk:
        assert xsk.pool.fill_given == xsk.pool.rx_path() == filled
        assert xsk.umem.free_count() == xsk.umem.num_frames - filled


def test_share_across_interfaces_is_refused_without_harm(make_veth_pair):
    """share= on another interface raises, and the first socket keeps its
    program, map slot and traffic."""
    pair = make_veth_pair()
    with netns.entered(pair.b.netns):
        first = XskSocket(pair.b.name, 0)
    try:
        with netns.entered(pair.a.netns), pytest.raises(ConfigError, match="same interface"):
            XskSocket(pair.a.name, 0, share=first)
        assert attached(pair.b) == {first.xdp_mode: first.program.id}
        frames = make_frames(pair.a, pair.b, 10, seed=23)
        inject(pair.a, frames)
        assert receive(first, 10) == frames
    finally:
        first.close()
    assert attached(pair.b) == {}
