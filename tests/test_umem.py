"""The UMEM ledger: every chunk in exactly one place, through receive,
transmit, recycling, teardown, and with the ring cursors wrapping 2**32.

The kernel's side of the rings is played by tests/fakekernel.py on real
memory, so every move the real kernel can make is made here on purpose."""

import pytest

from fakekernel import FakeKernel, complete, deliver_rx, take_fill, take_tx
from pyxsk.errors import LedgerError
from pyxsk.umem import FREE, Umem
from pyxsk.xsk import Socket

RING = 64
LABEL = "fake7/0"


@pytest.fixture(params=[0, 0xFFFFFFFF - 40], ids=["cursors-at-0", "cursors-near-2^32"])
def kernel(request, monkeypatch):
    return FakeKernel("6.18", start_cursor=request.param).install(monkeypatch)


@pytest.fixture
def umem():
    with Umem(256, 2048, headroom=64) as u:
        yield u


def open_socket(umem, queue=0, **kwargs):
    return Socket(7, queue, umem=umem, rx_size=RING, tx_size=RING, **kwargs)


def rx_offset(umem, addr):
    """What the kernel puts in an RX descriptor: the chunk plus headroom and XDP headroom."""
    return addr + umem.headroom + 256


def test_fresh_socket_gives_the_fill_ring_its_share(kernel, umem):
    with open_socket(umem) as sock:
        ledger = umem.check()
        assert ledger.total == 256
        assert ledger.pools[LABEL].fill == RING
        assert ledger.free + sum(ledger.pools[LABEL][1:]) == 256
        assert sock.pool.fill.shared_producer() == (kernel.start_cursor + ledger.pools[LABEL].fill) & 0xFFFFFFFF
    assert umem.check().free == 256


def test_receive_cycle_keeps_every_chunk_accounted(kernel, umem):
    with open_socket(umem) as sock:
        given = umem.check().pools[LABEL].fill
        for cycle in range(20):                     # 20 x 10 frames: cursors cross 2**32
            chunks = take_fill(sock.pool, 10)
            deliver_rx(sock, [(rx_offset(umem, a), 60 + i) for i, a in enumerate(chunks)])
            ledger = umem.check().pools[LABEL]
            assert (ledger.fill, ledger.rx) == (given - 10, 10)
            lens = []
            while len(lens) < 10:                       # a batch stops at the ring's end
                batch = sock.recv(64, timeout=0)
                assert batch
                assert [len(f) for f in batch] == list(batch.lens)
                lens += batch.lens
                ledger = umem.check().pools[LABEL]
                assert (ledger.fill, ledger.rx, ledger.user) == (
                    given - 10 + len(lens) - len(batch), 10 - len(lens), len(batch))
                batch.release()
            assert lens == [60 + i for i in range(10)]
            ledger = umem.check().pools[LABEL]
            assert (ledger.fill, ledger.user) == (given, 0)
        assert umem.check().free + given == 256


def test_frames_are_views_of_the_received_bytes(kernel, umem):
    with open_socket(umem) as sock:
        chunks = take_fill(sock.pool, 3)
        for i, a in enumerate(chunks):
            off = rx_offset(umem, a)
            umem.view[off:off + 60] = bytes([i + 1]) * 60
        deliver_rx(sock, [(rx_offset(umem, a), 60) for a in chunks])
        with sock.recv(8, timeout=0) as batch:
            frames = list(batch)
            assert [bytes(f) for f in frames] == [bytes([i + 1]) * 60 for i in range(3)]
            assert batch[1].tobytes() == bytes([2]) * 60
        with pytest.raises(ValueError):
            frames[0][0]           # released with the batch
        with pytest.raises(ValueError, match="released"):
            list(batch)


def test_next_recv_releases_the_previous_batch(kernel, umem):
    with open_socket(umem) as sock:
        chunks = take_fill(sock.pool, 4)
        deliver_rx(sock, [(rx_offset(umem, a), 64) for a in chunks])
        first = sock.recv(2, timeout=0)
        frame = first[0]
        second = sock.recv(2, timeout=0)
        assert first.released and not second.released
        with pytest.raises(ValueError):
            bytes(frame)
        assert umem.check().pools[LABEL].user == 2


def test_discard_recycles_without_batches(kernel, umem):
    with open_socket(umem) as sock:
        given = umem.check().pools[LABEL].fill
        chunks = take_fill(sock.pool, 12)
        deliver_rx(sock, [(rx_offset(umem, a), 64) for a in chunks])
        assert sock.discard() == 12
        assert take_fill(sock.pool, given)[-12:] == [rx_offset(umem, a) for a in chunks]
        umem.check()


def test_transmit_cycle_and_completion(kernel, umem):
    with open_socket(umem) as sock:
        for cycle in range(12):
            frames = [bytes([cycle, i]) * 40 for i in range(7)]
            assert sock.send(frames) == 7
            assert umem.check().pools[LABEL].tx == 7
            sent = take_tx(sock, 7)
            assert [bytes(umem.view[a:a + n]) for a, n in sent] == frames
            complete(sock.pool, [a for a, _ in sent])
            ledger = umem.check().pools[LABEL]
            assert (ledger.tx, ledger.completion) == (0, 7)
            assert sock.complete() == 7
            assert umem.check().pools[LABEL].completion == 0
        assert sock.in_flight() == 0


def test_retransmit_moves_completions_straight_to_tx(kernel, umem):
    with open_socket(umem) as sock:
        sock.send([b"\xaa" * 60] * 5)
        sent = take_tx(sock, 5)
        complete(sock.pool, [a for a, _ in sent])
        assert sock.retransmit(60) == 5
        again = take_tx(sock, 5)
        assert again == sent
        ledger = umem.check().pools[LABEL]
        assert (ledger.tx, ledger.completion) == (5, 0)


def test_close_reclaims_chunks_the_kernel_still_holds(kernel, umem):
    """After close every chunk is free again: those on the fill ring, those the
    kernel took but never delivered, those waiting on RX, in flight on TX, and
    completed but not reaped."""
    sock = open_socket(umem)
    internal = take_fill(sock.pool, 7)                 # taken, never delivered
    waiting = take_fill(sock.pool, 3)
    deliver_rx(sock, [(rx_offset(umem, a), 64) for a in waiting])
    sock.send([b"\x01" * 60] * 6)
    in_flight = take_tx(sock, 4)                         # 2 still on the TX ring
    complete(sock.pool, [a for a, _ in in_flight[:1]])   # 1 completed, not reaped
    ledger = umem.check().pools[LABEL]
    assert ledger.rx == 3 and ledger.tx == 5 and ledger.completion == 1
    assert internal
    sock.close()
    after = umem.check()
    assert after.free == 256 and after.pools == {}


def test_closing_the_socket_releases_its_batch(kernel, umem):
    """A batch reads descriptors in place on the RX ring, so it cannot outlive
    the ring: closing the socket revokes its frames and takes its chunks back."""
    sock = open_socket(umem)
    chunks = take_fill(sock.pool, 2)
    deliver_rx(sock, [(rx_offset(umem, a), 64) for a in chunks])
    batch = sock.recv(2, timeout=0)
    frame = batch[0]
    sock.close()
    assert batch.released
    with pytest.raises(ValueError):
        bytes(frame)
    assert umem.check().free == 256


def test_a_batch_is_read_in_place_and_never_wraps(kernel, umem):
    """Batch views are the RX ring's own entries; a batch stops at the ring's
    end and the next one starts over at its beginning."""
    with open_socket(umem) as sock:
        ahead = (60 - sock.rx.cached_cons) % RING   # move the cursor to entry 60
        if ahead:
            chunks = take_fill(sock.pool, ahead)
            deliver_rx(sock, [(rx_offset(umem, a), 64) for a in chunks])
            while sock.rx.cached_cons % RING != 60:
                sock.recv(64, timeout=0).release()
        chunks = take_fill(sock.pool, 10)      # entries 60..69: wrap after 63
        deliver_rx(sock, [(rx_offset(umem, a), 60 + i) for i, a in enumerate(chunks)])
        first = sock.recv(64, timeout=0)
        assert list(first.lens) == [60, 61, 62, 63]
        assert first.addrs.obj is sock.rx.words.obj      # a view of the ring, not a copy
        second = sock.recv(64, timeout=0)
        assert first.released and list(second.lens) == list(range(64, 70))
        second.release()
        umem.check()


def test_sockets_on_two_queues_share_one_umem(kernel, umem):
    a, b = open_socket(umem, 0), open_socket(umem, 1)
    assert a.pool is not b.pool and b.shared
    ledger = umem.check()
    assert set(ledger.pools) == {"fake7/0", "fake7/1"}
    taken = take_fill(b.pool, 5)
    deliver_rx(b, [(rx_offset(umem, x), 64) for x in taken[:2]])
    a.close()
    assert set(umem.check().pools) == {"fake7/1"}
    b.close()
    assert umem.check().free == 256


def test_sockets_on_one_queue_share_fill_and_completion(kernel, umem):
    first = open_socket(umem, 0)
    second = open_socket(umem, 0)
    assert second.pool is first.pool
    chunks = take_fill(first.pool, 4)
    deliver_rx(second, [(rx_offset(umem, a), 64) for a in chunks])
    second.close()                 # its waiting frames go back to the shared pool
    ledger = umem.check().pools[LABEL]
    assert ledger.rx == 0 and ledger.user == 0
    first.close()
    assert umem.check().free == 256


@pytest.mark.parametrize("damage", ["duplicate-free", "owner-byte", "rx-points-at-free",
                                    "lost-chunk"])
def test_the_ledger_catches_inconsistencies(kernel, umem, damage):
    with open_socket(umem) as sock:
        umem.check()
        if damage == "duplicate-free":
            umem._free.append(umem._free[0])
            match = "both free and free"
        elif damage == "owner-byte":
            umem._owner[umem.chunk_index(umem._free[0])] = sock.pool.code
            match = "owner byte"
        elif damage == "rx-points-at-free":
            deliver_rx(sock, [(rx_offset(umem, umem._free[-1]), 64)])
            match = "RX ring"
        else:
            umem._free.pop()
            match = "on the free list"
        with pytest.raises(LedgerError, match=match):
            umem.check()


def test_unaligned_chunks_decode_and_recycle_base_addresses(kernel):
    with Umem(64, 3000, unaligned=True) as umem, open_socket(umem) as sock:
        chunks = take_fill(sock.pool, 2)
        assert all(a % 3000 == 0 for a in chunks)
        descs = [(a | (256 << 48), 100) for a in chunks]   # offset in the top 16 bits
        for a in chunks:
            umem.view[a + 256:a + 356] = b"\x07" * 100
        deliver_rx(sock, descs)
        with sock.recv(4, timeout=0) as batch:
            assert [bytes(f) for f in batch] == [b"\x07" * 100] * 2
        refilled = take_fill(sock.pool, umem.check().pools[LABEL].fill)
        assert refilled[-2:] == chunks                     # bases, offsets stripped
        assert umem.chunk_index(descs[1][0]) == chunks[1] // 3000


def test_umem_refuses_to_unmap_under_a_live_view(kernel):
    umem = Umem(16)
    kept = umem.view[100:200]
    with pytest.raises(BufferError, match="still alive"):
        umem.close()
    kept.release()
    umem.close()
    umem.close()
    assert "closed" in repr(umem)


def test_umem_refuses_to_close_under_a_socket(kernel, umem):
    with open_socket(umem):
        with pytest.raises(RuntimeError, match="still used by 1 socket"):
            umem.close()


def test_alloc_and_free_move_chunks_to_and_from_the_application(kernel, umem):
    got = umem.alloc(300)
    assert len(got) == 256 and umem.check().user == 256
    assert umem.alloc(1) == type(got)("Q")
    umem.free(got[:100])
    assert umem.check().user == 156
    umem.free(got[100:])
    ledger = umem.check()
    assert (ledger.free, ledger.user) == (256, 0)
    assert all(b == FREE for b in umem._owner)


def _received(sock, umem, n, length=64):
    chunks = take_fill(sock.pool, n)
    deliver_rx(sock, [(rx_offset(umem, a), length) for a in chunks])
    return sock.recv(n, timeout=0)


def test_forward_on_the_same_socket_moves_descriptors_not_bytes(kernel, umem):
    with open_socket(umem) as sock:
        batch = _received(sock, umem, 5)
        expect = list(zip(batch.addrs, batch.lens))
        frame = batch[0]
        assert sock.forward(batch) == 5
        assert batch.released
        with pytest.raises(ValueError):
            bytes(frame)
        assert take_tx(sock, 5) == expect          # same chunks, same offsets
        ledger = umem.check().pools[LABEL]
        assert (ledger.user, ledger.tx) == (0, 5)
        with pytest.raises(ValueError, match="released"):
            sock.forward(batch)


def test_forward_between_queues_moves_ownership(kernel, umem):
    with open_socket(umem, 0) as a, open_socket(umem, 1) as b:
        batch = _received(a, umem, 6)
        assert a.forward(batch, to=b) == 6
        ledger = umem.check()
        assert ledger.pools["fake7/0"].user == 0
        assert ledger.pools["fake7/1"].tx == 6
        sent = take_tx(b, 6)
        complete(b.pool, [x for x, _ in sent])
        assert b.complete() == 6
        assert umem.check().pools["fake7/1"].spare == 6


def test_forward_drops_what_does_not_fit(kernel, umem):
    with open_socket(umem) as sock:
        sock.send([b"\x01" * 60] * (RING - 3))     # TX ring nearly full
        batch = _received(sock, umem, 8)
        assert sock.forward(batch) == 3
        ledger = umem.check().pools[LABEL]
        assert (ledger.user, ledger.tx) == (0, RING)


def test_forward_to_another_umem_copies(kernel, umem):
    with open_socket(umem) as sock, Umem(64, 2048) as other_umem, \
            open_socket(other_umem, 1) as other:
        batch = _received(sock, umem, 2, length=80)
        off = batch.addrs[0]
        umem.view[off:off + 80] = b"\x42" * 80
        assert sock.forward(batch, to=other) == 2
        sent = take_tx(other, 2)
        assert bytes(other_umem.view[sent[0][0]:sent[0][0] + 80]) == b"\x42" * 80
        umem.check()
        other_umem.check()


def test_wakeup_only_when_the_kernel_asks(kernel, umem):
    with open_socket(umem) as sock:
        assert sock.wakeup() is False
        sock.pool.fill._flags[0] = 1
        assert sock.wakeup() is True
        assert [c for c in kernel.calls if c[0] == "recvfrom"]


def _batch_of(sock, umem, frames):
    chunks = take_fill(sock.pool, len(frames))
    for a, f in zip(chunks, frames):
        off = rx_offset(umem, a)
        umem.view[off:off + len(f)] = f
    deliver_rx(sock, [(rx_offset(umem, a), len(f)) for a, f in zip(chunks, frames)])
    return sock.recv(len(frames), timeout=0)


@pytest.mark.parametrize("headroom", [64, 65])   # even and odd data offsets
def test_field_reads_one_header_field_of_every_frame(kernel, headroom):
    frames = [bytes(range(12)) + bytes([0x08, 0x00]) + bytes([i]) * 50 for i in range(5)]
    frames[2] = frames[2][:12] + b"\x86\xdd" + frames[2][14:]
    with Umem(64, 2048, headroom=headroom) as umem, open_socket(umem) as sock:
        batch = _batch_of(sock, umem, frames)
        assert batch.field(12) == [0x0800, 0x0800, 0x86DD, 0x0800, 0x0800]
        assert batch.field(13) == [0x0000, 0x0001, 0xDD02, 0x0003, 0x0004]
        assert batch.field(14, 1) == [0, 1, 2, 3, 4]
        assert batch.field(0, 2) == [0x0001] * 5
        with pytest.raises(ValueError, match="no 2-byte field at offset 63"):
            batch.field(63)
        with pytest.raises(ValueError, match="1 or 2"):
            batch.field(12, 4)
        batch.release()
        with pytest.raises(ValueError, match="released"):
            batch.field(12)


def test_swap_mac_addresses_of_a_whole_batch(kernel, umem):
    from pyxsk.cli.loops import swap_mac_addresses
    frames = [bytes([i] * 6) + bytes([100 + i] * 6) + b"\x88\xb5" + bytes([i]) * (46 + i)
              for i in range(9)]
    with open_socket(umem) as sock:
        batch = _batch_of(sock, umem, frames)
        swap_mac_addresses(batch)
        assert batch.tobytes() == [f[6:12] + f[0:6] + f[12:] for f in frames]
        swap_mac_addresses(batch)
        assert batch.tobytes() == frames
        batch.release()
        swap_mac_addresses(sock.recv(4, timeout=0))      # an empty batch is fine


def test_forwarding_keeps_the_fill_ring_stocked(kernel, umem):
    """Chunks that leave by forward() come back as completions; the next
    recv() must put fresh ones on the fill ring, even though pyxsk's cached
    view of the fill ring (never refreshed by recycling) still says full."""
    with open_socket(umem) as sock:
        for cycle in range(5):
            given = umem.check().pools[LABEL].fill
            assert given == RING, (cycle, umem.check())
            chunks = take_fill(sock.pool, RING)               # the kernel takes them all
            deliver_rx(sock, [(rx_offset(umem, a), 64) for a in chunks])
            forwarded = 0
            while forwarded < RING:                           # batches stop at the ring's end
                forwarded += sock.forward(sock.recv(RING, timeout=0))
            sent = take_tx(sock, RING)
            complete(sock.pool, [a for a, _ in sent])
            sock.recv(1, timeout=0)                           # nothing to read: restocks
            umem.check()


def test_the_fill_ring_holds_no_more_than_the_rx_ring_can_take(kernel):
    """RX budget: a fill ring four times the RX ring gets only as many chunks
    as the RX ring holds, and the budget holds through receive and forward."""
    with Umem(1024, 2048) as umem:
        with Socket(7, 0, umem=umem, rx_size=64, fill_size=256, tx_size=64) as sock:
            pool = sock.pool
            assert umem.check().pools[LABEL].fill == 64 == pool.rx_budget
            chunks = take_fill(pool, 64)
            deliver_rx(sock, [(rx_offset(umem, a), 64) for a in chunks])
            forwarded = 0
            while forwarded < 64:                  # they leave for TX ...
                batch = sock.recv(64, timeout=0)
                assert pool.rx_path() <= 64
                forwarded += sock.forward(batch)
            sock.recv(1, timeout=0)                # ... and fresh ones replace them
            assert pool.rx_path() == 64 and umem.check().pools[LABEL].fill == 64
        assert umem.check().free == 1024
