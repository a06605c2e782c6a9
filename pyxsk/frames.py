"""Received frames: a batch of memoryviews into UMEM, valid until released."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Iterator, List, Optional, Union

if TYPE_CHECKING:
    from .ring import ConsumerRing
    from .umem import Pool, Umem
    from .xsk import Socket

_swap16: List[int] = []

_RELEASED = "this batch of frames has been released"


def _swap16_table() -> List[int]:
    """i -> i with its two bytes swapped: big-endian fields read through a
    native 'H' view on a little-endian machine.  Built on first use."""
    if not _swap16:
        _swap16.extend(((i & 0xFF) << 8) | (i >> 8) for i in range(1 << 16))
    return _swap16


_ODD = bytes(i & 1 for i in range(256))


def _any_odd(values: Union[List[int], memoryview]) -> bool:
    """True if any of the little-endian u64 ``values`` (a 'Q' view or a
    list) is odd, tested in C: their low bytes, mapped to their low bit."""
    if isinstance(values, list):
        return any(v & 1 for v in values)
    return 1 in values.tobytes()[::8].translate(_ODD)


class Batch:
    """Frames taken off a socket's RX ring in one go, read in place.

    ``addrs`` ('Q') and ``lens`` ('I') are views of the descriptors on the RX
    ring itself -- nothing is copied out of it, as libxdp's peek/release
    does; the kernel leaves those entries alone until the batch is released.
    Iterating (or indexing) gives memoryviews of the frames in UMEM.  All of
    them stay valid until :meth:`release` -- called by the ``with`` block, by
    the socket's next ``recv``, by :meth:`pyxsk.xsk.Socket.forward`, or by
    closing the socket -- which gives the chunks back to the kernel and
    revokes every view handed out, so a frame used afterwards raises
    ``ValueError`` instead of showing another packet's bytes.  (A slice taken
    *of* a frame is a new view Python cannot revoke: copy what you keep with
    ``bytes(frame)``.)
    """

    __slots__ = ("addrs", "lens", "idx", "_sock", "_rx", "_pool", "_umem", "_views")

    addrs: Optional[memoryview]
    lens: Optional[memoryview]
    idx: int

    def __init__(self, sock: Socket, rx: ConsumerRing, pool: Pool, idx: int, count: int) -> None:
        """``count`` entries from cursor ``idx`` of ``rx``, the RX ring of
        ``sock``, whose pool is ``pool``."""
        first = idx & rx.mask            # a batch never wraps past the ring's end
        self.addrs = rx.words[first * rx.stride:(first + count) * rx.stride:rx.stride]
        self.lens = rx.halfwords[4 * first + 2:4 * (first + count):4]
        self.idx = idx
        self._sock = sock
        self._rx = rx
        self._pool = pool
        self._umem: Umem = sock.umem
        self._views: List[memoryview] = []
        pool.batches.add(self)

    @property
    def released(self) -> bool:
        return self.addrs is None

    def __len__(self) -> int:
        return 0 if self.addrs is None else len(self.addrs)

    def __bool__(self) -> bool:
        return self.addrs is not None and len(self.addrs) > 0

    def __iter__(self) -> Iterator[memoryview]:
        addrs, lens = self.addrs, self.lens
        if addrs is None or lens is None:
            raise ValueError(_RELEASED)
        umem = self._umem
        keep = self._views.append
        if umem.unaligned:
            frame = umem.frame
            for addr, length in zip(addrs, lens):
                view = frame(addr, length)
                keep(view)
                yield view
        else:
            data = umem.view
            for addr, length in zip(addrs, lens):
                view = data[addr:addr + length]
                keep(view)
                yield view

    def __getitem__(self, i: int) -> memoryview:
        addrs, lens = self.addrs, self.lens
        if addrs is None or lens is None:
            raise ValueError(_RELEASED)
        view = self._umem.frame(addrs[i], lens[i])
        self._views.append(view)
        return view

    def data_offsets(self) -> Union[List[int], memoryview]:
        """Where each frame's data starts in the UMEM (an iterable of ints)."""
        addrs = self.addrs
        if addrs is None:
            raise ValueError(_RELEASED)
        if self._umem.unaligned:
            return [self._umem.data_offset(a) for a in addrs]
        return addrs

    def field(self, offset: int, size: int = 2) -> List[int]:
        """The big-endian ``size``-byte (1 or 2) unsigned field at ``offset``
        of every frame, as a list: ``batch.field(12)`` is every ethertype.
        ValueError if a frame is too short to hold the field."""
        if size not in (1, 2):
            raise ValueError("field size must be 1 or 2 bytes, not %r" % (size,))
        lens = self.lens
        if lens is None:
            raise ValueError(_RELEASED)
        if lens and min(lens) < offset + size:
            raise ValueError("a frame of %d bytes has no %d-byte field at offset %d"
                             % (min(lens), size, offset))
        starts = self.data_offsets()
        data = self._umem.view
        if size == 1:
            at = data[offset:]               # shifted by the offset: no addition per frame
            return [at[a] for a in starts]
        if offset & 1 or _any_odd(starts) or sys.byteorder == "big":
            return [data[a + offset] << 8 | data[a + offset + 1] for a in starts]
        at, swap = self._umem.view16[offset >> 1:], _swap16_table()
        return [swap[at[a >> 1]] for a in starts]

    def tobytes(self) -> List[bytes]:
        """Copies of every frame, as a list of ``bytes``."""
        addrs, lens = self.addrs, self.lens
        if addrs is None or lens is None:
            raise ValueError(_RELEASED)
        frame = self._umem.frame
        out = []
        for addr, length in zip(addrs, lens):
            with frame(addr, length) as view:
                out.append(view.tobytes())
        return out

    def release(self) -> None:
        """Give the chunks back to the kernel (the fill ring) and revoke the
        frames.  Idempotent."""
        if self.addrs is not None:
            self._sock._settle(self, 0)

    def _revoke(self) -> None:
        """The batch is settled: revoke every view of it."""
        for view in self._views:
            view.release()
        self._views = []
        addrs, lens = self.addrs, self.lens
        if addrs is not None and lens is not None:
            addrs.release()
            lens.release()
        self.addrs = self.lens = None
        self._pool.batches.discard(self)

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        if self.addrs is None or self.lens is None:
            return "<pyxsk.Batch [released]>"
        return "<pyxsk.Batch %d frames, %d bytes>" % (len(self.addrs), sum(self.lens))
