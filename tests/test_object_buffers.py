"""A C program's perf and ring buffers, read by pyxsk: the object loader
gives PERF_EVENT_ARRAY and RINGBUF maps as the readers' map classes, and
every sample the program emits arrives with the frame it describes."""

import struct
import time

from bpfobj import corpus  # noqa: F401  (fixture)
from pyxsk import bpf
from pyxsk.bpf.perf import PerfBuffer, PerfEventArray
from pyxsk.bpf.ringbuf import RingBufMap, RingBuffer

EVENT = struct.Struct("<I12s")          # struct event of tests/bpf_src/output.c
RUNS = 300
DEADLINE = 5.0


def frames(count):
    """Frames of different lengths whose first 12 bytes say which they are;
    0xff after them, where the programs write their helpers' return codes."""
    return [struct.pack(">I", i) * 3 + b"\xff" * (50 + i % 40) for i in range(count)]


def read_until(reader, count):
    got = []
    deadline = time.monotonic() + DEADLINE
    while len(got) < count and time.monotonic() < deadline:
        got.extend(reader.poll(0.2))
    return got


def test_perf_samples_of_a_c_program(corpus):  # noqa: F811
    sent = frames(RUNS)
    with bpf.load_object(corpus("output")) as obj:
        events = obj.maps["perf_events"]
        assert isinstance(events, PerfEventArray) and events.max_entries == bpf.possible_cpus()
        with PerfBuffer(events, pages=4) as buffer:
            for frame in sent:
                run = obj.programs["xdp_perf_out"].test_run(frame)
                assert run.action == bpf.XdpAction.TX and run.frame[14] == 0      # -(the helper's error)
            got = read_until(buffer, RUNS)
            assert buffer.lost == 0
    assert [EVENT.unpack(s.data[:EVENT.size]) for s in got] == [(len(f), f[:12]) for f in sent]


def test_ring_buffer_records_of_a_c_program(corpus):  # noqa: F811
    """Each run outputs one record by copy and reserves one more, which it
    submits for an even frame length and discards for an odd one."""
    sent = frames(RUNS)
    with bpf.load_object(corpus("output")) as obj:
        ring = obj.maps["ring_events"]
        assert isinstance(ring, RingBufMap) and ring.max_entries == 64 * 1024
        with RingBuffer(ring) as buffer:
            got = []
            for i, frame in enumerate(sent):
                run = obj.programs["xdp_ring_out"].test_run(frame)
                assert run.action == bpf.XdpAction.TX and run.frame[14] == 0      # -(the helper's error)
                if i % 50 == 49:                          # keep the 64 KiB ring from filling
                    got.extend(buffer.read_ready())
            got.extend(read_until(buffer, 0))
            want = []
            for frame in sent:
                want.append((len(frame), frame[:12]))
                if len(frame) % 2 == 0:
                    want.append((len(frame), frame[:12]))
            assert [EVENT.unpack(r[:EVENT.size]) for r in got] == want
            assert buffer.discarded == sum(len(f) % 2 for f in sent)
