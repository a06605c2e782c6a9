#!/usr/bin/env python3
"""Perf and BPF ring buffer readers: pyxsk against libbpf's C readers.

    sudo python3 tools/bench_buffers.py                  # live and drain, 3 rounds
    sudo python3 tools/bench_buffers.py --count 4000000 --size 64 --rounds 5

One workload for every contender: an XDP program run by BPF_PROG_TEST_RUN
with ``repeat`` = --count, in a child process pinned to CPU 1, writes one
sample per run (--size bytes from its stack) with bpf_perf_event_output()
into a perf event array, or with bpf_ringbuf_output() into a ring buffer
(counting in an ARRAY map the outputs that found the ring full).  The
reader runs pinned to CPU 0: pyxsk's PerfBuffer (poll(), and poll_batches()
which makes no object per sample) and RingBuffer in this process, and
tools/buffers_reader.c, which uses libbpf's perf_buffer__new and
ring_buffer__new on the same maps pinned on a private bpffs mount.  The C
reader is built here with ``gcc -O2 ... -lbpf`` into a temporary directory.

Buffers: "perf" as libbpf's perf_buffer__new makes it (wakeup_events 1,
so every sample wakes the waiting reader: the producer's wakeups bound the
rate), "perf/64" (wakeup_events 64; the C reader uses perf_buffer__new_raw)
and "ringbuf" (the kernel wakes a reader that had caught up).

Two measurements:

* live: the reader waits in poll while the producer runs; the rate is the
  samples received divided by the time from the producer's start to the
  last sample read.  A reader slower than the producer misses samples (the
  ring was full: the perf ring reports them as lost, the ring buffer's
  program counts them), so the share missed is printed beside the rate.  The
  producer runs faster when its outputs fail, so compare the two together.
* drain: the producer fills a large buffer first (nothing reads), then the
  reader takes everything that is there; the rate is samples over the time
  that took: the reader's own cost per sample, with no producer to wait on.

Each measurement is repeated (--rounds) and the medians compared as ratios;
the target is pyxsk >= 0.5x the C reader.  Perf samples of 8 bytes make
24-byte records, so the live rings (--perf-pages) wrap mid-record.
"""

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from pyxsk import _libc, bpf  # noqa: E402  (the checkout's pyxsk, not an installed one)
from pyxsk.bpf.asm import (ALU64, ATOMIC, JMP, LD, R0, R1, R2, R3, R4, R5, R6, R10, ST,  # noqa: E402
                           XDP_DROP, Program, label)
from pyxsk.bpf.perf import PerfBuffer, PerfEventArray  # noqa: E402
from pyxsk.bpf.ringbuf import RingBufMap, RingBuffer  # noqa: E402
from pyxsk.uapi import bpf as k  # noqa: E402

READER_CPU, PRODUCER_CPU = 0, 1
SOURCE = os.path.join(HERE, "buffers_reader.c")
CLONE_NEWNS = 0x00020000
MS_PRIVATE = 1 << 18
IDLE_LIMIT = 1.0             # seconds without a sample that end a live read (as in the C reader)
POLL_SECONDS = 0.1
FRAME = bytes(64)
TARGET = 0.5
DRAIN_PERF_PAGES = 4096      # 16 MiB per CPU: 699 050 records of 24 bytes
DRAIN_RING_SIZE = 32 << 20   # 2 Mi records of 16 bytes


def build_reader(tmp):
    exe = os.path.join(tmp, "buffers_reader")
    subprocess.run(["gcc", "-O2", "-Wall", "-o", exe, SOURCE, "-lbpf"], check=True)
    return exe


@contextlib.contextmanager
def private_bpffs():
    """A bpffs in a temporary directory, in a mount namespace of our own
    (the C reader, a child, shares it): gone when the run ends, however."""
    _libc.unshare(CLONE_NEWNS, call="unshare(CLONE_NEWNS)")
    _libc.mount(None, "/", None, MS_PRIVATE | _libc.MS_REC, call="mount(/, MS_PRIVATE)")
    path = tempfile.mkdtemp(prefix="pyxsk-bpffs-")
    _libc.mount("bpf", path, "bpf", 0, call="mount(bpffs %s)" % path)
    try:
        yield path
    finally:
        _libc.umount2(path, _libc.MNT_DETACH, call="umount(%s)" % path)
        os.rmdir(path)


def sample_stack(size):
    """Zero ``size`` bytes at the top of the stack: the sample."""
    return [ST.DW(R10, -size + off, 0) for off in range(0, size, 8)]


def perf_program(events, size):
    return Program([
        ALU64.MOV.reg(R6, R1),
        *sample_stack(size),
        ALU64.MOV.reg(R1, R6), LD.map_fd(R2, events), LD.imm64(R3, k.BPF_F_CURRENT_CPU),
        ALU64.MOV.reg(R4, R10), ALU64.ADD.imm(R4, -size), ALU64.MOV.imm(R5, size),
        JMP.CALL("perf_event_output"),
        ALU64.MOV.imm(R0, XDP_DROP), JMP.EXIT()])


def ringbuf_program(ring, fails, size):
    return Program([
        *sample_stack(size),
        LD.map_fd(R1, ring), ALU64.MOV.reg(R2, R10), ALU64.ADD.imm(R2, -size),
        ALU64.MOV.imm(R3, size), ALU64.MOV.imm(R4, 0),
        JMP.CALL("ringbuf_output"),
        JMP.JEQ.imm(R0, 0, "out"),
        ST.W(R10, -size - 4, 0),
        LD.map_fd(R1, fails), ALU64.MOV.reg(R2, R10), ALU64.ADD.imm(R2, -size - 4),
        JMP.CALL("map_lookup_elem"),
        JMP.JEQ.imm(R0, 0, "out"),
        ALU64.MOV.imm(R1, 1), ATOMIC.ADD.DW(R0, 0, R1),
        label("out"), ALU64.MOV.imm(R0, XDP_DROP), JMP.EXIT()])


def produce(prog, count):
    """Run the producer to its end; return the monotonic time it started."""
    return start_producer(prog, count)()


def start_producer(prog, count):
    """Fork a child pinned to PRODUCER_CPU that runs ``prog`` ``count``
    times; return a function that waits for it and gives its start time."""
    start_r, start_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(start_r)
            os.sched_setaffinity(0, {PRODUCER_CPU})
            os.write(start_w, repr(time.monotonic()).encode())
            os.close(start_w)
            prog.test_run(FRAME, repeat=count)
            code = 0
        finally:
            os._exit(code)
    os.close(start_w)

    def finish():
        with os.fdopen(start_r) as f:
            started = float(f.read())
        _pid, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError("the producer failed (wait status %d)" % status)
        return started
    return finish


class Workload:
    def __init__(self, args, pin_dir):
        self.args = args
        self.fails = bpf.ArrayMap(1, 8, name="fails")
        self.live = self._maps(args.perf_pages, args.ringbuf_size, pin_dir, "live")
        self.drain = self._maps(DRAIN_PERF_PAGES, DRAIN_RING_SIZE, pin_dir, "drain")

    def _maps(self, pages, ring_size, pin_dir, tag):
        events, ring = PerfEventArray(name="events"), RingBufMap(ring_size, name="ring")
        progs = {"perf": bpf.load(perf_program(events, self.args.size), name="perf_out"),
                 "ringbuf": bpf.load(ringbuf_program(ring, self.fails, self.args.size),
                                     name="ring_out")}
        pins = {"perf": os.path.join(pin_dir, tag + "_events"), "ringbuf": os.path.join(pin_dir, tag + "_ring")}
        events.pin(pins["perf"])
        ring.pin(pins["ringbuf"])
        return {"maps": {"perf": events, "ringbuf": ring}, "progs": progs, "pins": pins, "pages": pages}

    def take_fails(self):
        fails = self.fails[0]
        self.fails[0] = 0
        return fails


# -- the readers ----------------------------------------------------------------

def python_reader(kind, maps, pages, batches=False):
    if kind.map == "perf":
        buf = PerfBuffer(maps["perf"], pages=pages, wakeup_events=kind.wakeup)
        if batches:
            def read(timeout):
                return sum(len(datas) for _cpu, datas in buf.poll_batches(timeout))
        else:
            def read(timeout):
                return len(buf.poll(timeout))
        return buf, read, lambda: buf.lost
    buf = RingBuffer(maps["ringbuf"])
    return buf, lambda timeout: len(buf.poll(timeout)), lambda: 0


def live_python(w, kind, batches):
    os.sched_setaffinity(0, {READER_CPU})
    s = w.live
    count = kind.count(w.args)
    buf, read, lost = python_reader(kind, s["maps"], s["pages"], batches)
    with buf:
        started = start_producer(s["progs"][kind.map], count)
        received, last = 0, None
        while received + lost() < count:
            n = read(POLL_SECONDS)
            if n:
                received += n
                last = time.monotonic()
            elif last is not None and time.monotonic() - last > IDLE_LIMIT:
                break
        started = started()
        w.take_fails()
        return received, count, last - started


def c_reader(exe, kind, pin, count, mode, pages):
    proc = subprocess.Popen(["taskset", "-c", str(READER_CPU), exe, kind.map, pin, str(count), mode,
                             str(pages), str(kind.wakeup)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError("the C reader did not start: %s" % proc.communicate())
    return proc


def c_result(proc):
    out, _err = proc.communicate(timeout=300)
    received, lost, first, last, _checksum = out.split()
    return int(received), int(lost), float(first), float(last)


def live_c(w, exe, kind):
    s = w.live
    count = kind.count(w.args)
    proc = c_reader(exe, kind, s["pins"][kind.map], count, "live", s["pages"])
    finish = start_producer(s["progs"][kind.map], count)
    started = finish()
    received, _lost, _first, last = c_result(proc)
    w.take_fails()
    return received, count, last - started


def drain_python(w, kind, batches):
    os.sched_setaffinity(0, {READER_CPU})
    s = w.drain
    buf, read, _lost = python_reader(kind, s["maps"], s["pages"], batches)
    with buf:
        produce(s["progs"][kind.map], w.args.drain_count)
        t0 = time.monotonic()
        received = 0
        while True:
            n = read(0)
            if not n:
                break
            received += n
        return received, w.args.drain_count, time.monotonic() - t0


def drain_c(w, exe, kind):
    s = w.drain
    proc = c_reader(exe, kind, s["pins"][kind.map], w.args.drain_count, "drain", s["pages"])
    produce(s["progs"][kind.map], w.args.drain_count)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    received, _lost, first, last = c_result(proc)
    return received, w.args.drain_count, last - first


# -- the run --------------------------------------------------------------------

class Kind(NamedTuple):
    """A buffer as the benchmark uses it: the map it reads, the perf
    wakeup_events, and the samples of a live run."""
    name: str
    map: str
    wakeup: int
    count_option: str

    def count(self, args):
        return getattr(args, self.count_option)


KINDS = [Kind("perf", "perf", 1, "perf_count"), Kind("perf/64", "perf", 64, "count"),
         Kind("ringbuf", "ringbuf", 1, "count")]


def contenders(w, exe):
    """(measurement, kind, name, function) for every run of a round."""
    for measure, py, c in (("live", live_python, live_c), ("drain", drain_python, drain_c)):
        for kind in KINDS:
            if measure == "drain" and kind.wakeup != 1:
                continue            # nothing wakes a drain
            yield measure, kind.name, "C libbpf", lambda m=c, kd=kind: m(w, exe, kd)
            yield measure, kind.name, "pyxsk", lambda m=py, kd=kind: m(w, kd, False)
            if kind.map == "perf":
                yield measure, kind.name, "pyxsk batches", lambda m=py, kd=kind: m(w, kd, True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000000, help="samples per live run")
    parser.add_argument("--perf-count", type=int, default=500000,
                        help="samples per live run of perf with wakeup_events 1 (slow: a wakeup each)")
    parser.add_argument("--drain-count", type=int, default=500000,
                        help="samples per drain run (must fit the drain buffers)")
    parser.add_argument("--size", type=int, default=8, help="sample bytes, a multiple of 8")
    parser.add_argument("--perf-pages", type=int, default=256, help="live perf ring pages per CPU")
    parser.add_argument("--ringbuf-size", type=int, default=1 << 20, help="live ring buffer bytes")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.size % 8 or not 8 <= args.size <= 256:
        parser.error("--size must be a multiple of 8 from 8 to 256")
    if shutil.which("gcc") is None:
        sys.exit("needs gcc and libbpf-dev to build the C reader")
    print("python %s, %d samples of %d bytes (live), %d (drain); %d rounds"
          % (sys.version.split()[0], args.count, args.size, args.drain_count, args.rounds))
    rates, missed = {}, {}
    with tempfile.TemporaryDirectory() as tmp, private_bpffs() as pin_dir:
        exe = build_reader(tmp)
        w = Workload(args, pin_dir)
        for rnd in range(args.rounds):
            for measure, kind, name, run in contenders(w, exe):
                received, sent, seconds = run()
                if measure == "drain" and received != sent:
                    raise RuntimeError("%s read %d of the %d samples a drain holds" % (name, received, sent))
                rate = received / seconds
                rates.setdefault((measure, kind, name), []).append(rate)
                missed.setdefault((measure, kind, name), []).append(100.0 * (sent - received) / sent)
                print("round %d %-5s %-8s %-14s %9d received of %9d (%4.1f%% missed)  %6.2f M/s"
                      % (rnd + 1, measure, kind, name, received, sent,
                         100.0 * (sent - received) / sent, rate / 1e6))
    print()
    for (measure, kind, name), values in sorted(rates.items()):
        if name == "C libbpf":
            continue
        c_key = (measure, kind, "C libbpf")
        ours, theirs = statistics.median(values), statistics.median(rates[c_key])
        ratio = ours / theirs
        print("%-5s %-8s %-14s %6.2f M/s vs C libbpf %6.2f M/s = %.2fx  (target >= %.1f: %s)"
              "  missed %.0f%% vs %.0f%%"
              % (measure, kind, name, ours / 1e6, theirs / 1e6, ratio, TARGET,
                 "met" if ratio >= TARGET else "NOT met",
                 statistics.median(missed[(measure, kind, name)]), statistics.median(missed[c_key])))


if __name__ == "__main__":
    main()
