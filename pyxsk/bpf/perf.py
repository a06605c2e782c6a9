"""Perf event arrays and the per-CPU perf ring buffers that
``bpf_perf_event_output()`` writes samples into::

    events = PerfEventArray(name="events")          # one slot per possible CPU
    prog = bpf.load(program_calling_perf_event_output(events))
    with PerfBuffer(events, pages=8) as buf:
        for sample in buf.samples(timeout=1.0):     # PerfSample(cpu, data)
            handle(sample.cpu, sample.data)
        print(buf.lost)                             # samples the kernel could not store

The program writes ``bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU,
&data, size)``: the sample goes to the perf event in the slot of the CPU the
program runs on.  :class:`PerfBuffer` opens one such event per online CPU
(perf_event_open of the software event PERF_COUNT_SW_BPF_OUTPUT with
sample_type PERF_SAMPLE_RAW), maps its ring, puts its fd in the array and
enables it.  A CPU whose slot holds no event makes the helper fail with
-ENOENT; the program sees that, nothing is recorded.

Each ring is one control page (``perf_event_mmap_page``) and 2**n data pages
of records, each a ``perf_event_header`` (type, misc, size) and its body.
The kernel writes records at ``data_head`` and never past ``data_tail``,
the free-running byte positions of the writer and the reader; records wrap
at the end of the data pages, headers included.  A sample
(PERF_RECORD_SAMPLE) holds a u32 size and that many bytes of raw data: what
the program passed, then the ``BPF_F_CTXLEN_MASK`` bytes of the packet it
asked to append, then zeros up to a multiple of 8 bytes with the size word.
The size the kernel records is the padded one, as libbpf reports it too.

When the ring is full the kernel drops the sample and counts it; once the
reader has made room, the next record it writes is a PERF_RECORD_LOST with
the count, which :attr:`PerfBuffer.lost` adds up.  So a loss shows up after
the next sample that fits, not when it happens.

Reading (memory ordering as in :mod:`pyxsk.bpf._buffers`): load
``data_head``, copy the records from ``data_tail`` up to it out of the ring in
one or two slices (two when they wrap), store ``data_tail`` = head, then cut
the copy into samples.  Records are never read in place, so a sample's bytes
stay valid however long they are kept.

Waiting: :meth:`PerfBuffer.fileno` is an epoll fd over every CPU's event, so
``selectors`` and ``asyncio``'s ``add_reader`` can wait on it.  A perf event
reports readable once per wakeup (every ``wakeup_events`` samples, or every
``wakeup_bytes`` bytes), not while records wait, so when the fd turns
readable take everything (:meth:`PerfBuffer.read_ready`) before waiting again.
A PerfBuffer is not thread-safe: read it from one thread.
"""

from __future__ import annotations

import ctypes
import errno
import select
import time
import warnings
from itertools import repeat
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

from .. import _libc
from ..mapping import Mapping
from ..errors import ConfigError
from ..uapi import bpf as k
from ..uapi import perf_event as pe
from ._buffers import check_timeout, require_total_store_order
from .maps import Map, possible_cpus
from .syscall import _U32_SIZE

__all__ = ["PerfEventArray", "PerfBuffer", "PerfSample", "online_cpus"]

_ONLINE_CPUS = "/sys/devices/system/cpu/online"
_HEAD = pe.perf_event_mmap_page.data_head.offset
_TAIL = pe.perf_event_mmap_page.data_tail.offset
_DATA_OFFSET = pe.perf_event_mmap_page.data_offset.offset
_DATA_SIZE = pe.perf_event_mmap_page.data_size.offset
_U64 = 8
_HEADER = ctypes.sizeof(pe.perf_event_header)
_RAW_START = _HEADER + _U32_SIZE            # a PERF_SAMPLE_RAW sample: header, u32 size, data
_LOST_COUNT_WORD = 2                        # PERF_RECORD_LOST: header, u64 id, u64 lost
_TYPE_MASK = 0xffffffff                     # the header read as one little-endian u64:
_SIZE_SHIFT = 48                            # type in the low 32 bits, size in the top 16
_WORD_SHIFT = 3                             # byte offset -> u64 index


class PerfSample(NamedTuple):
    """One sample: the ``cpu`` whose ring it came from and its raw ``data``
    as recorded (padded, so ``size`` is a multiple of 8 minus 4)."""
    cpu: int
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


def _cpu_list(text: str) -> List[int]:
    """The CPUs of a sysfs list such as "0-3,5"."""
    cpus: List[int] = []
    for part in text.strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def online_cpus() -> List[int]:
    """The CPUs online now, which a program can run on."""
    with open(_ONLINE_CPUS) as f:
        return _cpu_list(f.read())


class PerfEventArray(Map[int, int]):
    """BPF_MAP_TYPE_PERF_EVENT_ARRAY: CPU index -> perf event fd, the map
    ``bpf_perf_event_output()`` writes through.  ``max_entries`` defaults to
    the number of possible CPUs, so every CPU has a slot.  A
    :class:`PerfBuffer` fills the slots; the kernel cannot be asked what a
    slot holds (a lookup from user space is EOPNOTSUPP)."""

    _type_name = "PERF_EVENT_ARRAY"
    _kernel_type = k.BPF_MAP_TYPE_PERF_EVENT_ARRAY

    def __init__(self, max_entries: Optional[int] = None, name: Optional[str] = None) -> None:
        entries = possible_cpus() if max_entries is None else max_entries
        super().__init__(k.BPF_MAP_TYPE_PERF_EVENT_ARRAY, _U32_SIZE, _U32_SIZE, entries, 0, name)

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints.update({
            errno.EOPNOTSUPP: "the kernel does not say what a perf event array slot holds",
            errno.EBADF: "the value is not an open fd",
            errno.EINVAL: "the value must be a perf event fd opened on this slot's CPU (or any CPU)",
            errno.E2BIG: "the CPU index is beyond max_entries %d" % self.max_entries,
        })
        return hints


class _CpuRing:
    """One CPU's perf event: its fd, its mapping and views of data_head,
    data_tail and the data pages."""

    __slots__ = ("cpu", "fd", "mapping", "head", "tail", "data", "size", "mask")

    cpu: int
    fd: int
    mapping: Mapping
    head: memoryview
    tail: memoryview
    data: memoryview
    size: int
    mask: int

    def __init__(self, cpu: int, fd: int, mapping: Mapping, page_size: int) -> None:
        page = mapping.view
        self.cpu, self.fd, self.mapping = cpu, fd, mapping
        self.head = page[_HEAD:_HEAD + _U64].cast("Q")
        self.tail = page[_TAIL:_TAIL + _U64].cast("Q")
        offset = page[_DATA_OFFSET:_DATA_OFFSET + _U64].cast("Q")[0]
        size = page[_DATA_SIZE:_DATA_SIZE + _U64].cast("Q")[0]
        if not offset:              # before 4.1: the data pages follow the control page
            offset, size = page_size, mapping.length - page_size
        self.data = page[offset:offset + size]
        self.size, self.mask = size, size - 1

    def take(self) -> Optional[bytes]:
        """Copy out every record the kernel has published and hand their
        room back; None when there is none."""
        head = self.head[0]
        tail = self.tail[0]
        if head == tail:
            return None
        start = tail & self.mask
        end = start + head - tail
        if end <= self.size:
            chunk = self.data[start:end].tobytes()
        else:                       # wrapped: the end of the pages, then their start
            chunk = self.data[start:].tobytes() + self.data[:end - self.size].tobytes()
        self.tail[0] = head
        return chunk

    def release_views(self) -> None:
        for view in (self.head, self.tail, self.data):
            view.release()


def _parse(chunk: bytes) -> Tuple[List[bytes], int]:
    """(the raw data of each sample, the samples lost) in records ``chunk``."""
    end = len(chunk)
    words = memoryview(chunk).cast("Q")
    header = words[0]
    size = header >> _SIZE_SHIFT
    if header & _TYPE_MASK == pe.PERF_RECORD_SAMPLE and size >= _RAW_START:
        # Samples of one size, the usual case, have identical headers: check
        # them all at once (one every ``size`` bytes) and cut without a loop
        count = end // size
        if count * size == end and words[::size >> _WORD_SHIFT].tobytes() == chunk[:_U64] * count:
            words.release()
            return list(map(chunk.__getitem__, map(slice, range(_RAW_START, end, size),
                                                   range(size, end + size, size)))), 0
    datas: List[bytes] = []
    append = datas.append
    lost = 0
    off = 0
    while off < end:
        header = words[off >> _WORD_SHIFT]
        size = header >> _SIZE_SHIFT
        if header & _TYPE_MASK == pe.PERF_RECORD_SAMPLE:
            # sample_type is PERF_SAMPLE_RAW alone: the data fills the rest of the record
            append(chunk[off + _RAW_START:off + size])
        elif header & _TYPE_MASK == pe.PERF_RECORD_LOST:
            lost += words[(off >> _WORD_SHIFT) + _LOST_COUNT_WORD]
        elif size < _HEADER:
            raise RuntimeError("perf ring holds a record of %d bytes at byte %d: corrupt" % (size, off))
        off += size
    words.release()
    return datas, lost


class PerfBuffer:
    """The perf rings of ``events`` (a :class:`PerfEventArray`), one per CPU.

    ``pages`` data pages per CPU (a power of two).  The kernel wakes a
    waiting reader after every ``wakeup_events`` samples of a CPU, or, with
    ``wakeup_bytes``, once that many bytes wait.  ``cpus`` defaults to the
    online CPUs; each gets an event in its slot of ``events``.

    :meth:`poll` returns the samples of every CPU as :class:`PerfSample`
    (CPU by CPU, each CPU's in order), :meth:`poll_batches` the same as
    ``(cpu, [data, ...])`` without one object per sample; iterating yields
    samples forever, :meth:`samples` until a wait times out.  ``lost``
    counts the samples the kernel dropped for want of room.  :meth:`close`
    (idempotent, also on leaving ``with``) empties the slots, unmaps the
    rings and closes the events: close the buffer before ``events``.
    """

    cpus: List[int]
    pages: int
    lost: int

    def __init__(self, events: Map[Any, Any], pages: int = 8, wakeup_events: int = 1,
                 wakeup_bytes: Optional[int] = None, cpus: Optional[Iterable[int]] = None) -> None:
        require_total_store_order("perf rings")
        self._rings: List[_CpuRing] = []
        self._epoll: Optional[select.epoll] = None
        self._events = events
        self.lost = 0
        self.pages = self._check_args(events, pages, wakeup_events, wakeup_bytes)
        self.cpus = online_cpus() if cpus is None else list(cpus)
        self._check_cpus(events)
        attr = self._attr(wakeup_events, wakeup_bytes)
        try:
            self._epoll = select.epoll()
            for cpu in self.cpus:
                self._open(cpu, attr)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _check_args(events: Map[Any, Any], pages: int, wakeup_events: int,
                    wakeup_bytes: Optional[int]) -> int:
        if not isinstance(events, Map) or events.map_type != k.BPF_MAP_TYPE_PERF_EVENT_ARRAY:
            raise ConfigError("a PerfBuffer reads a PERF_EVENT_ARRAY map, not %r" % (events,))
        if isinstance(pages, bool) or not isinstance(pages, int) or pages < 1 or pages & (pages - 1):
            raise ConfigError("pages must be a power of two (1, 2, 4...), not %r" % (pages,))
        for what, value in (("wakeup_events", wakeup_events), ("wakeup_bytes", wakeup_bytes)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 1 <= value < 1 << 32):
                raise ConfigError("%s must be an int from 1 to 2**32-1, not %r" % (what, value))
        return pages

    def _check_cpus(self, events: Map[Any, Any]) -> None:
        if not self.cpus:
            raise ConfigError("a PerfBuffer needs at least one CPU")
        for cpu in self.cpus:
            if isinstance(cpu, bool) or not isinstance(cpu, int) or not 0 <= cpu < events.max_entries:
                raise ConfigError("CPU %r has no slot in %r (max_entries %d)"
                                  % (cpu, events, events.max_entries))
        if len(set(self.cpus)) != len(self.cpus):
            raise ConfigError("CPUs listed twice: %r" % (self.cpus,))

    @staticmethod
    def _attr(wakeup_events: int, wakeup_bytes: Optional[int]) -> pe.perf_event_attr:
        attr = pe.perf_event_attr(type=pe.PERF_TYPE_SOFTWARE, size=ctypes.sizeof(pe.perf_event_attr),
                                  config=pe.PERF_COUNT_SW_BPF_OUTPUT, sample_type=pe.PERF_SAMPLE_RAW,
                                  disabled=1)
        attr.sample_period = 1
        if wakeup_bytes is not None:
            attr.watermark = 1
            attr.wakeup_watermark = wakeup_bytes
        else:
            attr.wakeup_events = wakeup_events
        return attr

    def _open(self, cpu: int, attr: pe.perf_event_attr) -> None:
        what = "perf event BPF_OUTPUT on CPU %d" % cpu
        fd = _libc.perf_event_open(attr, -1, cpu, -1, pe.PERF_FLAG_FD_CLOEXEC,
                                   call="perf_event_open(%s)" % what, hints={
                                       errno.ENODEV: "CPU %d is offline" % cpu,
                                       errno.EACCES: "kernel.perf_event_paranoid forbids "
                                                     "system-wide events without CAP_PERFMON",
                                       errno.EPERM: "needs CAP_PERFMON (or CAP_SYS_ADMIN)"})
        page = _libc.page_size()
        try:
            mapping = Mapping.of_fd(fd, (1 + self.pages) * page, 0, "perf ring of CPU %d" % cpu, hints={
                errno.EPERM: "the ring exceeds kernel.perf_event_mlock_kb and RLIMIT_MEMLOCK; "
                             "use fewer pages or CAP_IPC_LOCK",
                errno.ENOMEM: "not enough memory for %d pages" % (1 + self.pages)})
        except BaseException:
            _libc.close(fd, call="close(%s)" % what)
            raise
        ring = _CpuRing(cpu, fd, mapping, page)
        self._rings.append(ring)
        self._events[cpu] = fd
        _libc.ioctl(fd, pe.PERF_EVENT_IOC_ENABLE, 0, call="ioctl(PERF_EVENT_IOC_ENABLE, %s)" % what)
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLIN)

    # -- reading --------------------------------------------------------------

    def _require_open(self) -> select.epoll:
        if self._epoll is None:
            raise ValueError("I/O operation on a closed PerfBuffer")
        return self._epoll

    def poll_batches(self, timeout: Optional[float] = None) -> List[Tuple[int, List[bytes]]]:
        """Like :meth:`poll`, but each CPU's samples as ``(cpu, [data, ...])``."""
        timeout = check_timeout(timeout)
        epoll = self._require_open()
        batches = self._take()
        if batches or timeout == 0:
            return batches
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            epoll.poll(-1 if deadline is None else max(0.0, deadline - time.monotonic()))
            batches = self._take()
            if batches or (deadline is not None and time.monotonic() >= deadline):
                return batches

    def _take(self) -> List[Tuple[int, List[bytes]]]:
        batches = []
        for ring in self._rings:
            chunk = ring.take()
            if chunk is not None:
                datas, lost = _parse(chunk)
                self.lost += lost
                if datas:
                    batches.append((ring.cpu, datas))
        return batches

    def poll(self, timeout: Optional[float] = None) -> List[PerfSample]:
        """The samples waiting in every CPU's ring; when there are none, wait
        up to ``timeout`` seconds for some (None blocks, 0 only checks).  An
        empty list when the time ran out."""
        samples: List[PerfSample] = []
        for cpu, datas in self.poll_batches(timeout):
            # tuple.__new__ on (cpu, data) pairs, all in C: a PerfSample each
            samples += map(tuple.__new__, repeat(PerfSample), zip(repeat(cpu), datas))
        return samples

    def read_ready(self) -> List[PerfSample]:
        """The samples waiting now, without waiting: what to call when
        :meth:`fileno` turns readable."""
        return self.poll(0)

    def samples(self, timeout: Optional[float] = None) -> Iterator[PerfSample]:
        """Every sample as it comes; the iteration ends when none came for
        ``timeout`` seconds (None: never)."""
        while True:
            batch = self.poll(timeout)
            if not batch:
                return
            yield from batch

    def __iter__(self) -> Iterator[PerfSample]:
        return self.samples()

    def fileno(self) -> int:
        """An epoll fd, readable when a CPU's event woke the reader."""
        return self._require_open().fileno()

    # -- lifetime ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._epoll is None

    def close(self) -> None:
        """Empty the map slots, unmap the rings, close the events.  Idempotent."""
        rings, self._rings = self._rings, []
        epoll, self._epoll = self._epoll, None
        for ring in rings:
            if not self._events.closed:
                try:
                    del self._events[ring.cpu]
                except KeyError:
                    pass            # emptied by someone else
            ring.release_views()
            ring.mapping.close()
            _libc.close(ring.fd, call="close(perf event on CPU %d)" % ring.cpu)
        if epoll is not None:
            epoll.close()

    def __enter__(self) -> PerfBuffer:
        self._require_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_epoll", None) is not None or getattr(self, "_rings", None):
            warnings.warn("unclosed %r" % self, ResourceWarning, source=self)
            self.close()

    def __repr__(self) -> str:
        if self._epoll is None:
            return "<PerfBuffer [closed]>"
        return "<PerfBuffer cpus=%s pages=%d lost=%d>" % (self.cpus, self.pages, self.lost)

