"""How a receiving thread is scheduled: coalescing the kernel's wake-ups.

A receiver blocked in poll() is woken by the kernel every time a NAPI poll
has redirected frames to its socket: every 64 frames on veth and most
drivers.  Under the default policy (SCHED_OTHER) the woken thread preempts
whatever runs on its CPU, and when that is the NAPI thread doing the
receive work, every 64 frames cost two context switches plus the receiver's
own per-wake-up work.  For C that work is well under a microsecond; for
Python it is several, and the interpreter's working set is cold in the
cache each time: at 1.7 M frames/s, 15-25 % of the CPU goes to wake-ups.

SCHED_BATCH removes the preemption on wake-up and nothing else: when the
CPU is idle the receiver still runs at once, so light traffic sees no added
latency; when the NAPI thread is busy it keeps the CPU until its scheduler
slice ends and the receiver then finds thousands of frames on its ring,
taken in a few batched calls (on a 2-core Linux 6.18 VM at 1.73 M frames/s:
a wake-up every 3.9 ms, ~6 700 frames each).  The RX and fill rings must hold
what arrives in a slice, or the kernel drops frames meanwhile:
:func:`rx_ring_size` sizes them.  Only the calling thread changes, for the
``with`` block: wrap the receive loop, not the program.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from . import _libc
from .errors import ConfigError

SLICE_SECONDS = 0.004     # how long frames wait under load: 3.9 ms measured (EEVDF, 2 CPUs)
MIN_RING = 2048
MAX_RING = 1 << 16
COALESCED_RX_SIZE = 8192  # rx_ring_size(2e6): 2 M frames/s, a veth's receive rate on one core


def rx_ring_size(pps: float, seconds: float = SLICE_SECONDS) -> int:
    """RX (and fill) ring entries for ``pps`` frames/s to wait ``seconds``
    unread: a power of two from 2048 to 65536.  8192 covers 2 M/s."""
    if pps <= 0 or seconds <= 0:
        raise ConfigError("rx_ring_size needs a positive rate and time, not %r and %r"
                          % (pps, seconds))
    size = MIN_RING
    while size < pps * seconds and size < MAX_RING:
        size <<= 1
    return size


@contextlib.contextmanager
def coalesced_wakeups() -> Iterator[None]:
    """Run the ``with`` block under SCHED_BATCH (the calling thread only),
    then restore the thread's policy and priority, also on an exception.
    Needs no privilege, except to restore a real-time policy."""
    tid = threading.get_native_id()
    saved = _libc.sched_getscheduler(tid, call="sched_getscheduler(thread %d)" % tid)
    _libc.sched_setscheduler(tid, _libc.SCHED_BATCH, 0,
                             call="sched_setscheduler(thread %d, SCHED_BATCH)" % tid)
    try:
        yield
    finally:
        _libc.sched_setscheduler(tid, saved[0], saved[1],
                                 call="sched_setscheduler(thread %d, policy %d restored)"
                                 % (tid, saved[0]))
