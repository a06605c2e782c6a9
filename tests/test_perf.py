"""pyxsk.bpf.perf on the real kernel: XDP programs write samples with
bpf_perf_event_output() (run by BPF_PROG_TEST_RUN, and by frames crossing a
veth pair on both CPUs), and PerfBuffer delivers each one, in order, with
its content, through rings that wrap, counting what the kernel dropped."""

import asyncio
import errno
import os
import selectors
import socket
import struct
import threading
import time

import pytest

import buffer_programs as bp
from conftest import is_mapped, open_fds
from pyxsk import ConfigError, bpf
from pyxsk.bpf import perf
from pyxsk.bpf.perf import PerfBuffer, PerfEventArray, PerfSample
from pyxsk.net import link, netns
from pyxsk.uapi import bpf as k
from pyxsk.uapi import perf_event as pe

pytestmark = pytest.mark.root

FRAME = bytes(64)
# BPF_PROG_TEST_RUN with repeat > 1 costs some 30 ms here whatever the count
# (the kernel's teardown of the run), so short bursts run repeat=1 in a loop
RECORD = 8 + 4 + bp.HEAD + 4       # header, size word, 16 bytes, padding to 8: 32 bytes
PAGE = os.sysconf("SC_PAGE_SIZE")
TIMEOUT = 10.0


@pytest.fixture(autouse=True)
def on_one_cpu():
    """The test's thread (and the threads it starts) on one CPU: a perf
    ring is per CPU, and a loss shows up in the next sample of that ring."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    yield
    os.sched_setaffinity(0, before)


@pytest.fixture
def events():
    with PerfEventArray(name="events") as m:
        yield m


@pytest.fixture
def counters():
    with bpf.ArrayMap(bp.COUNTERS, 8, name="counters") as m:
        yield m


def load(program):
    return bpf.load(program, name="perf_test")


def take(buf, count, timeout=TIMEOUT):
    """``count`` samples (fewer only if the wait for one runs out)."""
    got = []
    while len(got) < count:
        batch = buf.poll(timeout)
        if not batch:
            break
        got += batch
    return got


def flush_lost(buf, prog, cpu=None):
    """The kernel reports a loss with the next sample that fits in that
    CPU's ring: write one there (on ``cpu``, else anywhere) and read it, so
    ``buf.lost`` is complete.  Returns that sample."""
    def run():
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})             # this thread only
        prog.test_run(FRAME)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return take(buf, 1)


def test_the_array_has_a_slot_for_every_possible_cpu(events):
    info = events.info()
    assert info.type == k.BPF_MAP_TYPE_PERF_EVENT_ARRAY and info.max_entries == bpf.possible_cpus()
    assert info.key_size == info.value_size == 4
    assert perf.online_cpus() == list(range(len(perf.online_cpus())))


def test_bad_arguments_are_refused_before_the_kernel(events):
    fds = open_fds()
    for kwargs in ({"pages": 3}, {"pages": 0}, {"pages": True}, {"wakeup_events": 0},
                   {"wakeup_bytes": 1 << 32}, {"cpus": []}, {"cpus": [0, 0]},
                   {"cpus": [events.max_entries]}, {"cpus": [-1]}):
        with pytest.raises(ConfigError):
            PerfBuffer(events, **kwargs)
    with bpf.ArrayMap(1, 4) as other, pytest.raises(ConfigError, match="PERF_EVENT_ARRAY"):
        PerfBuffer(other)
    assert open_fds() == fds


def test_every_sample_arrives_in_order_with_its_content(events, counters):
    with load(bp.perf_output(events, counters)) as prog, PerfBuffer(events, pages=16) as buf:
        prog.test_run(FRAME, repeat=1000)
        samples = take(buf, 1000)
        assert len(samples) == 1000 and buf.poll(0) == []
        cpu = samples[0].cpu
        assert all(isinstance(s, PerfSample) and s.cpu == cpu for s in samples)
        assert [bp.check(s.data, cpu) for s in samples] == list(range(1000))
        # the recorded size: 16 bytes and 4 of padding that align the record to 8
        assert {s.size for s in samples} == {bp.HEAD + 4}
        assert buf.lost == 0 and counters[bp.FAILS] == 0


def test_samples_wrap_around_a_one_page_ring_also_mid_record(events, counters):
    """16-byte samples make 32-byte records, 128 to a page: with the frame
    appended instead, sizes vary and records straddle the end of the ring."""
    frames = [bp.test_frame(seq, size=14 + (seq * 7) % 150) for seq in range(3000)]
    with load(bp.perf_output(events, counters, from_frame=True, with_frame=True)) as prog, \
            PerfBuffer(events, pages=1) as buf:
        got = []
        for i in range(0, len(frames), 20):          # 20 samples of at most 200 bytes: < a page
            for frame in frames[i:i + 20]:
                prog.test_run(frame)
            got += take(buf, len(frames[i:i + 20]))
        assert buf.lost == 0 and counters[bp.FAILS] == 0
        assert [bp.check(s.data, s.cpu) for s in got] == list(range(len(frames)))
        for s, frame in zip(got, frames):
            assert s.data[bp.HEAD:bp.HEAD + len(frame)] == frame
            assert s.size == (bp.HEAD + len(frame) + 4 + 7) // 8 * 8 - 4
        assert sum((s.size + 12) for s in got) > 50 * PAGE


def test_one_size_samples_wrap_around_too(events, counters):
    with load(bp.perf_output(events, counters)) as prog, PerfBuffer(events, pages=1) as buf:
        got = []
        for _ in range(30):
            for _ in range(120):                          # 3840 bytes, then read
                prog.test_run(FRAME)
            got += take(buf, 120)
        assert [bp.check(s.data, s.cpu) for s in got] == list(range(3600)) and buf.lost == 0
        assert 3600 * RECORD > 28 * PAGE


def test_a_full_ring_drops_and_counts_what_it_dropped(events, counters):
    with load(bp.perf_output(events, counters)) as prog, PerfBuffer(events, pages=1) as buf:
        prog.test_run(FRAME, repeat=1000)                  # nothing reads meanwhile
        kept = buf.poll(0)
        # the kernel leaves a byte free (the ring is never quite full): 127 records
        assert len(kept) == (PAGE - 1) // RECORD and buf.poll(0) == []
        assert buf.lost == 0                              # reported with the next sample only
        last = flush_lost(buf, prog)
        assert [bp.check(s.data) for s in kept + last] == list(range(len(kept))) + [1000]
        assert len(kept) + buf.lost == 1000
        assert counters[bp.FAILS] == buf.lost            # the helper saw each drop as -ENOSPC


def test_under_load_every_sample_is_delivered_or_counted_lost(events, counters):
    """A producer on another CPU runs the program flat out while the reader
    reads: each sample arrives intact and in order, or is counted."""
    runs, repeat = 40, 5000
    with load(bp.perf_output(events, counters)) as prog, PerfBuffer(events, pages=4) as buf:
        cpu = max(perf.online_cpus())

        def produce():
            os.sched_setaffinity(0, {cpu})               # this thread only
            for _ in range(runs):
                prog.test_run(FRAME, repeat=repeat)

        producer = threading.Thread(target=produce)
        producer.start()
        got = []
        while producer.is_alive():
            got += buf.poll(0.1)
        producer.join()
        got += buf.poll(0)
        got += flush_lost(buf, prog, cpu)
        seqs = [bp.check(s.data, s.cpu) for s in got]
        assert {s.cpu for s in got} == {cpu}
        assert seqs == sorted(set(seqs)) and seqs[-1] == runs * repeat
        assert len(got) + buf.lost == runs * repeat + 1
        assert counters[bp.FAILS] == buf.lost


@pytest.mark.parametrize("mode", ["skb", "drv"])
def test_frames_on_a_veth_pair_sample_on_both_cpus(make_veth_pair, events, counters, mode):
    """Senders pinned to each CPU.  In skb mode a frame meets the program
    on its sender's CPU (the per-CPU backlog), so each CPU's ring holds
    exactly its sender's frames, in order; in drv mode the one veth NAPI
    runs where it was scheduled, so frames of either sender may land on
    either CPU, but every one arrives once, sampled where it ran."""
    cpus = perf.online_cpus()[:2]
    if len(cpus) < 2:
        pytest.skip("needs two CPUs to see samples from both")
    pair = make_veth_pair()
    per_cpu = 2000
    with load(bp.perf_output(events, counters, from_frame=True)) as prog, \
            PerfBuffer(events, pages=64) as buf:       # room for every sample of a CPU
        with netns.entered(pair.b.netns):
            attachment = link.attach_xdp(pair.b.name, prog.fileno(), mode=mode, bpf_link=True)
        try:
            _send_from_each_cpu(pair, cpus, per_cpu)
            got = take(buf, 2 * per_cpu)
        finally:
            attachment.close()
    assert buf.lost == 0 and counters[bp.FAILS] == 0
    by_cpu = {}
    for s in got:
        by_cpu.setdefault(s.cpu, []).append(bp.check(s.data, s.cpu))
    if mode == "skb":
        assert sorted(by_cpu) == cpus
        for i, cpu in enumerate(cpus):
            assert by_cpu[cpu] == list(range(i * per_cpu, (i + 1) * per_cpu))
    else:
        assert sorted(seq for seqs in by_cpu.values() for seq in seqs) == list(range(2 * per_cpu))
        for seqs in by_cpu.values():                    # each sender's frames in its order
            for i in range(len(cpus)):
                mine = [seq for seq in seqs if i * per_cpu <= seq < (i + 1) * per_cpu]
                assert mine == sorted(mine)


def _send_from_each_cpu(pair, cpus, per_cpu):
    """Send numbered test frames from end a, ``per_cpu`` from a thread
    pinned to each CPU (a veth receives on the sender's CPU)."""
    with netns.entered(pair.a.netns):
        socks = [socket.socket(socket.AF_PACKET, socket.SOCK_RAW) for _ in cpus]
    dst = bytes(int(x, 16) for x in pair.b.mac.split(":"))

    def send(sock, cpu, first):
        os.sched_setaffinity(0, {cpu})
        deadline = time.monotonic() + TIMEOUT
        for seq in range(first, first + per_cpu):
            frame = bp.test_frame(seq, dst=dst)
            while True:
                try:
                    sock.send(frame)
                    break
                except OSError as e:     # the peer's ring was full: dropped before XDP ran
                    if e.errno != errno.ENOBUFS or time.monotonic() > deadline:
                        raise
                    time.sleep(0.001)

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


def test_selectors_see_the_buffer_readable(events, counters):
    with load(bp.perf_output(events, counters)) as prog, PerfBuffer(events) as buf, \
            selectors.DefaultSelector() as sel:
        sel.register(buf, selectors.EVENT_READ)
        assert sel.select(0) == []
        prog.test_run(FRAME, repeat=3)
        ready = sel.select(TIMEOUT)
        assert [key.fileobj for key, _mask in ready] == [buf]
        assert [bp.check(s.data) for s in buf.read_ready()] == [0, 1, 2]
        assert sel.select(0) == [] and buf.read_ready() == []


def test_asyncio_add_reader_wakes_for_samples(events, counters):
    with load(bp.perf_output(events, counters)) as prog, PerfBuffer(events) as buf:
        async def main():
            loop = asyncio.get_running_loop()
            got, done = [], loop.create_future()

            def on_readable():
                got.extend(buf.read_ready())
                if len(got) >= 5 and not done.done():
                    done.set_result(None)

            loop.add_reader(buf.fileno(), on_readable)
            try:
                for _ in range(5):
                    await asyncio.sleep(0)
                    prog.test_run(FRAME)
                await asyncio.wait_for(done, TIMEOUT)
            finally:
                loop.remove_reader(buf.fileno())
            return got

        assert [bp.check(s.data) for s in asyncio.run(main())] == [0, 1, 2, 3, 4]


def test_iteration_and_timeouts(events, counters):
    with load(bp.perf_output(events, counters)) as prog, PerfBuffer(events) as buf:
        assert buf.poll(0) == [] and buf.poll(0.01) == [] and buf.poll_batches(0) == []
        for bad in (-1, float("nan"), "1"):
            with pytest.raises((TypeError, ValueError)):
                buf.poll(bad)
        prog.test_run(FRAME, repeat=7)
        assert [bp.check(s.data) for s in buf.samples(timeout=0.05)] == list(range(7))
        prog.test_run(FRAME, repeat=2)
        it = iter(buf)
        assert [bp.check(next(it).data), bp.check(next(it).data)] == [7, 8]
        prog.test_run(FRAME, repeat=2)
        [(cpu, datas)] = buf.poll_batches(TIMEOUT)
        assert [bp.check(d, cpu) for d in datas] == [9, 10]


def test_wakeup_bytes_holds_the_wakeup_until_that_much_waits(events, counters):
    with load(bp.perf_output(events, counters)) as prog, \
            PerfBuffer(events, wakeup_bytes=10 * RECORD) as buf, selectors.DefaultSelector() as sel:
        sel.register(buf, selectors.EVENT_READ)
        prog.test_run(FRAME, repeat=3)
        assert sel.select(0.05) == []                   # not woken, yet the samples are there
        assert len(buf.read_ready()) == 3
        prog.test_run(FRAME, repeat=12)
        assert sel.select(TIMEOUT) and len(buf.read_ready()) == 12


def test_close_empties_the_slots_and_leaks_nothing(events, counters):
    with load(bp.perf_output(events, counters)) as prog:
        fds = open_fds()
        buf = PerfBuffer(events, pages=2)
        addrs = [ring.mapping.addr for ring in buf._rings]
        assert all(is_mapped(a) for a in addrs) and len(open_fds()) == len(fds) + len(buf.cpus) + 1
        prog.test_run(FRAME)
        assert len(buf.poll(TIMEOUT)) == 1
        buf.close()
        buf.close()
        assert open_fds() == fds and not any(is_mapped(a) for a in addrs)
        assert repr(buf) == "<PerfBuffer [closed]>" and buf.closed
        for call in (buf.poll, buf.read_ready, buf.fileno):
            with pytest.raises(ValueError, match="closed"):
                call()
        prog.test_run(FRAME)                             # the slot is empty: the helper fails
        assert counters[bp.LAST_RET] == (-errno.ENOENT) & (1 << 64) - 1


def test_close_after_the_map_is_closed_unmaps_and_closes_all(counters):
    fds = open_fds()
    events = PerfEventArray()
    buf = PerfBuffer(events)
    addrs = [ring.mapping.addr for ring in buf._rings]
    events.close()
    buf.close()
    assert open_fds() == fds and not any(is_mapped(a) for a in addrs)


def test_parse_counts_lost_records_and_cuts_mixed_samples():
    """The record cutter on records built by hand: mixed sizes, a LOST
    record, and a record of another type, which is skipped."""
    def sample(data):           # sizes that need no padding
        assert (8 + 4 + len(data)) % 8 == 0
        return struct.pack("<IHHI", pe.PERF_RECORD_SAMPLE, 0, 8 + 4 + len(data), len(data)) + data

    lost = struct.pack("<IHHQQ", pe.PERF_RECORD_LOST, 0, 24, 1, 42)
    other = struct.pack("<IHHQ", pe.PERF_RECORD_THROTTLE, 0, 16, 0)
    chunk = sample(b"a" * 4) + lost + sample(b"b" * 12) + other + sample(b"c" * 20)
    datas, n_lost = perf._parse(chunk)
    assert datas == [b"a" * 4, b"b" * 12, b"c" * 20] and n_lost == 42
    same = sample(b"x" * 12) * 5                          # one size: cut without a loop
    assert perf._parse(same) == ([b"x" * 12] * 5, 0)
    with pytest.raises(RuntimeError, match="corrupt"):
        perf._parse(sample(b"a" * 4) + bytes(8))
