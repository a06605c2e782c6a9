"""Ring arithmetic on fake rings in plain memory: cached cursors, batches,
wrap-around of the array and of the 32-bit cursors."""

import struct
from array import array

import pytest

from pyxsk.errors import UnsupportedPlatformError
from pyxsk.ring import (ADDR_ENTRY, DESC_ENTRY, MASK32, ConsumerRing, ProducerRing,
                        require_total_store_order, transfer)
from pyxsk.xsk import RingOffsets

CACHELINE = 64


def fake_ring(cls, size, entry, start=0, flags=True, name="fill"):
    """A ring laid out like the kernel's (cursors on their own cache lines),
    both cursors starting at ``start``.  Returns (ring, memory)."""
    offsets = RingOffsets(producer=0, consumer=CACHELINE,
                          desc=3 * CACHELINE, flags=2 * CACHELINE if flags else None)
    mem = bytearray(offsets.desc + size * entry)
    struct.pack_into("<I", mem, offsets.producer, start)
    struct.pack_into("<I", mem, offsets.consumer, start)
    return cls(name, memoryview(mem), offsets, size, entry), mem


def shared(mem, which):
    return struct.unpack_from("<I", mem, 0 if which == "prod" else CACHELINE)[0]


def set_shared(mem, which, value):
    struct.pack_into("<I", mem, 0 if which == "prod" else CACHELINE, value & MASK32)


def kernel_consume_addrs(mem, size, n):
    """Play the kernel consuming ``n`` entries of an address ring."""
    cons = shared(mem, "cons")
    out = [struct.unpack_from("<Q", mem, 3 * CACHELINE + 8 * ((cons + i) & (size - 1)))[0]
           for i in range(n)]
    set_shared(mem, "cons", cons + n)
    return out


def kernel_produce_descs(mem, size, descs):
    """Play the kernel producing (addr, len) descriptors on a desc ring."""
    prod = shared(mem, "prod")
    for i, (addr, length) in enumerate(descs):
        struct.pack_into("<QII", mem, 3 * CACHELINE + 16 * ((prod + i) & (size - 1)), addr, length, 0)
    set_shared(mem, "prod", prod + len(descs))


@pytest.mark.parametrize("start", [0, 5, MASK32 - 3, MASK32])
def test_producer_across_the_32_bit_wrap(start):
    ring, mem = fake_ring(ProducerRing, 8, ADDR_ENTRY, start)
    written = []
    for batch in range(6):
        count, idx = ring.reserve(3)
        assert count == 3
        addrs = array("Q", [batch * 100 + i for i in range(3)])
        ring.write_addrs(idx, addrs)
        ring.submit()
        written += list(addrs)
        assert shared(mem, "prod") == (start + 3 * (batch + 1)) & MASK32
        assert kernel_consume_addrs(mem, 8, 3) == list(addrs)
    assert ring.cached_prod == (start + 18) & MASK32


def test_producer_never_overwrites_unconsumed_entries():
    ring, mem = fake_ring(ProducerRing, 4, ADDR_ENTRY, MASK32 - 1)
    count, idx = ring.reserve(10)
    assert count == 4
    ring.write_addrs(idx, array("Q", [1, 2, 3, 4]))
    ring.submit()
    assert ring.reserve(1) == (0, (MASK32 - 1 + 4) & MASK32)
    kernel_consume_addrs(mem, 4, 2)
    count, idx = ring.reserve(10)
    assert count == 2
    ring.write_addrs(idx, array("Q", [5, 6]))
    ring.submit()
    assert kernel_consume_addrs(mem, 4, 4) == [3, 4, 5, 6]


def test_producer_rereads_consumer_only_when_the_cache_runs_dry():
    ring, mem = fake_ring(ProducerRing, 8, ADDR_ENTRY)
    ring.reserve(8)
    ring.write_addrs(0, array("Q", range(8)))
    ring.submit()
    kernel_consume_addrs(mem, 8, 8)
    # the kernel freed everything, but while the cache says 2 are free we
    # must not look: asking for 0 more gives the cached answer
    assert ring.free(0) == 0
    assert ring.cached_cons == 0
    assert ring.free(1) == 8          # dry: re-read
    assert ring.cached_cons == 8


def test_consumer_rereads_producer_only_when_the_cache_runs_dry():
    ring, mem = fake_ring(ConsumerRing, 8, DESC_ENTRY, name="rx")
    kernel_produce_descs(mem, 8, [(0x1000, 60), (0x2000, 61)])
    assert ring.peek(1) == (1, 0)
    kernel_produce_descs(mem, 8, [(0x3000, 62)])
    assert ring.available(1) == 1      # the cache can answer: no re-read
    assert ring.cached_prod == 2
    assert ring.peek(1) == (1, 1)
    assert ring.available(1) == 1      # dry: re-read finds the third
    assert ring.cached_prod == 3
    kernel_produce_descs(mem, 8, [(0x4000, 63)])
    assert ring.peek(5) == (2, 2)      # the cache holds 1 < 5: re-read
    ring.release()
    assert shared(mem, "cons") == 4


@pytest.mark.parametrize("start", [0, MASK32 - 2, 6])
def test_consumer_reads_batches_across_both_wraps(start):
    ring, mem = fake_ring(ConsumerRing, 8, DESC_ENTRY, start, name="rx")
    descs = [(0x1000 * (i + 1) + i, 60 + i) for i in range(7)]
    kernel_produce_descs(mem, 8, descs)
    n, idx = ring.peek(7)
    assert (n, idx) == (7, start)
    addrs = array("Q", bytes(8 * n))
    ring.read_addrs(idx, n, memoryview(addrs))
    lens = [ring.halfwords[4 * ((idx + i) & ring.mask) + 2] for i in range(n)]
    assert list(zip(addrs, lens)) == descs
    ring.release()
    assert shared(mem, "cons") == (start + 7) & MASK32


def test_cancel_gives_back_entries():
    prod, pmem = fake_ring(ProducerRing, 8, ADDR_ENTRY)
    prod.reserve(5)
    prod.cancel(2)
    prod.submit()
    assert shared(pmem, "prod") == 3
    cons, cmem = fake_ring(ConsumerRing, 8, DESC_ENTRY, name="rx")
    kernel_produce_descs(cmem, 8, [(0, 1)] * 4)
    cons.peek(4)
    cons.cancel(1)
    cons.release()
    assert shared(cmem, "cons") == 3


@pytest.mark.parametrize("src_start,dst_start", [(0, 0), (6, 3), (MASK32 - 1, 14), (13, MASK32)])
def test_transfer_rx_to_fill_with_different_wrap_points(src_start, dst_start):
    """The rxdrop move: RX descriptors' addresses onto the fill ring, in up
    to three slice copies, no per-descriptor Python."""
    rx, rmem = fake_ring(ConsumerRing, 8, DESC_ENTRY, src_start, name="rx")
    fill, fmem = fake_ring(ProducerRing, 16, ADDR_ENTRY, dst_start)
    descs = [(0x100000 + 0x1000 * i + 256, 64 + i) for i in range(7)]
    kernel_produce_descs(rmem, 8, descs)
    n, r_idx = rx.peek(8)
    count, f_idx = fill.reserve(n)
    transfer(rx, r_idx, fill, f_idx, count, word=0)
    rx.release()
    fill.submit()
    assert kernel_consume_addrs(fmem, 16, 7) == [a for a, _ in descs]


def test_transfer_whole_descriptors_between_desc_rings():
    rx, rmem = fake_ring(ConsumerRing, 4, DESC_ENTRY, 3, name="rx")
    tx, tmem = fake_ring(ProducerRing, 8, DESC_ENTRY, 6, name="tx")
    descs = [(0x1000 * i, 100 + i) for i in range(4)]
    kernel_produce_descs(rmem, 4, descs)
    n, r_idx = rx.peek(4)
    count, t_idx = tx.reserve(n)
    transfer(rx, r_idx, tx, t_idx, count, word=None)
    got = [struct.unpack_from("<QII", tmem, 3 * CACHELINE + 16 * ((6 + i) & 7)) for i in range(4)]
    assert [(a, l) for a, l, _ in got] == descs


def test_write_lens_leaves_addresses_alone():
    tx, mem = fake_ring(ProducerRing, 4, DESC_ENTRY, 2, name="tx")
    n, idx = tx.reserve(4)
    tx.write_addrs(idx, array("Q", [10, 20, 30, 40]))
    tx.write_lens(idx, array("I", [1, 2, 3, 4]))
    entries = [struct.unpack_from("<QII", mem, 3 * CACHELINE + 16 * ((2 + i) & 3)) for i in range(4)]
    assert entries == [(10, 1, 0), (20, 2, 0), (30, 3, 0), (40, 4, 0)]


def test_need_wakeup_follows_the_flag_and_the_pre_flags_rules():
    tx, mem = fake_ring(ProducerRing, 4, DESC_ENTRY, name="tx")
    assert not tx.needs_wakeup()
    struct.pack_into("<I", mem, 2 * CACHELINE, 1)
    assert tx.needs_wakeup()
    old_tx, _ = fake_ring(ProducerRing, 4, DESC_ENTRY, flags=False, name="tx")
    old_fill, _ = fake_ring(ProducerRing, 4, ADDR_ENTRY, flags=False, name="fill")
    assert not old_tx.has_flags
    assert old_tx.needs_wakeup()          # no flags: every TX needs a kick
    assert not old_fill.needs_wakeup()    # ... and the fill ring never asks


@pytest.mark.parametrize("size", [0, 3, 6, 1000, -8, 2.0])
def test_ring_size_must_be_a_power_of_two(size):
    offsets = RingOffsets(0, 64, 192, 128)
    with pytest.raises(ValueError, match="power of two"):
        ProducerRing("fill", memoryview(bytearray(4096)), offsets, size, ADDR_ENTRY)


@pytest.mark.parametrize("machine", ["aarch64", "armv7l", "ppc64le", "riscv64", "s390x", ""])
def test_refuses_to_run_without_total_store_order(machine):
    with pytest.raises(UnsupportedPlatformError, match="total store order"):
        require_total_store_order(machine)
    require_total_store_order("x86_64")


def test_close_releases_every_view_into_the_memory():
    ring, mem = fake_ring(ProducerRing, 8, DESC_ENTRY, name="tx")
    ring.close()
    mem.extend(b"x")   # a bytearray with exported buffers cannot be resized
    ring.close()       # idempotent
