"""Replaying frames through an AF_XDP socket's TX ring, as fast as it takes
them or at a set average rate (``pyxsk send``)."""

from __future__ import annotations

import itertools
import math
import time
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional, Sequence, Union

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..xsk import Socket

Buffer = Union[bytes, bytearray, memoryview]

DEFAULT_BATCH = 64
SEND_TIMEOUT = 5.0       # seconds without room on the TX ring before giving up
FLUSH_TIMEOUT = 2.0      # seconds to wait for the last completions
WAIT_SLICE = 0.2         # the longest sleep between two looks at the socket while pacing
_MANY = float(2 ** 53)   # more frames due than any run sends (and still an exact float)


class Replayed(NamedTuple):
    """What :func:`replay` sent: ``frames`` and ``bytes`` queued
    in ``seconds``; ``in_flight`` frames had not completed when it gave up waiting
    (None: not known, the socket failed before the end)."""
    frames: int
    bytes: int
    seconds: float
    in_flight: Optional[int]


class Pacer:
    """An average rate held without spinning: frame ``i`` (from 0) is due
    ``i / rate`` seconds after the start.  :meth:`due` says how many may go
    now; when none may, :meth:`wait` sleeps until the next one is due.

    The schedule counts from the start, not from the previous frame, so a
    late wake-up or a stall on a full ring is made up by sending the frames
    that became due meanwhile together (in batches), and the average over
    the run stays ``rate``.

    ``rate`` is a finite positive number: "as fast as possible" is no pacer
    at all, and an infinite rate would make every frame due at once while
    the arithmetic of :meth:`due` turns into NaN."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0 \
                or not math.isfinite(rate):
            raise ConfigError("rate must be a finite positive number of frames per second, "
                              "not %r" % (rate,))
        self.rate = rate
        self._clock, self._sleep = clock, sleep
        self.start = clock()

    def due_at(self, frame: int) -> float:
        """When frame number ``frame`` is due (the clock's time)."""
        return self.start + frame / self.rate

    def due(self, sent: int) -> int:
        """How many frames are due now that ``sent`` have gone: 0 until
        :meth:`due_at` ``(sent)`` -- the same sum :meth:`wait` sleeps to, so
        rounding can never leave a frame neither due nor worth a sleep."""
        now = self._clock()
        if now < self.due_at(sent):
            return 0
        # min(): a huge rate times the elapsed time overflows to inf, and int(inf) raises
        return max(1, int(min((now - self.start) * self.rate, _MANY)) + 1 - sent)

    def wait(self, sent: int, between: Optional[Callable[[], object]] = None) -> None:
        """Sleep until frame number ``sent`` is due, in slices of at most
        :data:`WAIT_SLICE` seconds with ``between()`` called after each one
        that leaves time to wait (at a slow rate the socket is looked at
        meanwhile: :meth:`Replayer` reaps completions there, which is also
        where a deleted interface shows).  Returns at once if it is due."""
        while True:
            delay = self.due_at(sent) - self._clock()
            if delay <= 0:
                return
            self._sleep(min(delay, WAIT_SLICE))
            if between is not None and self.due_at(sent) > self._clock():
                between()


class Replayer:
    """Sends frames in order on a TX-capable socket, as fast as the ring
    takes them (``rate`` None or ``math.inf``) or at most ``rate`` frames per
    second on average, and counts what it sent -- also when stopped half-way
    (Ctrl-C on an endless loop)."""

    def __init__(self, sock: Socket, frames: Sequence[Buffer], rate: Optional[float] = None,
                 batch: int = DEFAULT_BATCH) -> None:
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigError("batch must be a positive int, not %r" % (batch,))
        self.sock, self.frames, self.batch = sock, frames, batch
        self.pacer = Pacer(rate) if rate is not None and rate != math.inf else None
        self.sent = self.bytes = 0
        self.t0 = time.monotonic()

    def run(self, loops: int = 1) -> None:
        """Send every frame ``loops`` times (0: until interrupted)."""
        if isinstance(loops, bool) or not isinstance(loops, int) or loops < 0:
            raise ConfigError("loops must be an int >= 0 (0: forever), not %r" % (loops,))
        if not self.frames:
            return
        for _ in (itertools.count() if loops == 0 else range(loops)):
            self._once()

    def _once(self) -> None:
        frames, pacer = self.frames, self.pacer
        if pacer is None:
            tx = self.sock.tx
            if tx is None:
                raise ValueError("this socket has no TX ring (or it is closed)")
            step = tx.size
        else:
            step = self.batch
        i = 0
        while i < len(frames):
            n = min(step, len(frames) - i)
            if pacer is not None:
                due = pacer.due(self.sent)
                if not due:
                    pacer.wait(self.sent, self._look)
                    continue
                n = min(n, due)
            chunk = frames[i:i + n]
            self.sock.sendall(chunk, timeout=SEND_TIMEOUT)
            i += n
            self.sent += n
            self.bytes += sum(len(f) for f in chunk)

    def _look(self) -> None:
        """Between two slices of a paced wait: reap completions without
        waiting (the socket's flush also notices a deleted interface)."""
        self.sock.flush(0)

    def finish(self, flush: bool = True) -> Replayed:
        """Wait (a little) for the last completions; :class:`Replayed`.
        ``flush=False`` after the socket failed: nothing more will complete,
        and ``in_flight`` is None (not known)."""
        in_flight = self.sock.flush(FLUSH_TIMEOUT) if flush else None
        return Replayed(self.sent, self.bytes, time.monotonic() - self.t0, in_flight)


def replay(sock: Socket, frames: Sequence[Buffer], loops: int = 1, rate: Optional[float] = None,
           batch: int = DEFAULT_BATCH) -> Replayed:
    """Send the bytes-like ``frames`` ``loops`` times (0: until interrupted)
    on ``sock``, at most ``rate`` per second if given; :class:`Replayed`."""
    replayer = Replayer(sock, frames, rate, batch)
    replayer.run(loops)
    return replayer.finish()
