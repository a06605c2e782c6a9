"""No chunk is handed out twice, on real veth pairs: unaligned chunks go out
byte-exact; a kernel that changes completion addresses (6.18 clears bit 0
of odd ones) is caught before any chunk is reused; a socket that receives
keeps chunks to send; and the longest frame copy mode receives is the
chunk less headroom and XDP_PACKET_HEADROOM, with no tailroom taken off.
The peer's AF_PACKET socket is the independent witness of what went out."""

import re

import pytest

from traffic import Capture, inject, is_test_frame, make_frames, receive
from pyxsk import XskSocket
from pyxsk.net import netns
from pyxsk import umem as umem_module
from pyxsk.errors import LedgerError
from pyxsk.umem import Umem, max_headroom
from pyxsk.xsk import Socket

pytestmark = pytest.mark.root

BATCH = 8


def open_sender(end, umem, tx_size=16):
    with netns.entered(end.netns):
        return Socket(end.name, 0, umem=umem, rx_size=0, tx_size=tx_size)


def send_in_batches(sock, frames):
    """Send ``frames`` BATCH at a time, each batch flushed before the next,
    so chunks are reaped and reused from the second batch on."""
    for i in range(0, len(frames), BATCH):
        assert sock.sendall(frames[i:i + BATCH], timeout=5) == len(frames[i:i + BATCH])
        assert sock.flush(2) == 0


def test_even_unaligned_chunks_go_out_byte_exact(veth_pair):
    frames = make_frames(veth_pair.a, veth_pair.b, 12 * BATCH, seed=11)
    capture = Capture(veth_pair.b, len(frames), timeout=10)
    with netns.entered(veth_pair.a.netns):
        umem = Umem(32, 4002, unaligned=True)
    try:
        with open_sender(veth_pair.a, umem) as sock:
            send_in_batches(sock, frames)                 # 96 frames through 32 chunks
            spare = sock.pool.spare
            assert len(set(spare)) == len(spare) and all(a % 4002 == 0 for a in spare)
            assert umem.check().pools["%s/0" % veth_pair.a.name].tx == 0
        assert [f for f in capture.wait() if is_test_frame(f)] == frames
        assert umem.check().free == 32
    finally:
        umem.close()


def test_changed_completion_addresses_never_hand_a_chunk_out_twice(veth_pair, monkeypatch):
    """4001-byte unaligned chunks, which pyxsk now refuses, let in past the
    check: odd chunk starts.  On kernels with commit 0ebc27a4c67d a TX at
    4001 completes as 4000, which pyxsk once took for chunk 0 -- and from the
    second batch on, every other frame went out with the next one's bytes.
    Now the changed address raises LedgerError, and no frame that went out
    carries another's bytes.  (On a kernel that returns addresses intact,
    every frame arrives.)"""
    monkeypatch.setattr(umem_module, "validate_geometry", lambda *args, **kwargs: None)
    frames = make_frames(veth_pair.a, veth_pair.b, 8 * BATCH, seed=12, sizes=(60, 600))
    capture = Capture(veth_pair.b, len(frames), timeout=4)
    with netns.entered(veth_pair.a.netns):
        umem = Umem(16, 4001, unaligned=True)
    refused = []
    try:
        sock = open_sender(veth_pair.a, umem)
        try:
            send_in_batches(sock, frames)
        except LedgerError as e:
            refused.append(str(e))
        finally:
            try:
                sock.close()
            except LedgerError as e:                    # completions that came in while closing
                refused.append(str(e))
    except BaseException:
        umem.close()
        raise
    got = [f for f in capture.wait() if is_test_frame(f)]
    assert got == frames[:len(got)]                     # nothing carries another frame's bytes
    if refused:
        assert "on the completion ring" in refused[0] and "not the start of a chunk" in refused[0]
        addr = int(re.search(r"address 0x([0-9a-f]+)", refused[0]).group(1), 16)
        assert (addr + 1) % 4001 == 0 and (addr + 1) // 4001 % 2 == 1   # an odd start, bit 0 cleared
    else:
        assert len(got) == len(frames)
    assert umem.check().free == 16
    umem.close()


def replies_to(frames, pair, seed):
    return make_frames(pair.b, pair.a, len(frames), seed=seed)


def test_a_socket_that_receives_still_sends(veth_pair):
    """The kernel selftest's geometry, 1024 chunks and rings of 2048: the
    refill after each recv() must leave the TX share alone, or send() finds
    no chunk, ever."""
    with netns.entered(veth_pair.b.netns):
        xsk = XskSocket(veth_pair.b.name, 0, num_frames=1024, rx_size=2048, tx_size=2048)
    try:
        label = "%s/0" % veth_pair.b.name
        for round_ in range(2):
            there = make_frames(veth_pair.a, veth_pair.b, 300, seed=20 + round_)
            inject(veth_pair.a, there)
            assert receive(xsk, len(there)) == there
            back = make_frames(veth_pair.b, veth_pair.a, 600, seed=30 + round_)
            capture = Capture(veth_pair.a, len(back), timeout=10)
            assert xsk.sendall(back, timeout=5) == len(back)
            assert xsk.flush(5) == 0
            assert [f for f in capture.wait() if is_test_frame(f)] == back
            ledger = xsk.umem.check()
            pool = ledger.pools[label]     # a stray kernel frame (IPv6) may sit on RX
            assert pool.fill + pool.rx == 512 and pool.tx == 0
    finally:
        xsk.close()


def test_copy_mode_receives_frames_up_to_rx_capacity(veth_pair):
    """rx_capacity needs no skb_shared_info tailroom in copy mode: with the
    largest headroom the kernel allows, a frame of rx_capacity bytes
    arrives, one byte more is dropped (and counted)."""
    with netns.entered(veth_pair.b.netns):
        umem = Umem(64, 2048, headroom=max_headroom(2048))
        xsk = XskSocket(veth_pair.b.name, 0, umem=umem, rx_size=64, tx_size=0)
    try:
        cap = umem.rx_capacity
        assert cap == 2048 - max_headroom(2048) - 256
        fits = make_frames(veth_pair.a, veth_pair.b, 2, seed=40, sizes=(cap, cap))
        too_long = make_frames(veth_pair.a, veth_pair.b, 1, seed=41, sizes=(cap + 1, cap + 1))
        inject(veth_pair.a, [fits[0]] + too_long + [fits[1]])
        assert receive(xsk, 3, timeout=3) == fits
        assert xsk.statistics().rx_dropped == 1
        umem.check()
    finally:
        xsk.close()
        umem.close()
