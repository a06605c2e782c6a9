"""pyxsk.bpf.ringbuf on the real kernel: XDP programs write records with
bpf_ringbuf_output() and bpf_ringbuf_reserve/submit/discard() (run by
BPF_PROG_TEST_RUN, and by frames crossing a veth pair on both CPUs), and
RingBuffer delivers each one, in order, with its content, through a ring
that wraps; what did not fit the program counts itself.  The busy bit is
tested on plain memory, where a record can stay busy."""

import asyncio
import errno
import os
import selectors
import socket
import struct
import threading

import pytest

import buffer_programs as bp
from conftest import is_mapped, open_fds
from pyxsk import ConfigError, bpf
from pyxsk.bpf import ringbuf
from pyxsk.bpf.perf import online_cpus
from pyxsk.bpf.ringbuf import RingBufMap, RingBuffer
from pyxsk.net import link, netns
from pyxsk.uapi import bpf as k

pytestmark = pytest.mark.root

FRAME = bytes(64)
PAGE = os.sysconf("SC_PAGE_SIZE")
RECORD = k.BPF_RINGBUF_HDR_SZ + bp.HEAD          # 24 bytes for the 16-byte sample
TIMEOUT = 10.0
# BPF_PROG_TEST_RUN with repeat > 1 costs some 30 ms here whatever the count
# (the kernel's teardown of the run), so short bursts run repeat=1 in a loop


@pytest.fixture
def counters():
    with bpf.ArrayMap(bp.COUNTERS, 8, name="counters") as m:
        yield m


@pytest.fixture
def small():
    """A ring of one page."""
    with RingBufMap(PAGE, name="small") as m:
        yield m


@pytest.fixture
def large():
    with RingBufMap(256 * PAGE, name="large") as m:
        yield m


def load(program):
    return bpf.load(program, name="ringbuf_test")


def take(ring, count, timeout=TIMEOUT):
    got = []
    while len(got) < count:
        batch = ring.poll(timeout)
        if not batch:
            break
        got += batch
    return got


def test_sizes_are_checked_before_the_kernel():
    fds = open_fds()
    for size in (0, PAGE // 2, 3 * PAGE, PAGE + 8, 1 << 32, True, "4096", -PAGE):
        with pytest.raises(ConfigError, match="power of two multiple of the page size"):
            RingBufMap(size)
    with bpf.ArrayMap(1, 4) as other, pytest.raises(ConfigError, match="RINGBUF"):
        RingBuffer(other)
    assert open_fds() == fds


def test_the_map_is_a_ring_buffer_of_that_size(large):
    info = large.info()
    assert (info.type, info.key_size, info.value_size, info.max_entries) == (
        k.BPF_MAP_TYPE_RINGBUF, 0, 0, 256 * PAGE)


def test_every_record_arrives_in_order_with_its_content(large, counters):
    with load(bp.ringbuf_output(large, counters)) as prog, RingBuffer(large) as ring:
        prog.test_run(FRAME, repeat=5000)
        got = take(ring, 5000)
        assert ring.poll(0) == [] and counters[bp.FAILS] == 0
        assert [bp.check(r) for r in got] == list(range(5000))
        assert {len(r) for r in got} == {bp.HEAD}          # exactly as submitted, no padding


def test_records_of_varying_size_wrap_around_a_one_page_ring(small, counters):
    """8 to 32-byte records (16 to 40 with their headers) make the ring wrap
    in the middle of a record, which the double mapping reads on contiguously."""
    with load(bp.ringbuf_output(small, counters, varying=True)) as prog, RingBuffer(small) as ring:
        got = []
        for _ in range(60):
            for _ in range(100):                     # at most 4000 bytes, then read
                prog.test_run(FRAME)
            got += take(ring, 100)
        assert counters[bp.FAILS] == 0 and ring.discarded == 0
        assert len(got) == 6000
        for seq, record in enumerate(got):
            assert len(record) == 8 * (seq % 4) + 8
            assert record[:4] == struct.pack("<I", seq)
            if len(record) >= bp.HEAD:
                assert bp.check(record) == seq
            assert record[bp.HEAD:] == b"\xa5" * (len(record) - bp.HEAD)
        assert sum((len(r) + 8 + 7) // 8 * 8 for r in got) > 40 * PAGE


def test_a_full_ring_refuses_and_the_program_counts_it(small, counters):
    with load(bp.ringbuf_output(small, counters)) as prog, RingBuffer(small) as ring:
        for _ in range(1000):                        # nothing reads meanwhile
            prog.test_run(FRAME)
        got = ring.poll(0)
        # the kernel keeps the producer less than a whole ring ahead
        assert len(got) == (PAGE - 1) // RECORD
        assert [bp.check(r) for r in got] == list(range(len(got)))
        assert len(got) + counters[bp.FAILS] == 1000
        assert counters[bp.LAST_RET] == (-errno.EAGAIN) & (1 << 64) - 1
        prog.test_run(FRAME)                         # room again
        assert [bp.check(r) for r in ring.poll(TIMEOUT)] == [1000]


def test_discarded_records_are_skipped_and_counted(large, counters):
    with load(bp.ringbuf_reserve(large, counters, discard_every=3)) as prog, \
            RingBuffer(large) as ring:
        prog.test_run(FRAME, repeat=3000)
        got = take(ring, 2000)
        assert [bp.check(r) for r in got] == [seq for seq in range(3000) if seq % 3]
        assert ring.discarded == 1000 and ring.poll(0) == []
        assert counters[bp.FAILS] == 0


def test_reservations_that_do_not_fit_are_counted_by_the_program(small, counters):
    with load(bp.ringbuf_reserve(small, counters, discard_every=2)) as prog, \
            RingBuffer(small) as ring:
        for _ in range(500):
            prog.test_run(FRAME)
        got = ring.poll(0)
        reserved = (PAGE - 1) // RECORD
        assert ring.discarded + len(got) == reserved and counters[bp.FAILS] == 500 - reserved
        assert [bp.check(r) for r in got] == [seq for seq in range(reserved) if seq % 2]


def test_under_load_from_two_cpus_every_record_is_intact_or_counted(large, counters):
    """Programs on two CPUs write into one ring at once (so the reader meets
    records still busy) while it reads: every record arrives whole, each
    CPU's in order, and received + refused = written."""
    cpus = online_cpus()[:2]
    runs, repeat = 10, 20000
    with load(bp.ringbuf_output(large, counters)) as prog, RingBuffer(large) as ring:
        def produce(cpu):
            os.sched_setaffinity(0, {cpu})
            for _ in range(runs):
                prog.test_run(FRAME, repeat=repeat)

        threads = [threading.Thread(target=produce, args=(cpu,)) for cpu in cpus]
        for t in threads:
            t.start()
        got = []
        while any(t.is_alive() for t in threads):
            got += ring.poll(0.1)
        for t in threads:
            t.join()
        got += ring.poll(0)
    written = len(cpus) * runs * repeat
    assert len(got) + counters[bp.FAILS] == written
    by_cpu = {}
    for record in got:
        seq, cpu = struct.unpack_from("<II", record)
        assert bp.check(record, cpu) == seq and len(record) == bp.HEAD
        by_cpu.setdefault(cpu, []).append(seq)
    assert set(by_cpu) <= set(cpus)
    for seqs in by_cpu.values():
        assert seqs == sorted(set(seqs))


def test_frames_on_a_veth_pair_from_both_cpus(make_veth_pair, large, counters):
    cpus = online_cpus()[:2]
    if len(cpus) < 2:
        pytest.skip("needs two CPUs to write from both")
    pair = make_veth_pair()
    per_cpu = 2000
    with load(bp.ringbuf_output(large, counters, from_frame=True)) as prog, \
            RingBuffer(large) as ring:                   # room for every record
        with netns.entered(pair.b.netns):
            attachment = link.attach_xdp(pair.b.name, prog.fileno(), mode="skb", bpf_link=True)
        try:
            _send_from_each_cpu(pair, cpus, per_cpu)
            got = take(ring, 2 * per_cpu)
        finally:
            attachment.close()
    assert counters[bp.FAILS] == 0
    by_cpu = {}
    for record in got:
        cpu = struct.unpack_from("<I", record, 4)[0]
        by_cpu.setdefault(cpu, []).append(bp.check(record, cpu))
    assert sorted(by_cpu) == cpus                        # skb mode: the sender's CPU
    for i, cpu in enumerate(cpus):
        assert by_cpu[cpu] == list(range(i * per_cpu, (i + 1) * per_cpu))


def _send_from_each_cpu(pair, cpus, per_cpu):
    with netns.entered(pair.a.netns):
        socks = [socket.socket(socket.AF_PACKET, socket.SOCK_RAW) for _ in cpus]
    dst = bytes(int(x, 16) for x in pair.b.mac.split(":"))

    def send(sock, cpu, first):
        os.sched_setaffinity(0, {cpu})
        for seq in range(first, first + per_cpu):
            sock.send(bp.test_frame(seq, dst=dst))

    try:
        for sock in socks:
            sock.bind((pair.a.name, 0))
        threads = [threading.Thread(target=send, args=(sock, cpu, i * per_cpu))
                   for i, (sock, cpu) in enumerate(zip(socks, cpus))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for sock in socks:
            sock.close()


def test_selectors_see_the_ring_readable_while_data_waits(large, counters):
    with load(bp.ringbuf_output(large, counters)) as prog, RingBuffer(large) as ring, \
            selectors.DefaultSelector() as sel:
        sel.register(ring, selectors.EVENT_READ)
        assert sel.select(0) == []
        prog.test_run(FRAME)
        assert [key.fileobj for key, _mask in sel.select(TIMEOUT)] == [ring]
        assert sel.select(0) != []                         # level-triggered: still there
        assert [bp.check(r) for r in ring.read_ready()] == [0]
        assert sel.select(0) == []


def test_asyncio_add_reader_wakes_for_records(large, counters):
    with load(bp.ringbuf_output(large, counters)) as prog, RingBuffer(large) as ring:
        async def main():
            loop = asyncio.get_running_loop()
            got, done = [], loop.create_future()

            def on_readable():
                got.extend(ring.read_ready())
                if len(got) >= 5 and not done.done():
                    done.set_result(None)

            loop.add_reader(ring.fileno(), on_readable)
            try:
                for _ in range(5):
                    await asyncio.sleep(0)
                    prog.test_run(FRAME)
                await asyncio.wait_for(done, TIMEOUT)
            finally:
                loop.remove_reader(ring.fileno())
            return got

        assert [bp.check(r) for r in asyncio.run(main())] == [0, 1, 2, 3, 4]


def test_no_wakeup_leaves_the_waiter_asleep_force_wakes_it(large, counters):
    quiet = load(bp.ringbuf_output(large, counters, flags=k.BPF_RB_NO_WAKEUP))
    loud = load(bp.ringbuf_output(large, counters, flags=k.BPF_RB_FORCE_WAKEUP))
    with quiet, loud, RingBuffer(large) as ring:
        timers = [threading.Timer(0.2, quiet.test_run, (FRAME,)),
                  threading.Timer(0.4, loud.test_run, (FRAME,))]
        for timer in timers:
            timer.start()
        got = ring.poll(TIMEOUT)                         # woken by the second only: both there
        for timer in timers:
            timer.join()
        assert [bp.check(r) for r in got] == [0, 1]


def test_iteration_and_timeouts(large, counters):
    with load(bp.ringbuf_output(large, counters)) as prog, RingBuffer(large) as ring:
        assert ring.poll(0) == [] and ring.poll(0.01) == []
        for bad in (-1, float("nan"), "1"):
            with pytest.raises((TypeError, ValueError)):
                ring.poll(bad)
        prog.test_run(FRAME, repeat=7)
        assert [bp.check(r) for r in ring.samples(timeout=0.05)] == list(range(7))
        prog.test_run(FRAME, repeat=2)
        it = iter(ring)
        assert [bp.check(next(it)), bp.check(next(it))] == [7, 8]


def test_close_unmaps_and_closes_and_leaves_the_map_usable(large, counters):
    with load(bp.ringbuf_output(large, counters)) as prog:
        fds = open_fds()
        ring = RingBuffer(large)
        addrs = [m.addr for m in ring._maps]
        assert all(is_mapped(a) for a in addrs) and ring.fileno() != large.fileno()
        prog.test_run(FRAME)
        ring.close()
        ring.close()
        assert open_fds() == fds and not any(is_mapped(a) for a in addrs)
        assert repr(ring) == "<RingBuffer [closed]>" and ring.closed
        for call in (ring.poll, ring.read_ready, ring.fileno):
            with pytest.raises(ValueError, match="closed"):
                call()
        with RingBuffer(large) as again:                 # the record is still there
            assert [bp.check(r) for r in again.poll(TIMEOUT)] == [0]


def test_the_reader_owns_its_fd_and_outlives_the_map_object(counters):
    fds = open_fds()
    rb = RingBufMap(PAGE)
    prog = load(bp.ringbuf_output(rb, counters))
    ring = RingBuffer(rb)
    rb.close()                                       # the program and the reader hold the map
    prog.test_run(FRAME)
    assert [bp.check(r) for r in ring.poll(TIMEOUT)] == [0]
    ring.close()
    prog.close()
    assert open_fds() == fds


# -- the consumer on plain memory: a record can stay busy there --------------

class FakeRing:
    """The three views of a ring on bytearrays; ``write`` places a record
    as the kernel does, the data mapped twice (so written twice)."""

    def __init__(self, size=64):
        self.size = size
        self.cons = memoryview(bytearray(8)).cast("Q")
        self.prod = memoryview(bytearray(8)).cast("Q")
        self.data = memoryview(bytearray(2 * size))
        self.reader = ringbuf._RingReader(self.cons, self.prod, self.data, size)

    def write(self, payload, flags=0):
        pos = self.prod[0]
        record = struct.pack("<II", len(payload) | flags, 0) + payload
        record += bytes(-len(record) % 8)
        for i, byte in enumerate(record):
            at = (pos + i) % self.size
            self.data[at] = self.data[at + self.size] = byte
        self.prod[0] = pos + len(record)
        return pos

    def set_flags(self, pos, flags):
        length = struct.unpack_from("<I", self.data, pos % self.size)[0] & ~(
            k.BPF_RINGBUF_BUSY_BIT | k.BPF_RINGBUF_DISCARD_BIT)
        for base in (0, self.size):
            struct.pack_into("<I", self.data, base + pos % self.size, length | flags)


def test_reading_stops_at_a_busy_record_and_resumes_after_its_commit():
    fake = FakeRing()
    fake.write(b"first")
    busy = fake.write(b"second!!", k.BPF_RINGBUF_BUSY_BIT)
    fake.write(b"third")                             # committed, behind a busy one
    assert fake.reader.read() == [b"first"]
    assert fake.cons[0] == busy                      # consumed up to the busy record only
    assert fake.reader.read() == []
    fake.set_flags(busy, 0)                          # the program submits it
    assert fake.reader.read() == [b"second!!", b"third"]
    assert fake.cons[0] == fake.prod[0]


def test_a_busy_record_that_is_then_discarded_is_skipped():
    fake = FakeRing()
    pos = fake.write(b"x" * 8, k.BPF_RINGBUF_BUSY_BIT)
    assert fake.reader.read() == [] and fake.cons[0] == 0
    fake.set_flags(pos, k.BPF_RINGBUF_DISCARD_BIT)
    fake.write(b"y" * 8)
    assert fake.reader.read() == [b"y" * 8] and fake.reader.discarded == 1


def test_records_across_the_end_of_the_ring_read_whole():
    fake = FakeRing(size=64)
    for i in range(40):                              # 16 to 40-byte records around 64 bytes
        payload = bytes([i]) * (8 + 8 * (i % 4) - (i % 3))
        fake.write(payload)
        assert fake.reader.read() == [payload]
    assert fake.prod[0] > 10 * fake.size
