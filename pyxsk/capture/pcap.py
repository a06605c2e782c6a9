"""pcap capture files (the classic libpcap format), read and written in pure Python.

A file is a 24-byte global header -- magic, version 2.4, time zone, accuracy,
snapshot length, link type -- then records of a 16-byte header (seconds,
micro- or nanoseconds, captured length, original length) and the captured
bytes.  The magic number says the byte order and the time resolution.
tcpdump, tshark and Wireshark read what :class:`Writer` writes; :func:`read`
takes files from them (classic pcap, not pcapng: ``editcap -F pcap`` converts).
"""

from __future__ import annotations

import os
import struct
import time
from typing import Iterator, NamedTuple, Optional, Protocol, Tuple, Union, cast

from ..errors import PcapError

MAGIC_USEC = 0xA1B2C3D4
MAGIC_NSEC = 0xA1B23C4D
MAGIC_PCAPNG = 0x0A0D0D0A
VERSION = (2, 4)
LINKTYPE_ETHERNET = 1
DEFAULT_SNAPLEN = 262144

_GLOBAL = "IHHiIII"     # magic, major, minor, thiszone, sigfigs, snaplen, linktype
_RECORD = "IIII"        # ts_sec, ts_frac, incl_len, orig_len
GLOBAL_LEN = struct.calcsize("<" + _GLOBAL)
RECORD_LEN = struct.calcsize("<" + _RECORD)


class Packet(NamedTuple):
    """A captured frame: ``timestamp`` in seconds (float), ``data`` bytes,
    ``orig_len`` on the wire."""
    timestamp: float
    data: bytes
    orig_len: int


class BinaryWriter(Protocol):
    """What :class:`Writer` needs of a file object it is given (``open(path, "wb")``,
    ``sys.stdout.buffer``, ``io.BytesIO``...)."""

    def write(self, __data: Union[bytes, memoryview]) -> object: ...

    def flush(self) -> object: ...

    def close(self) -> object: ...


class BinaryReader(Protocol):
    """What :func:`read` and :func:`info` need of a file object they are given."""

    def read(self, __size: int) -> bytes: ...

    def close(self) -> object: ...


FsPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
Buffer = Union[bytes, bytearray, memoryview]


class Writer:
    """Write frames to a pcap file (a path or a binary file object).

    ``nanosecond=True`` writes nanosecond timestamps (magic 0xa1b23c4d).
    Frames longer than ``snaplen`` are cut, with their full length recorded.
    """

    def __init__(self, target: Union[FsPath, BinaryWriter], linktype: int = LINKTYPE_ETHERNET,
                 snaplen: int = DEFAULT_SNAPLEN, nanosecond: bool = False) -> None:
        if not 0 < snaplen <= 0x7FFFFFFF:
            raise ValueError("snaplen must be positive, got %r" % (snaplen,))
        self._own = isinstance(target, (str, bytes)) or hasattr(target, "__fspath__")
        self._file: Optional[BinaryWriter] = (open(cast(FsPath, target), "wb") if self._own
                                              else cast(BinaryWriter, target))
        self.snaplen = snaplen
        self._scale = 10 ** 9 if nanosecond else 10 ** 6
        self.count = 0
        magic = MAGIC_NSEC if nanosecond else MAGIC_USEC
        self._file.write(struct.pack("<" + _GLOBAL, magic, VERSION[0], VERSION[1], 0, 0,
                                     snaplen, linktype))

    def write(self, frame: Buffer, timestamp: Optional[float] = None) -> None:
        """Append one frame (bytes-like); ``timestamp`` in seconds, default now."""
        f = self._file
        if f is None:
            raise ValueError("write to a closed pcap Writer")
        data = memoryview(frame).cast("B") if not isinstance(frame, bytes) else frame
        ts = time.time() if timestamp is None else timestamp
        sec = int(ts)
        frac = int(round((ts - sec) * self._scale))
        if frac >= self._scale:
            sec, frac = sec + 1, frac - self._scale
        kept = data[:self.snaplen]
        f.write(struct.pack("<" + _RECORD, sec, frac, len(kept), len(data)))
        f.write(kept)
        self.count += 1

    def flush(self) -> None:
        if self._file is None:
            raise ValueError("flush of a closed pcap Writer")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            if self._own:
                self._file.close()
            else:
                self._file.flush()
            self._file = None

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _header(raw: bytes) -> Tuple[str, int, int, int]:
    if len(raw) < GLOBAL_LEN:
        raise PcapError("not a pcap file: %d bytes, the header alone is %d" % (len(raw), GLOBAL_LEN))
    for order in "<>":
        magic = struct.unpack_from(order + "I", raw)[0]
        if magic in (MAGIC_USEC, MAGIC_NSEC):
            fields = struct.unpack_from(order + _GLOBAL, raw)
            if fields[1:3] != VERSION:
                raise PcapError("pcap version %d.%d, only 2.4 is known" % fields[1:3])
            return order, 10 ** 9 if magic == MAGIC_NSEC else 10 ** 6, fields[5], fields[6]
    if struct.unpack_from("<I", raw)[0] == MAGIC_PCAPNG:
        raise PcapError("this is pcapng; pyxsk reads classic pcap (convert: editcap -F pcap IN OUT)")
    raise PcapError("not a pcap file (magic 0x%08x)" % struct.unpack_from("<I", raw)[0])


def read(source: Union[FsPath, BinaryReader]) -> Iterator[Packet]:
    """Iterate over the :class:`Packet` records of a pcap file (a path or a
    binary file object); :func:`info` gives the header's fields.  Raises
    PcapError for anything malformed, naming the record."""
    own = not hasattr(source, "read")
    f: BinaryReader = open(cast(FsPath, source), "rb") if own else cast(BinaryReader, source)
    try:
        order, scale, snaplen, _linktype = _header(f.read(GLOBAL_LEN))
        rec = struct.Struct(order + _RECORD)
        n = 0
        while True:
            head = f.read(RECORD_LEN)
            if not head:
                return
            if len(head) < RECORD_LEN:
                raise PcapError("record %d: truncated header (%d of %d bytes)" % (n, len(head), RECORD_LEN))
            sec, frac, incl, orig = rec.unpack(head)
            if incl > max(snaplen, 0x40000) or frac >= scale:
                raise PcapError("record %d: corrupt header (length %d, fraction %d)" % (n, incl, frac))
            data = f.read(incl)
            if len(data) < incl:
                raise PcapError("record %d: truncated data (%d of %d bytes)" % (n, len(data), incl))
            yield Packet(sec + frac / scale, data, orig)
            n += 1
    finally:
        if own:
            f.close()


def info(source: Union[FsPath, BinaryReader]) -> Tuple[int, int, bool]:
    """(link type, snapshot length, nanosecond timestamps?) of a pcap file."""
    own = not hasattr(source, "read")
    f: BinaryReader = open(cast(FsPath, source), "rb") if own else cast(BinaryReader, source)
    try:
        _order, scale, snaplen, linktype = _header(f.read(GLOBAL_LEN))
    finally:
        if own:
            f.close()
    return linktype, snaplen, scale == 10 ** 9
