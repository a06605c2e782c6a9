"""Packet loops: the jobs xdpsock does, for ``pyxsk bench`` and tools/bench.py.

Each loop runs for ``seconds`` (or until ``count`` packets), calls
``progress(elapsed, packets, pps)`` about once a second if given, and
returns a :class:`Result` whose rate leaves out the first ``warmup`` seconds.
Receivers block in poll() when their ring is empty: spinning would starve a
kernel receive thread sharing the CPU.
"""

import collections
import time

Result = collections.namedtuple("Result", "mode packets seconds pps")
Result.__doc__ = "``packets`` in ``seconds`` (after warm-up): ``pps`` packets per second."

POLL_SECONDS = 0.1      # how long a receiver blocks on an empty ring before checking the clock


class Clock:
    """Counts packets against time: progress once a second, rate after warm-up."""

    def __init__(self, mode, seconds, warmup=0.0, count=None, progress=None):
        self.mode = mode
        self.t0 = time.monotonic()
        self.end = self.t0 + seconds if seconds else float("inf")
        self.warm = self.t0 + warmup
        self.limit = count
        self.progress = progress
        self.packets = 0
        self._base = None if warmup > 0 else (self.t0, 0)
        self._tick = (self.t0, 0)

    def add(self, n):
        """Count ``n`` packets; False once time (or the count) is up."""
        self.packets += n
        now = time.monotonic()
        if self._base is None and now >= self.warm:
            self._base = (now, self.packets)
        if self.progress is not None and now - self._tick[0] >= 1.0:
            t, p = self._tick
            self.progress(now - self.t0, self.packets, (self.packets - p) / (now - t))
            self._tick = (now, self.packets)
        if self.limit is not None and self.packets >= self.limit:
            return False
        return now < self.end

    def result(self):
        now = time.monotonic()
        t, p = self._base or (self.t0, 0)
        return Result(self.mode, self.packets - p, now - t, (self.packets - p) / max(now - t, 1e-9))


def rxdrop(xsk, seconds, batch=256, warmup=0.0, count=None, progress=None):
    """Receive and drop: RX descriptors straight back to the fill ring."""
    clock = Clock("rxdrop", seconds, warmup, count, progress)
    discard, poll = xsk.discard, xsk.poll
    n = 0
    while clock.add(n):
        n = discard(batch)
        if not n:
            poll(POLL_SECONDS)
    return clock.result()


def rx_touch(xsk, seconds, batch=256, warmup=0.0, count=None, progress=None):
    """Receive and read every frame's ethertype (bytes 12-13), as xdpsock -T.

    Reads through the batch's descriptor addresses and the UMEM view: the
    per-frame work is two byte loads, with no memoryview made per frame."""
    clock = Clock("rx-touch", seconds, warmup, count, progress)
    recv, data, umem = xsk.recv, xsk.umem.view, xsk.umem
    n = total = 0
    while clock.add(n):
        frames = recv(batch, POLL_SECONDS)
        n = len(frames)
        if not n:
            continue
        addrs = frames.addrs if not umem.unaligned else [umem.data_offset(a) for a in frames.addrs]
        for addr in addrs:
            total += data[addr + 12] << 8 | data[addr + 13]
    return clock.result()


def txonly(sock, frame, seconds, batch=256, warmup=0.0, count=None, progress=None):
    """Send ``frame`` over and over: written into chunks once, then each
    completed chunk goes straight back on the TX ring (:meth:`retransmit`)."""
    clock = Clock("txonly", seconds, warmup, count, progress)
    sock.send([frame] * sock.tx.size)
    length, retransmit = len(frame), sock.retransmit
    n = 0
    while clock.add(n):
        n = retransmit(length, batch)
    sock.flush(1.0)
    return clock.result()


def l2fwd(xsk, seconds, batch=256, swap_macs=True, warmup=0.0, count=None, progress=None,
          to=None):
    """Receive, swap source and destination MAC, send back out (or on ``to``)
    without copying the frame."""
    clock = Clock("l2fwd", seconds, warmup, count, progress)
    recv, forward, data = xsk.recv, xsk.forward, xsk.umem.view
    n = 0
    while clock.add(n):
        frames = recv(batch, POLL_SECONDS)
        if not frames:
            n = 0
            continue
        if swap_macs:
            for addr in frames.addrs:
                dst = data[addr:addr + 6].tobytes()
                data[addr:addr + 6] = data[addr + 6:addr + 12]
                data[addr + 6:addr + 12] = dst
        n = forward(frames, to)
    return clock.result()


MODES = {"rxdrop": rxdrop, "rx-touch": rx_touch, "txonly": txonly, "l2fwd": l2fwd}
