"""The four AF_XDP rings: single-producer single-consumer arrays shared with the kernel.

Each ring is a power-of-two array of entries plus two free-running 32-bit
cursors (producer, consumer) and, since 5.4, a flags word, all at offsets the
kernel reports through XDP_MMAP_OFFSETS.  A cursor is masked with ``size - 1``
to index the array and wraps modulo 2**32.

The fill and TX rings are produced by us and consumed by the kernel; RX and
completion the other way round.  As in libxdp, each side keeps cached copies
of both cursors and touches the shared ones once per batch: the other side's
cursor is re-read only when the cached one cannot satisfy the request (the
cache has run dry for this batch), and our own is published by a single store
after the batch's descriptors are written.

Memory ordering -- the one assumption, stated here and nowhere else:
publishing a batch is "write the descriptors, then store the producer
cursor", and consuming is "load the producer cursor, then read the
descriptors".  The kernel pairs these with smp_store_release/smp_load_acquire.
From Python the stores and loads are plain memoryview accesses in separate C
calls, which is correct only where the hardware keeps stores in order with
stores and loads with loads: x86 total store order.  On other architectures
(arm64, POWER, RISC-V) a barrier would be needed that pure Python cannot
issue, so :func:`require_total_store_order` refuses to run there.
"""

from __future__ import annotations

import platform
from array import array
from typing import Optional, Protocol, Tuple, Type, TypeVar, Union

from .errors import UnsupportedPlatformError
from .mapping import Mapping
from .uapi.if_xdp import XDP_RING_NEED_WAKEUP

MASK32 = 0xFFFFFFFF

ADDR_ENTRY = 8    # fill and completion rings: a __u64 UMEM address
DESC_ENTRY = 16   # rx and tx rings: struct xdp_desc

_HALFWORDS_PER_DESC = DESC_ENTRY // 4
_LEN_HALFWORD = 2   # struct xdp_desc: u64 addr, u32 len, u32 options

TSO_MACHINES = frozenset(["x86_64", "amd64", "i386", "i486", "i586", "i686"])

# What the entries of a ring are copied from and to: a memoryview of u64 or
# u32 items, or an array of them.
Entries = Union[memoryview, "array[int]"]


class Offsets(Protocol):
    """Where the parts of a ring are, in bytes from the start of its mapping,
    as :class:`pyxsk.xsk.RingOffsets` has them (its ``flags`` is read if
    there is one: None or none, no ring flags)."""

    @property
    def producer(self) -> int: ...
    @property
    def consumer(self) -> int: ...
    @property
    def desc(self) -> int: ...


_R = TypeVar("_R", bound="Ring")


def require_total_store_order(machine: Optional[str] = None) -> None:
    """Raise UnsupportedPlatformError unless this CPU orders stores (x86 TSO)."""
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine not in TSO_MACHINES:
        raise UnsupportedPlatformError(
            "pyxsk shares its rings with the kernel using plain stores, which is "
            "safe only with x86 total store order; %s needs a store barrier "
            "between writing descriptors and publishing the producer cursor, "
            "and pyxsk has none yet" % (machine or "this machine"))


def is_power_of_two(n: object) -> bool:
    return isinstance(n, int) and n > 0 and n & (n - 1) == 0


def ring_length(offsets: Offsets, size: int, entry_size: int) -> int:
    """Bytes to map: the descriptor array is the last thing in the ring."""
    return offsets.desc + size * entry_size


class Ring:
    """State common to both directions: the shared views and the mask.

    ``buf`` is a writable 'B' memoryview of the ring (a kernel mapping, or
    plain memory in tests); ``offsets`` has ``producer``, ``consumer``,
    ``desc`` and ``flags`` (None on kernels without ring flags).
    """

    __slots__ = ("name", "size", "mask", "stride", "_prod", "_cons", "_flags",
                 "words", "halfwords", "_views", "_mapping", "cached_prod", "cached_cons", "wakeup_without_flags")

    name: str
    size: int
    mask: int
    stride: int
    words: memoryview
    halfwords: memoryview
    cached_prod: int
    cached_cons: int
    wakeup_without_flags: bool

    def __init__(self, name: str, buf: memoryview, offsets: Offsets, size: int, entry_size: int,
                 mapping: Optional[Mapping] = None) -> None:
        if not is_power_of_two(size):
            raise ValueError("%s ring size must be a power of two, got %r" % (name, size))
        require_total_store_order()
        self.name = name
        self.size = size
        self.mask = size - 1
        self.stride = entry_size // ADDR_ENTRY   # u64 words per entry
        self._prod = buf[offsets.producer:offsets.producer + 4].cast("I")
        self._cons = buf[offsets.consumer:offsets.consumer + 4].cast("I")
        flags = getattr(offsets, "flags", None)
        self._flags = None if flags is None else buf[flags:flags + 4].cast("I")
        desc = buf[offsets.desc:offsets.desc + size * entry_size]
        self.words = desc.cast("Q")
        # desc rings: struct xdp_desc as four u32 -- addr (2), len, options
        # (address rings get the view too, unused: it is never None)
        self.halfwords = desc.cast("I")
        desc.release()
        self._views = [v for v in (self._prod, self._cons, self._flags, self.words, self.halfwords)
                       if v is not None]
        self._mapping = mapping
        self.cached_prod = self._prod[0]
        self.cached_cons = self._cons[0]
        # Without ring flags (pre-5.4) the kernel cannot ask for wake-ups: TX
        # then needs a kick every time, the fill ring never does.
        self.wakeup_without_flags = name == "tx"

    @classmethod
    def map(cls: Type[_R], fd: int, pgoff: int, offsets: Offsets, size: int, entry_size: int,
            name: str) -> _R:
        """mmap the ring of socket ``fd`` at page offset ``pgoff``."""
        length = ring_length(offsets, size, entry_size)
        mapping = Mapping.of_fd(fd, length, pgoff, "%s ring" % name)
        return cls(name, mapping.view, offsets, size, entry_size, mapping)

    @property
    def has_flags(self) -> bool:
        return self._flags is not None

    def needs_wakeup(self) -> bool:
        """True when the kernel's XDP_RING_NEED_WAKEUP flag asks for a
        syscall to make progress on this ring.  Without ring flags: always
        for TX, never for the fill ring."""
        if self._flags is None:
            return self.wakeup_without_flags
        return bool(self._flags[0] & XDP_RING_NEED_WAKEUP)

    def shared_producer(self) -> int:
        return self._prod[0]

    def shared_consumer(self) -> int:
        return self._cons[0]

    def close(self) -> None:
        """Release the views and unmap.  Idempotent."""
        for view in self._views:
            view.release()
        self._views = []
        if self._mapping is not None:
            self._mapping.close()
            self._mapping = None


class ProducerRing(Ring):
    """Fill and TX: we write entries and publish the producer cursor."""

    __slots__ = ()

    def free(self, wanted: int) -> int:
        """How many entries can be produced, re-reading the kernel's consumer
        cursor only when the cached one leaves fewer than ``wanted``."""
        free = self.size - ((self.cached_prod - self.cached_cons) & MASK32)
        if free < wanted:
            self.cached_cons = self._cons[0]
            free = self.size - ((self.cached_prod - self.cached_cons) & MASK32)
        return free

    def reserve(self, n: int) -> Tuple[int, int]:
        """Reserve up to ``n`` entries: returns (count, cursor of the first)."""
        count = min(n, self.free(n))
        idx = self.cached_prod
        self.cached_prod = (idx + count) & MASK32
        return count, idx

    def cancel(self, n: int) -> None:
        """Give back the last ``n`` reserved, unsubmitted entries."""
        self.cached_prod = (self.cached_prod - n) & MASK32

    def submit(self) -> None:
        """Publish every reserved entry with one store to the producer cursor."""
        self._prod[0] = self.cached_prod

    def pending(self) -> int:
        """Entries published but not yet taken by the kernel (re-reads its cursor)."""
        self.cached_cons = self._cons[0]
        return (self._prod[0] - self.cached_cons) & MASK32

    def write_addrs(self, idx: int, src: Entries) -> None:
        """Write the addresses of ``src`` (a 'Q' memoryview or array) from cursor ``idx``."""
        _scatter(self.words, self.stride, 0, self.mask, idx, memoryview(src))

    def write_lens(self, idx: int, src: Entries) -> None:
        """Write the ``len`` of desc entries from cursor ``idx`` ('I' items;
        ``options`` stays 0: pyxsk never sets it)."""
        _scatter(self.halfwords, _HALFWORDS_PER_DESC, _LEN_HALFWORD, self.mask, idx, memoryview(src))


class ConsumerRing(Ring):
    """RX and completion: the kernel writes, we read and publish the consumer cursor."""

    __slots__ = ()

    def available(self, wanted: int) -> int:
        """Entries ready to read, re-reading the producer cursor only when the
        cache holds fewer than ``wanted``."""
        avail = (self.cached_prod - self.cached_cons) & MASK32
        if avail < wanted:
            self.cached_prod = self._prod[0]
            avail = (self.cached_prod - self.cached_cons) & MASK32
        return avail

    def peek(self, n: int) -> Tuple[int, int]:
        """Take up to ``n`` ready entries: returns (count, cursor of the first)."""
        count = min(n, self.available(n))
        idx = self.cached_cons
        self.cached_cons = (idx + count) & MASK32
        return count, idx

    def cancel(self, n: int) -> None:
        """Put back the last ``n`` peeked, unreleased entries."""
        self.cached_cons = (self.cached_cons - n) & MASK32

    def release(self) -> None:
        """Hand every peeked entry back to the kernel with one store."""
        self._cons[0] = self.cached_cons

    def read_addrs(self, idx: int, count: int, out: memoryview) -> None:
        """Copy the addresses of ``count`` entries from cursor ``idx`` into
        ``out`` (a writable 'Q' memoryview of at least ``count`` items)."""
        _gather(self.words, self.stride, 0, self.mask, idx, count, out)


def _gather(words: memoryview, stride: int, word: int, mask: int, idx: int, count: int,
            out: memoryview) -> None:
    """Copy one word of ``count`` entries from cursor ``idx`` into ``out[:count]``."""
    first = idx & mask
    head = min(count, mask + 1 - first)
    out[:head] = words[first * stride + word:(first + head) * stride:stride]
    if count > head:
        out[head:count] = words[word:(count - head) * stride:stride]


def _scatter(words: memoryview, stride: int, word: int, mask: int, idx: int,
             src: memoryview) -> None:
    """Copy ``src`` ('Q' items) into one word of consecutive entries from ``idx``."""
    count = len(src)
    first = idx & mask
    head = min(count, mask + 1 - first)
    words[first * stride + word:(first + head) * stride:stride] = src[:head]
    if count > head:
        words[word:(count - head) * stride:stride] = src[head:]


def transfer(src: Ring, src_idx: int, dst: Ring, dst_idx: int, count: int,
             word: Optional[int] = 0) -> None:
    """Copy one word (0: address, 1: len/options) of ``count`` entries from
    ring ``src`` at cursor ``src_idx`` to ring ``dst`` at ``dst_idx``, in at
    most three slice copies (the two rings wrap at different places).

    When both are descriptor rings and ``word`` is None the whole 16-byte
    descriptors are copied.
    """
    whole = word is None and src.stride == dst.stride
    s_words, d_words = src.words, dst.words
    while count:
        si, di = src_idx & src.mask, dst_idx & dst.mask
        n = min(count, src.mask + 1 - si, dst.mask + 1 - di)
        if whole:
            d_words[di * dst.stride:(di + n) * dst.stride] = s_words[si * src.stride:(si + n) * src.stride]
        else:
            w = word or 0
            d_words[di * dst.stride + w:(di + n) * dst.stride:dst.stride] = \
                s_words[si * src.stride + w:(si + n) * src.stride:src.stride]
        src_idx, dst_idx, count = src_idx + n, dst_idx + n, count - n


def copy_addrs(src: Ring, idx: int, dst: ProducerRing, n: int) -> int:
    """Reserve up to ``n`` entries on producer ring ``dst``, copy into them
    the addresses of ``src`` entries from cursor ``idx`` (one slice copy
    unless a ring wraps), publish them; returns how many."""
    count, didx = dst.reserve(n)
    if not count:
        return 0
    s, d = idx & src.mask, didx & dst.mask
    if s + count <= src.size and d + count <= dst.size:
        dst.words[d * dst.stride:(d + count) * dst.stride:dst.stride] = \
            src.words[s * src.stride:(s + count) * src.stride:src.stride]
    else:
        transfer(src, idx, dst, didx, count, word=0)
    dst._prod[0] = dst.cached_prod
    return count


def rx_to_fill(rx: ConsumerRing, fill: ProducerRing, limit: int) -> int:
    """Move up to ``limit`` RX descriptors' addresses straight onto the fill
    ring and publish both cursors: receive-and-drop in one step (aligned
    mode only: the kernel masks the data offset off fill entries).
    Returns how many moved."""
    n, idx = rx.peek(limit)
    if not n:
        return 0
    count = copy_addrs(rx, idx, fill, n)
    rx.cancel(n - count)
    rx._cons[0] = rx.cached_cons
    return count
