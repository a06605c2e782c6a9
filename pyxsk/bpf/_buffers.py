"""What the perf and BPF ring buffer readers share: the memory-ordering
assumption, and waits in seconds as ``selectors`` takes them.

The ordering assumption is the one :mod:`pyxsk.ring` states for the AF_XDP
rings: the kernel publishes a record by writing it and then storing the
producer position (data_head, producer_pos) or the record's committed
length, with release semantics; the reader loads that, then reads the
record, then stores its own consumer position (data_tail, consumer_pos).
From Python those are plain memoryview accesses in separate C calls, ordered
as written only where loads are not reordered with loads, nor stores with
earlier loads: x86 total store order.  Elsewhere pure Python cannot issue
the barriers, so the readers refuse to run.
"""

from __future__ import annotations

import math
import platform
from typing import Optional

from ..errors import UnsupportedPlatformError

TSO_MACHINES = frozenset(["x86_64", "amd64", "i386", "i486", "i586", "i686"])


def require_total_store_order(what: str, machine: Optional[str] = None) -> None:
    """Raise UnsupportedPlatformError unless this CPU is x86 (total store order)."""
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine not in TSO_MACHINES:
        raise UnsupportedPlatformError(
            "pyxsk reads %s with plain loads and stores, which is safe only with x86 "
            "total store order; %s needs acquire/release barriers that pure Python "
            "cannot issue" % (what, machine or "this machine"))


def check_timeout(timeout: Optional[float]) -> Optional[float]:
    """A wait as ``selectors`` takes it: None (or ``math.inf``) blocks and is
    returned as None, 0 only checks, a positive number of seconds waits that
    long; TypeError or ValueError for anything else."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError("timeout must be a number of seconds or None (block), not %r" % (timeout,))
    if timeout != timeout or timeout < 0:
        raise ValueError("timeout must be >= 0 seconds (or None to block), not %r" % (timeout,))
    return None if timeout == math.inf else float(timeout)
