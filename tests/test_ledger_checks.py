"""No chunk is ever handed out twice: an address the kernel returns on an RX
or completion ring that pyxsk never gave it raises LedgerError at once,
naming the address and the ring, and is never used; and a socket that
receives keeps the chunks it set aside for sending.

The kernel's side of the rings is played by tests/fakekernel.py on real
memory, so the kernel can be made to return anything."""

import pytest

from fakekernel import FakeKernel, complete, deliver_rx, take_fill, take_tx
from pyxsk.errors import LedgerError
from pyxsk.umem import Umem
from pyxsk.xsk import Socket

RING = 64
LABEL = "fake7/0"
XDP_PACKET_HEADROOM = 256


@pytest.fixture(params=[0, 0xFFFFFFFF - 40], ids=["cursors-at-0", "cursors-near-2^32"])
def kernel(request, monkeypatch):
    return FakeKernel("6.18", start_cursor=request.param).install(monkeypatch)


@pytest.fixture
def umem():
    with Umem(256, 2048) as u:
        yield u


def open_socket(umem, queue=0, **kwargs):
    return Socket(7, queue, umem=umem, rx_size=RING, tx_size=RING, **kwargs)


def stranger(kind, umem, other_pool_chunk):
    """An address pyxsk never gave the kernel of queue 0."""
    if kind == "free":
        return umem._free[0]
    if kind == "application's":
        return umem.alloc(1)[0]
    if kind == "other pool's":
        return other_pool_chunk
    return umem.size + 2048                      # "outside"


REASONS = {"free": "which is free", "application's": "held by the application",
           "other pool's": "owned by the pool of fake7/1", "outside": "outside the UMEM"}


@pytest.mark.parametrize("kind", sorted(REASONS))
def test_a_completion_pyxsk_never_sent_is_refused_and_never_reused(kernel, umem, kind):
    with open_socket(umem) as sock, open_socket(umem, 1) as other:
        bad = stranger(kind, umem, take_fill(other.pool, 1)[0])
        sock.send([b"\x01" * 60] * 3)
        sent = [a for a, _ in take_tx(sock, 3)]
        complete(sock.pool, [sent[0], bad, sent[1]])          # bad stands for sent[2]
        with pytest.raises(LedgerError) as info:
            sock.complete()
        message = str(info.value)
        assert "address 0x%x on the completion ring of %s" % (bad, LABEL) in message
        assert REASONS[kind] in message and "1 of 3 addresses refused" in message
        pool = sock.pool
        assert sorted(pool.spare) == sorted(sent[:2])          # the good ones are reaped
        ledger = umem.check().pools[LABEL]                     # the ledger still holds:
        assert (ledger.tx, ledger.completion) == (1, 0)        # sent[2], whose address came back changed
        for _ in range(3):                                     # traffic goes on, without sent[2]
            assert sock.send([b"\x02" * 60] * 4) == 4
            again = [a for a, _ in take_tx(sock, 4)]
            assert sent[2] not in again and bad not in again
            complete(pool, again)
            assert sock.complete() == 4
        assert umem.check().pools[LABEL].tx == 1


@pytest.mark.parametrize("kind", sorted(REASONS))
def test_an_rx_address_pyxsk_never_filled_is_refused_and_never_reused(kernel, umem, kind):
    with open_socket(umem) as sock, open_socket(umem, 1) as other:
        bad = stranger(kind, umem, take_fill(other.pool, 1)[0])
        chunks = take_fill(sock.pool, 3)
        offset = XDP_PACKET_HEADROOM
        deliver_rx(sock, [(chunks[0] + offset, 60), (bad + offset, 60), (chunks[1] + offset, 60)])
        given = sock.pool.fill_given
        with pytest.raises(LedgerError) as info:
            sock.recv(8, timeout=0)
        message = str(info.value)
        assert "address 0x%x on the RX ring of %s" % (bad + offset, LABEL) in message
        assert REASONS[kind] in message
        assert sock._batch is None                              # no frame of it is shown
        assert sock.rx.shared_consumer() == sock.rx.shared_producer()   # the kernel got its slots back
        refilled = take_fill(sock.pool, sock.pool.fill.pending())
        assert sock.pool.fill_given - given == 2
        assert sorted(refilled[-2:]) == sorted(chunks[:2])      # good chunks back on the fill ring
        assert bad not in refilled
        ledger = umem.check().pools[LABEL]
        assert (ledger.rx, ledger.user) == (0, 0)
        assert not sock.recv(8, timeout=0)                      # the ring is usable again


def test_an_unaligned_address_off_a_chunk_start_is_refused(kernel):
    """What 6.18 does to an odd TX address (bit 0 cleared), on even chunks:
    the address lands inside another chunk, which pyxsk must not take for it."""
    with Umem(64, 3000, unaligned=True) as umem, open_socket(umem) as sock:
        sock.send([b"\x02" * 60] * 2)
        sent = [a for a, _ in take_tx(sock, 2)]
        assert all(a % 3000 == 0 for a in sent)
        changed = sent[1] - 1                                   # the chunk before, at its end
        complete(sock.pool, [sent[0], changed])
        with pytest.raises(LedgerError, match="address 0x%x on the completion ring.*not the start "
                                              "of a chunk" % changed):
            sock.complete()
        assert list(sock.pool.spare) == sent[:1]
        umem.check()


def test_unaligned_rx_addresses_carry_the_offset_in_the_top_bits(kernel):
    with Umem(64, 3000, unaligned=True) as umem, open_socket(umem) as sock:
        chunks = take_fill(sock.pool, 2)
        deliver_rx(sock, [(chunks[0] | 256 << 48, 60), (chunks[1] + 256, 60)])
        with pytest.raises(LedgerError, match="0x%x on the RX ring.*not the start" % (chunks[1] + 256)):
            sock.recv(8, timeout=0)
        umem.check()


def test_a_receiving_socket_keeps_its_tx_share(kernel):
    """The kernel selftest's geometry: 1024 chunks, rings of 2048.  Half the
    chunks are set aside for TX at construction, and refills after recv()
    leave them alone: send() still finds chunks."""
    with Umem(1024, 2048) as umem, Socket(7, 0, umem=umem, rx_size=2048, tx_size=2048) as sock:
        pool = sock.pool
        assert pool.tx_reserve() == 512
        assert umem.check().pools[LABEL].fill == 512
        for _ in range(3):                                       # receive everything, thrice
            chunks = take_fill(pool, umem.check().pools[LABEL].fill)
            deliver_rx(sock, [(a + XDP_PACKET_HEADROOM, 60) for a in chunks])
            received = 0
            for _ in range(10):
                batch = sock.recv(2048, timeout=0)
                received += len(batch)
                batch.release()
            assert received == len(chunks)
            ledger = umem.check()
            assert ledger.pools[LABEL].fill == 512 and ledger.free == 512
        assert sock.send([b"\x03" * 60] * 600) == 512
        sent = take_tx(sock, 512)
        complete(pool, [a for a, _ in sent])
        sock.recv(1, timeout=0)                                  # a refill: the reserve holds
        assert sock.send([b"\x04" * 60] * 100) == 100
        ledger = umem.check().pools[LABEL]
        assert (ledger.fill, ledger.tx, ledger.spare) == (512, 100, 412)


def test_forwarded_chunks_come_back_to_the_reserve(kernel):
    """Chunks lent from the reserve to the fill ring while TX holds forwarded
    frames go back to the reserve once those complete."""
    with Umem(256, 2048) as umem, Socket(7, 0, umem=umem, rx_size=256, tx_size=256) as sock:
        pool = sock.pool
        assert pool.tx_reserve() == 128
        chunks = take_fill(pool, 40)
        deliver_rx(sock, [(a + XDP_PACKET_HEADROOM, 60) for a in chunks])
        assert sock.forward(sock.recv(64, timeout=0)) == 40
        sock.recv(1, timeout=0)                                   # refill: 40 lent from the reserve
        assert umem.check().pools[LABEL].fill == 128
        complete(pool, [a for a, _ in take_tx(sock, 40)])
        sock.complete()
        sock.recv(1, timeout=0)
        ledger = umem.check()
        assert ledger.pools[LABEL].fill == 128
        assert ledger.free + ledger.pools[LABEL].spare == 128     # the reserve is whole again


def test_discard_checks_before_the_fill_ring_sees_an_address(kernel, umem):
    """rxdrop moves RX entries straight to the fill ring by slice copies: a
    refused address must not get there."""
    with open_socket(umem) as sock:
        chunks = take_fill(sock.pool, 2)
        bad = umem._free[0]
        deliver_rx(sock, [(chunks[0] + XDP_PACKET_HEADROOM, 60), (bad + XDP_PACKET_HEADROOM, 60)])
        before = sock.pool.fill.shared_producer()
        with pytest.raises(LedgerError, match="0x%x on the RX ring of %s.*which is free"
                                              % (bad + XDP_PACKET_HEADROOM, LABEL)):
            sock.discard()
        assert (sock.pool.fill.shared_producer() - before) & 0xFFFFFFFF == 1
        drained = take_fill(sock.pool, sock.pool.fill.pending())    # the kernel takes them all
        assert drained[-1] == chunks[0] and bad not in drained
        umem.check()
        deliver_rx(sock, [(a + XDP_PACKET_HEADROOM, 60) for a in drained[:3]])
        assert sock.discard() == 3                                  # and it goes on
        umem.check()


def test_retransmit_never_resends_a_refused_completion(kernel, umem):
    with open_socket(umem) as sock:
        sock.send([b"\x05" * 60] * 2)
        sent = [a for a, _ in take_tx(sock, 2)]
        bad = sent[1] + 2048 * 100                                  # a chunk never sent
        complete(sock.pool, [sent[0], bad])
        with pytest.raises(LedgerError, match="0x%x on the completion ring" % bad):
            sock.retransmit(60)
        assert sock.tx.pending() == 0                               # nothing went back on TX
        assert list(sock.pool.spare) == sent[:1]
        assert umem.check().pools[LABEL].tx == 1
        assert sock.send([b"\x06" * 60] * 2) == 2                   # and it goes on
        again = [a for a, _ in take_tx(sock, 2)]
        complete(sock.pool, again)
        assert sock.retransmit(60) == 2 and [a for a, _ in take_tx(sock, 2)] == again
