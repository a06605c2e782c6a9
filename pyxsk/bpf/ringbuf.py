"""BPF ring buffers: one ring shared by every CPU, which a program writes
with ``bpf_ringbuf_output()`` or ``bpf_ringbuf_reserve()`` and then
``bpf_ringbuf_submit()`` or ``bpf_ringbuf_discard()``::

    events = RingBufMap(64 * 1024, name="events")
    prog = bpf.load(program_calling_ringbuf_output(events))
    with RingBuffer(events) as ring:
        for record in ring.samples(timeout=1.0):    # bytes, as the program wrote them
            handle(record)

The map's memory (Linux 5.8+) is mapped as libbpf maps it: the consumer page,
read-write, holding ``consumer_pos``; then, read-only, the producer page
holding ``producer_pos`` and the data pages, mapped twice in a row so that a
record running past the end of the ring reads on contiguously.  Both
positions are free-running byte counts.  Each record is an 8-byte header (a
u32 length whose bit 31 is BPF_RINGBUF_BUSY_BIT while the program still
writes it and bit 30 BPF_RINGBUF_DISCARD_BIT when it threw the record away,
then a u32 the kernel uses to find its map) and the data, the whole rounded
up to 8 bytes.

Reading (memory ordering as in :mod:`pyxsk.bpf._buffers`): load
``producer_pos``; copy everything from ``consumer_pos`` up to it out in one
slice; cut the copy into records up to the first busy one (records are
consumed in order); copy that committed part once more and compare, since a
copy does not promise to load a record's length before its data (see
:meth:`_RingReader.read`); store ``consumer_pos`` past it.  Discarded
records are skipped and counted in :attr:`RingBuffer.discarded`.  Records
of one size are cut without a Python loop.

Lost records: a ring buffer keeps no count of what did not fit.
``bpf_ringbuf_output()`` returns -EAGAIN and ``bpf_ringbuf_reserve()`` NULL
when the ring is full, and only the program sees that: a program that must
account for every event counts those failures itself (in an ARRAY map, say),
and received + counted failures + discarded is then what it tried to send.

Waiting: :meth:`RingBuffer.fileno` is the map's fd (a duplicate owned by
the RingBuffer), which poll(2) reports readable while unread data waits, so
``selectors`` and ``asyncio``'s ``add_reader`` can wait on it.  The kernel
wakes waiters when a record is committed into a ring the reader had caught
up with (unless the program passes BPF_RB_NO_WAKEUP or BPF_RB_FORCE_WAKEUP).
A RingBuffer is not thread-safe: read it from one thread.
"""

from __future__ import annotations

import errno
import os
import select
import time
import warnings
from typing import Any, Iterator, List, Optional, Tuple

from .. import _libc
from ..errors import ConfigError
from ..mapping import Mapping
from ..uapi import bpf as k
from ._buffers import check_timeout, require_total_store_order
from .maps import Map

__all__ = ["RingBufMap", "RingBuffer"]

_U64 = 8
_BUSY = k.BPF_RINGBUF_BUSY_BIT
_DISCARD = k.BPF_RINGBUF_DISCARD_BIT
_FLAGS = _BUSY | _DISCARD
_LEN_MASK = ~_FLAGS & 0xffffffff
_HDR = k.BPF_RINGBUF_HDR_SZ
_ROUND = _HDR + _U64 - 1                     # len + header, rounded up to 8: (len + _ROUND) & _ALIGN
_ALIGN = ~(_U64 - 1)
_U32 = 4
_U32_SHIFT = 2                               # byte offset -> u32 index


def _check_size(size: object, page_size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < page_size \
            or size & (size - 1) or size >= 1 << 32:
        raise ConfigError("a ring buffer's size is a power of two multiple of the page size "
                          "(%d, %d, %d...) below 4 GiB, not %r"
                          % (page_size, 2 * page_size, 4 * page_size, size))
    return size


class RingBufMap(Map[int, int]):
    """BPF_MAP_TYPE_RINGBUF of ``size`` bytes (its max_entries): a power of
    two multiple of the page size, as the kernel requires.  It has no keys
    or values; read it through a :class:`RingBuffer`."""

    _type_name = "RINGBUF"
    _kernel_type = k.BPF_MAP_TYPE_RINGBUF

    def __init__(self, size: int, name: Optional[str] = None) -> None:
        super().__init__(k.BPF_MAP_TYPE_RINGBUF, 0, 0, _check_size(size, _libc.page_size()), 0, name)


def _cut(chunk: bytes) -> Tuple[List[bytes], int, int]:
    """(the committed records in ``chunk`` up to the first busy one, the
    bytes they take, how many of them were discarded and left out)."""
    end = len(chunk)
    lengths = memoryview(chunk).cast("I")        # a record's length word is the first u32
    length = lengths[0]
    if not length & _FLAGS:
        # Records of one size, the usual case, have identical length words:
        # check them all at once (one every ``stride`` bytes), cut without a loop
        stride = (length + _ROUND) & _ALIGN
        count = end // stride
        if count * stride == end and lengths[::stride >> _U32_SHIFT].tobytes() == chunk[:_U32] * count:
            lengths.release()
            return list(map(chunk.__getitem__, map(slice, range(_HDR, end, stride),
                                                   range(_HDR + length, end + length, stride)))), end, 0
    records: List[bytes] = []
    append = records.append
    discarded = 0
    off = 0
    while off < end:
        length = lengths[off >> _U32_SHIFT]
        if length & _FLAGS:
            if length & _BUSY:
                break
            discarded += 1
            length &= _LEN_MASK
        else:
            append(chunk[off + _HDR:off + _HDR + length])
        off += (length + _ROUND) & _ALIGN
    lengths.release()
    return records, off, discarded


class _RingReader:
    """The consumer side over three views: the u64 consumer and producer
    positions and the data (``size`` bytes, then the same again).  The
    views are kernel mappings, or plain memory in tests."""

    __slots__ = ("cons", "prod", "data", "mask", "discarded")

    cons: memoryview
    prod: memoryview
    data: memoryview
    mask: int
    discarded: int

    def __init__(self, cons: memoryview, prod: memoryview, data: memoryview, size: int) -> None:
        self.cons, self.prod, self.data = cons, prod, data
        self.mask = size - 1
        self.discarded = 0

    def read(self) -> List[bytes]:
        """Every committed record up to the first busy one, in order.

        The records are copied out before their length words are looked at,
        and a copy does not promise to load a record's length word before its
        data: a record committed during the copy may show its final length
        beside stale data.  So the committed part is copied a second time
        (every load of it after the loads that found it committed) and the
        copies compared; the rare difference means the second one is cut."""
        cons = self.cons[0]
        prod = self.prod[0]
        if cons == prod:
            return []
        start = cons & self.mask
        view = self.data[start:start + prod - cons]
        chunk = view.tobytes()
        records, taken, discarded = _cut(chunk)
        if taken:
            again = view[:taken].tobytes()
            if not chunk.startswith(again):
                records, taken, discarded = _cut(again)
            self.cons[0] = cons + taken
            self.discarded += discarded
        view.release()
        return records

    def release_views(self) -> None:
        for view in (self.data, self.prod, self.cons):
            view.release()


class RingBuffer:
    """The reader of a BPF ring buffer map (a :class:`RingBufMap`, or any
    map of type BPF_MAP_TYPE_RINGBUF).

    :meth:`poll` returns the records waiting (each the bytes the program
    submitted), waiting for some if there are none; iterating yields them
    forever, :meth:`samples` until a wait times out.  ``discarded`` counts
    the records the program discarded.  :meth:`close` (idempotent, also on
    leaving ``with``) unmaps the ring and closes the RingBuffer's fd.
    """

    size: int

    def __init__(self, ringbuf: Map[Any, Any]) -> None:
        require_total_store_order("BPF ring buffers")
        if not isinstance(ringbuf, Map) or ringbuf.map_type != k.BPF_MAP_TYPE_RINGBUF:
            raise ConfigError("a RingBuffer reads a RINGBUF map, not %r" % (ringbuf,))
        page = _libc.page_size()
        self.size = _check_size(ringbuf.max_entries, page)
        self._fd = -1
        self._maps: List[Mapping] = []
        self._reader: Optional[_RingReader] = None
        self._discarded = 0
        try:
            self._fd = os.dup(ringbuf.fileno())
            self._map_memory(page, "ring buffer %s" % (ringbuf.name or "fd %d" % self._fd))
            self._poll = select.poll()
            self._poll.register(self._fd, select.POLLIN)
        except BaseException:
            self.close()
            raise

    def _map_memory(self, page: int, what: str) -> None:
        consumer = Mapping.of_fd(self._fd, page, 0, "consumer page of " + what,
                                 hints={errno.EINVAL: "the kernel has no mmap for ring buffers (5.8+)"})
        self._maps.append(consumer)
        length = page + 2 * self.size
        addr = _libc.mmap(length, _libc.PROT_READ, _libc.MAP_SHARED, self._fd, page,
                          call="mmap(producer page and data of %s, %d bytes)" % (what, length))
        producer = Mapping(addr, length, "producer page and data of " + what)
        self._maps.append(producer)
        self._reader = _RingReader(consumer.view[:_U64].cast("Q"), producer.view[:_U64].cast("Q"),
                                   producer.view[page:], self.size)

    # -- reading --------------------------------------------------------------

    def _require_open(self) -> _RingReader:
        if self._reader is None:
            raise ValueError("I/O operation on a closed RingBuffer")
        return self._reader

    def poll(self, timeout: Optional[float] = None) -> List[bytes]:
        """The records waiting; when there are none, wait up to ``timeout``
        seconds for some (None blocks, 0 only checks).  An empty list when
        the time ran out."""
        timeout = check_timeout(timeout)
        reader = self._require_open()
        records = reader.read()
        if records or timeout == 0:
            return records
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000 + 1))
            self._poll.poll(wait)
            records = reader.read()
            if records or (deadline is not None and time.monotonic() >= deadline):
                return records

    def read_ready(self) -> List[bytes]:
        """The records waiting now, without waiting."""
        return self.poll(0)

    def samples(self, timeout: Optional[float] = None) -> Iterator[bytes]:
        """Every record as it comes; the iteration ends when none came for
        ``timeout`` seconds (None: never)."""
        while True:
            batch = self.poll(timeout)
            if not batch:
                return
            yield from batch

    def __iter__(self) -> Iterator[bytes]:
        return self.samples()

    @property
    def discarded(self) -> int:
        """Records the program discarded (bpf_ringbuf_discard), skipped so far."""
        return self._reader.discarded if self._reader is not None else self._discarded

    def fileno(self) -> int:
        """The map's fd (this RingBuffer's own duplicate): readable while data waits."""
        self._require_open()
        return self._fd

    # -- lifetime ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        """Unmap the ring and close the fd.  Idempotent."""
        reader, self._reader = self._reader, None
        if reader is not None:
            self._discarded = reader.discarded
            reader.release_views()
        maps, self._maps = self._maps, []
        for mapping in maps:
            mapping.close()
        fd, self._fd = self._fd, -1
        if fd >= 0:
            _libc.close(fd, call="close(ring buffer)")

    def __enter__(self) -> RingBuffer:
        self._require_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            warnings.warn("unclosed %r" % self, ResourceWarning, source=self)
            self.close()

    def __repr__(self) -> str:
        if self._fd < 0:
            return "<RingBuffer [closed]>"
        return "<RingBuffer fd=%d size=%d discarded=%d>" % (self._fd, self.size, self.discarded)
