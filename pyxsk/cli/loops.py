"""Packet loops: the jobs xdpsock does, for ``pyxsk bench`` and tools/bench.py.

Each loop runs for ``seconds`` (or until ``count`` packets) in batches of
up to ``batch``; the other options are keywords.  It calls
``progress(elapsed, packets, pps)`` about once a second if given, and
returns a :class:`Result` whose rate leaves out the first ``warmup`` seconds.
Receivers block in poll() when their ring is empty: spinning would starve a
kernel receive thread sharing the CPU.  Every loop goes through the socket's
own calls (poll, recv, discard, retransmit, forward), which end with
:class:`pyxsk.errors.InterfaceGoneError` when the interface is deleted, and
sleeps between rounds that keep bringing nothing (:class:`Idle`).
"""

from __future__ import annotations

import struct
import time
from typing import TYPE_CHECKING, Callable, Dict, NamedTuple, Optional, Tuple

if TYPE_CHECKING:
    from ..frames import Batch
    from ..xsk import Socket


class Result(NamedTuple):
    """``packets`` in ``seconds`` (after warm-up): ``pps`` packets per second."""
    mode: str
    packets: int
    seconds: float
    pps: float


ProgressFn = Callable[[float, int, float], object]
"""``progress(elapsed, packets, pps)``: seconds since the start, packets so far,
the rate over the last second."""

POLL_SECONDS = 0.1      # how long a receiver blocks on an empty ring before checking the clock
IDLE_GRACE = 0.002      # seconds of rounds that bring nothing before a loop naps between them
IDLE_NAP = 0.001        # seconds each further empty round then sleeps


class Idle:
    """Keeps a loop from spinning when the socket keeps answering "nothing" at once.

    Normally an empty round lasts as long as the wait it made: a receiver's
    poll(2) blocks until frames come, txonly's completions come as fast as
    the device sends.  But a socket can answer at once with nothing again and
    again -- poll(2) returns at once on an fd with an error pending, and the
    completions stop when the device stalls -- and a loop asking again at
    once would burn the CPU that the kernel's receive or transmit work needs
    (on a veth, often the same CPU).  So after :data:`IDLE_GRACE` seconds of
    empty rounds, every further empty round sleeps :data:`IDLE_NAP`; a round
    that did something ends the nap.  :meth:`after` costs one comparison
    while the loop is busy."""

    __slots__ = ("since", "_clock", "_sleep")

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self.since: Optional[float] = None    # when the current run of empty rounds began
        self._clock, self._sleep = clock, sleep

    def after(self, n: int) -> None:
        """Call after each round with what it did (frames, packets; 0: nothing)."""
        if n:
            self.since = None
            return
        now = self._clock()
        if self.since is None:
            self.since = now
        elif now - self.since >= IDLE_GRACE:
            self._sleep(IDLE_NAP)


class Clock:
    """Counts packets against time: progress once a second, rate after warm-up."""

    def __init__(self, mode: str, seconds: Optional[float], warmup: float = 0.0,
                 count: Optional[int] = None, progress: Optional[ProgressFn] = None) -> None:
        self.mode = mode
        self.t0 = time.monotonic()
        self.end = self.t0 + seconds if seconds else float("inf")
        self.warm = self.t0 + warmup
        self.limit = count
        self.progress = progress
        self.packets = 0
        self._base: Optional[Tuple[float, int]] = None if warmup > 0 else (self.t0, 0)
        self._tick: Tuple[float, int] = (self.t0, 0)

    def add(self, n: int) -> bool:
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

    def result(self) -> Result:
        now = time.monotonic()
        t, p = self._base or (self.t0, 0)
        return Result(self.mode, self.packets - p, now - t, (self.packets - p) / max(now - t, 1e-9))


def rxdrop(xsk: Socket, seconds: Optional[float], batch: int = 256, *, warmup: float = 0.0,
           count: Optional[int] = None, progress: Optional[ProgressFn] = None) -> Result:
    """Receive and drop: RX descriptors straight back to the fill ring."""
    clock = Clock("rxdrop", seconds, warmup, count, progress)
    discard, poll = xsk.discard, xsk.poll
    idle = Idle()
    n = 0
    while clock.add(n):
        n = discard(batch)
        if n < batch:        # the ring ran dry: wait (poll checks it again first)
            poll(POLL_SECONDS)
        idle.after(n)
    return clock.result()


def rx_touch(xsk: Socket, seconds: Optional[float], batch: int = 256, *, warmup: float = 0.0,
             count: Optional[int] = None, progress: Optional[ProgressFn] = None) -> Result:
    """Receive and read every frame's ethertype (bytes 12-13), as xdpsock -T
    does: :meth:`Batch.field` reads them for the whole batch at once."""
    clock = Clock("rx-touch", seconds, warmup, count, progress)
    recv = xsk.recv
    idle = Idle()
    n = total = 0
    while clock.add(n):
        frames = recv(batch, POLL_SECONDS)
        n = len(frames)
        if n:
            total += sum(frames.field(12))
        idle.after(n)
    return clock.result()


def txonly(sock: Socket, frame: bytes, seconds: Optional[float], batch: int = 256, *,
           warmup: float = 0.0, count: Optional[int] = None,
           progress: Optional[ProgressFn] = None) -> Result:
    """Send ``frame`` over and over: written into chunks once, then each
    completed chunk goes straight back on the TX ring (:meth:`retransmit`)."""
    clock = Clock("txonly", seconds, warmup, count, progress)
    tx = sock.tx
    if tx is None:
        raise ValueError("txonly needs an open socket with a TX ring")
    sock.send([frame] * tx.size)
    length, retransmit = len(frame), sock.retransmit
    idle = Idle()
    n = 0
    while clock.add(n):
        n = retransmit(length, batch)
        idle.after(n)
    sock.flush(1.0)
    return clock.result()


def l2fwd(xsk: Socket, seconds: Optional[float], batch: int = 256, *, warmup: float = 0.0,
          count: Optional[int] = None, progress: Optional[ProgressFn] = None,
          swap_macs: bool = True, to: Optional[Socket] = None) -> Result:
    """Receive, swap source and destination MAC, send back out (or on ``to``)
    without copying the frame."""
    clock = Clock("l2fwd", seconds, warmup, count, progress)
    recv, forward = xsk.recv, xsk.forward
    idle = Idle()
    n = 0
    while clock.add(n):
        frames = recv(batch, POLL_SECONDS)
        idle.after(len(frames))
        if not frames:
            n = 0
            continue
        if swap_macs:
            swap_mac_addresses(frames)
        n = forward(frames, to)
    return clock.result()


_MACS = struct.Struct("6s6s")    # destination, source


def swap_mac_addresses(frames: Batch) -> None:
    """Swap destination and source MAC of every frame of a batch, in place
    (xdpsock's l2fwd does it).  One unpack and one pack per frame: in pure
    Python that beats slicing memoryviews, and beats gathering the headers to
    swap them in bulk."""
    data = frames._umem.view
    unpack, pack = _MACS.unpack_from, _MACS.pack_into
    for start in frames.data_offsets():
        dst, src = unpack(data, start)
        pack(data, start, src, dst)


# Callable[..., Result]: txonly takes the frame to send, the receiving loops do not
MODES: Dict[str, Callable[..., Result]] = {"rxdrop": rxdrop, "rx-touch": rx_touch,
                                           "txonly": txonly, "l2fwd": l2fwd}
