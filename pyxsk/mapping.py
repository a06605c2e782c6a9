"""Memory mappings made with libc's mmap, seen from Python as memoryviews.

Python's own ``mmap.mmap(fd, ...)`` dup()s the file descriptor, which keeps an
AF_XDP socket alive (and its queue bound) after the socket is closed, so
pyxsk maps through ctypes instead.  The price is that nothing stops a
memoryview from outliving the mapping; :meth:`Mapping.close` therefore checks
that no view into the memory is still alive before it unmaps, and refuses
(``BufferError``, like ``mmap.close()``) rather than leave a dangling view
that would crash the interpreter.
"""

from __future__ import annotations

import ctypes
import errno
import sys
from typing import Optional, Type, TypeVar

from . import _libc

# CPython counts references exactly; elsewhere the guard cannot be applied.
_CAN_COUNT_VIEWS = sys.implementation.name == "cpython"


_M = TypeVar("_M", bound="Mapping")


class Mapping:
    """``length`` bytes mapped at ``addr``; ``view`` is a writable 'B' memoryview.

    Every memoryview sliced or cast from ``view`` shares one buffer export of
    the ctypes array below it; while any of them is alive that array has an
    extra reference, which is what :meth:`close` checks.
    """

    __slots__ = ("addr", "length", "view", "_array", "_what")

    addr: int
    length: int
    view: memoryview
    _array: Optional[ctypes.Array[ctypes.c_ubyte]]
    _what: str

    def __init__(self, addr: int, length: int, what: str) -> None:
        self.addr = addr
        self.length = length
        self._what = what
        self._array = (ctypes.c_ubyte * length).from_address(addr)
        self.view = memoryview(self._array).cast("B")

    @classmethod
    def anonymous(cls: Type[_M], length: int, flags: int = 0, what: str = "anonymous memory") -> _M:
        """Private anonymous memory, page aligned (mmap returns page-aligned addresses)."""
        hints = {errno.ENOMEM: "not enough free huge pages: reserve them first "
                               "(echo N > /proc/sys/vm/nr_hugepages)"} \
            if flags & _libc.MAP_HUGETLB else None
        addr = _libc.mmap(length, _libc.PROT_READ | _libc.PROT_WRITE,
                          _libc.MAP_PRIVATE | _libc.MAP_ANONYMOUS | flags,
                          call="mmap(%s, %d bytes)" % (what, length), hints=hints)
        return cls(addr, length, what)

    @classmethod
    def of_fd(cls: Type[_M], fd: int, length: int, pgoff: int, what: str,
              hints: Optional[_libc.Hints] = None) -> _M:
        """A shared mapping of ``fd`` at offset ``pgoff`` (populated at once)."""
        addr = _libc.mmap(length, _libc.PROT_READ | _libc.PROT_WRITE,
                          _libc.MAP_SHARED | _libc.MAP_POPULATE, fd, pgoff,
                          call="mmap(%s, %d bytes)" % (what, length), hints=hints)
        return cls(addr, length, what)

    @property
    def closed(self) -> bool:
        return self._array is None

    def views_alive(self) -> bool:
        """True while some memoryview into this memory is still alive."""
        if self._array is None or not _CAN_COUNT_VIEWS:
            return False
        # one reference is ours, one is getrefcount's argument; a live buffer
        # export holds the third
        return sys.getrefcount(self._array) > 2

    def close(self) -> None:
        """Unmap.  Idempotent.  BufferError if a view into the memory is alive."""
        if self._array is None:
            return
        self.view.release()
        if self.views_alive():
            raise BufferError(
                "cannot unmap %s: a memoryview into it is still alive "
                "(release frames and views first)" % self._what)
        self._array = None
        _libc.munmap(self.addr, self.length, call="munmap(%s)" % self._what)

    def __repr__(self) -> str:
        state = "closed" if self._array is None else "0x%x" % self.addr
        return "<Mapping %s %d bytes %s>" % (self._what, self.length, state)
