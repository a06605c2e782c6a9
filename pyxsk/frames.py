"""Received frames: a batch of memoryviews into UMEM, valid until released."""

import sys
from array import array
from itertools import repeat
from operator import add, and_, rshift

from .umem import USER

_swap16 = []


def _swap16_table():
    """i -> i with its two bytes swapped: big-endian fields read through a
    native 'H' view on a little-endian machine.  Built on first use."""
    if not _swap16:
        _swap16.extend(((i & 0xFF) << 8) | (i >> 8) for i in range(1 << 16))
    return _swap16


class Batch:
    """Frames taken off a socket's RX ring in one go.

    ``addrs`` ('Q') and ``lens`` ('I') are memoryviews of each frame's
    descriptor address and length.  Iterating (or indexing) gives memoryviews of the
    frames in UMEM, without copying.  They stay valid until :meth:`release`
    -- called by the ``with`` block, by the socket's next ``recv``, or by
    :meth:`forward`-ing the frames -- which gives the chunks back to the
    kernel and releases every view handed out, so a frame used afterwards
    raises ``ValueError`` instead of showing another packet's bytes.
    (A slice taken *of* a frame is a new view Python cannot revoke: copy what
    you keep with ``bytes(frame)``.)
    """

    __slots__ = ("addrs", "lens", "_pool", "_umem", "_views", "_orphaned")

    def __init__(self, pool, addrs, lens):
        self._pool = pool
        self._umem = pool.umem
        self.addrs = addrs
        self.lens = lens
        self._views = []
        self._orphaned = False
        pool.batches.add(self)

    @property
    def released(self):
        return self.addrs is None

    def __len__(self):
        return 0 if self.addrs is None else len(self.addrs)

    def __bool__(self):
        return self.addrs is not None and len(self.addrs) > 0

    def _check(self):
        if self.addrs is None:
            raise ValueError("this batch of frames has been released")

    def __iter__(self):
        self._check()
        umem = self._umem
        keep = self._views.append
        if umem.unaligned:
            frame = umem.frame
            for addr, length in zip(self.addrs, self.lens):
                view = frame(addr, length)
                keep(view)
                yield view
        else:
            data = umem.view
            for addr, length in zip(self.addrs, self.lens):
                view = data[addr:addr + length]
                keep(view)
                yield view

    def __getitem__(self, i):
        self._check()
        view = self._umem.frame(self.addrs[i], self.lens[i])
        self._views.append(view)
        return view

    def data_offsets(self):
        """Where each frame's data starts in the UMEM (an iterable of ints)."""
        self._check()
        if self._umem.unaligned:
            return [self._umem.data_offset(a) for a in self.addrs]
        return self.addrs

    def field(self, offset, size=2):
        """The big-endian ``size``-byte (1 or 2) unsigned field at ``offset``
        of every frame, as a list: ``batch.field(12)`` is every ethertype.

        The loop over frames runs in C (``map`` over the UMEM view), so
        classifying a batch costs no Python bytecode per frame.  ValueError
        if a frame is too short to hold the field."""
        if size not in (1, 2):
            raise ValueError("field size must be 1 or 2 bytes, not %r" % (size,))
        self._check()
        if self.lens and min(self.lens) < offset + size:
            raise ValueError("a frame of %d bytes has no %d-byte field at offset %d"
                             % (min(self.lens), size, offset))
        starts = self.data_offsets()
        umem = self._umem
        if size == 1:
            return list(map(umem.view.__getitem__, map(add, starts, repeat(offset))))
        if offset & 1 or any(map(and_, starts, repeat(1))):
            data = umem.view
            return [data[a + offset] << 8 | data[a + offset + 1] for a in starts]
        words = map(umem.view16.__getitem__, map(rshift, map(add, starts, repeat(offset)), repeat(1)))
        if sys.byteorder == "big":
            return list(words)
        return list(map(_swap16_table().__getitem__, words))

    def tobytes(self):
        """Copies of every frame, as a list of ``bytes``."""
        self._check()
        frame = self._umem.frame
        out = []
        for addr, length in zip(self.addrs, self.lens):
            with frame(addr, length) as view:
                out.append(view.tobytes())
        return out

    def _revoke(self):
        for view in self._views:
            view.release()
        self._views = []
        self._pool.batches.discard(self)
        if not self._orphaned:        # views of the socket's reusable arrays
            self.addrs.release()
            self.lens.release()
        self.addrs = self.lens = None

    def release(self):
        """Give the chunks back (to the fill ring) and revoke the frames.  Idempotent."""
        if self.addrs is None:
            return
        addrs = self.addrs
        if self._orphaned:
            self._umem._user -= len(addrs)
            self._umem._give_back(addrs)
        else:
            self._pool.recycle(addrs)
        self._revoke()

    def _hand_over(self, count, pool):
        """The first ``count`` frames were queued for TX on ``pool``: they are
        that pool's now (owner bytes change only between pools)."""
        addrs = self.addrs[:count]
        if self._orphaned:
            self._umem._user -= count
            self._umem._set_owner(addrs, pool.code)
        else:
            self._pool.user_held -= count
            if pool is not self._pool:
                self._umem._set_owner(addrs, pool.code)
        pool.tx_given += count

    def _drop_rest(self, start):
        """Frames from ``start`` on found no room: give their chunks back."""
        rest = self.addrs[start:]
        if self._orphaned:
            self._umem._user -= len(rest)
            self._umem._give_back(rest)
        else:
            self._pool.recycle(rest)

    def _orphan(self):
        """The pool is going away: the chunks become the application's until released."""
        addrs = array("Q", self.addrs)
        self.addrs = memoryview(addrs)
        self._umem._set_owner(addrs, USER)
        self._umem._user += len(addrs)
        self._orphaned = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        if self.addrs is None:
            return "<pyxsk.Batch [released]>"
        return "<pyxsk.Batch %d frames, %d bytes>" % (len(self.addrs), sum(self.lens))
