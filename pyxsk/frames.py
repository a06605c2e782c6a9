"""Received frames: a batch of memoryviews into UMEM, valid until released."""

import sys

_swap16 = []


def _swap16_table():
    """i -> i with its two bytes swapped: big-endian fields read through a
    native 'H' view on a little-endian machine.  Built on first use."""
    if not _swap16:
        _swap16.extend(((i & 0xFF) << 8) | (i >> 8) for i in range(1 << 16))
    return _swap16


_ODD = bytes(i & 1 for i in range(256))


def _any_odd(values):
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

    __slots__ = ("addrs", "lens", "idx", "_sock", "_umem", "_views")

    def __init__(self, sock, idx, count):
        rx = sock.rx
        first = idx & rx.mask            # a batch never wraps past the ring's end
        self.addrs = rx.words[first * rx.stride:(first + count) * rx.stride:rx.stride]
        self.lens = rx.halfwords[4 * first + 2:4 * (first + count):4]
        self.idx = idx
        self._sock = sock
        self._umem = sock.umem
        self._views = []
        sock.pool.batches.add(self)

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
        ValueError if a frame is too short to hold the field."""
        if size not in (1, 2):
            raise ValueError("field size must be 1 or 2 bytes, not %r" % (size,))
        self._check()
        if self.lens and min(self.lens) < offset + size:
            raise ValueError("a frame of %d bytes has no %d-byte field at offset %d"
                             % (min(self.lens), size, offset))
        starts = self.data_offsets()
        data = self._umem.view
        if size == 1:
            at = data[offset:]               # shifted by the offset: no addition per frame
            return [at[a] for a in starts]
        if offset & 1 or _any_odd(starts) or sys.byteorder == "big":
            return [data[a + offset] << 8 | data[a + offset + 1] for a in starts]
        at, swap = self._umem.view16[offset >> 1:], _swap16_table()
        return [swap[at[a >> 1]] for a in starts]

    def tobytes(self):
        """Copies of every frame, as a list of ``bytes``."""
        self._check()
        frame = self._umem.frame
        out = []
        for addr, length in zip(self.addrs, self.lens):
            with frame(addr, length) as view:
                out.append(view.tobytes())
        return out

    def release(self):
        """Give the chunks back to the kernel (the fill ring) and revoke the
        frames.  Idempotent."""
        if self.addrs is not None:
            self._sock._settle(self, 0)

    def _revoke(self):
        """The batch is settled: revoke every view of it."""
        for view in self._views:
            view.release()
        self._views = []
        self.addrs.release()
        self.lens.release()
        self.addrs = self.lens = None
        self._sock.pool.batches.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        if self.addrs is None:
            return "<pyxsk.Batch [released]>"
        return "<pyxsk.Batch %d frames, %d bytes>" % (len(self.addrs), sum(self.lens))
