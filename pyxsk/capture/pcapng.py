"""pcapng capture files (Wireshark's default format), read and written in pure Python.

A file is a sequence of blocks: type (u32), total length (u32), body, the
total length again; bodies and option values are padded to 4 bytes.  A
Section Header Block (SHB) opens each section and fixes its byte order (the
byte-order magic 0x1A2B3C4D); Interface Description Blocks (IDB) number the
section's interfaces from 0, each with its link type, snap length and
timestamp resolution (``if_tsresol``: 10^-n, or 2^-n when the top bit is
set; 10^-6 when absent); Enhanced Packet Blocks (EPB) carry a frame, its
interface, a 64-bit timestamp in that resolution, and options (flags,
comment, queue...).  The reference is draft-ietf-opsawg-pcapng.

:class:`Writer` writes one section with nanosecond interfaces; :func:`read`
reads every section of files written by pyxsk, tshark, dumpcap or editcap
(EPB, Simple Packet Blocks and the obsolete Packet Block), skipping blocks
and options it does not use.  Interfaces whose link type is not Ethernet are
refused when one of their frames is read: pyxsk sends and dissects Ethernet.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union, cast

from ..errors import PcapError
from .pcap import DEFAULT_SNAPLEN, LINKTYPE_ETHERNET, BinaryReader, BinaryWriter, FsPath

BLOCK_SHB = 0x0A0D0D0A
BLOCK_IDB = 0x00000001
BLOCK_PB = 0x00000002            # obsolete Packet Block
BLOCK_SPB = 0x00000003
BLOCK_EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D

OPT_ENDOFOPT = 0
OPT_COMMENT = 1
SHB_OS = 3
SHB_USERAPPL = 4
IF_NAME = 2
IF_TSRESOL = 9
IF_TSOFFSET = 14
EPB_FLAGS = 2
EPB_QUEUE = 6

EPB_INBOUND = 1                  # epb_flags bits 0-1: direction
EPB_OUTBOUND = 2
NSEC_RESOL = 9
MAX_BLOCK = 1 << 28              # larger is a corrupt length (a frame is at most 256 KiB)


class Interface(NamedTuple):
    """An interface of a section: name, link type, snap length, and its
    timestamp unit in nanoseconds' terms (units per second) and offset."""
    name: str
    linktype: int = LINKTYPE_ETHERNET
    snaplen: int = DEFAULT_SNAPLEN
    units_per_second: int = 10 ** 9
    offset_seconds: int = 0


class Record(NamedTuple):
    """A frame read from a pcapng file: ``interface`` index in its section,
    ``timestamp_ns`` since the epoch, the captured ``data``, ``orig_len`` on
    the wire, ``flags`` (epb_flags or None), ``comment`` and ``queue``."""
    interface: int
    timestamp_ns: int
    data: bytes
    orig_len: int
    flags: Optional[int] = None
    comment: Optional[str] = None
    queue: Optional[int] = None

    @property
    def timestamp(self) -> float:
        return self.timestamp_ns / 1e9


def _pad(n: int) -> int:
    return -n % 4


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * _pad(len(value))


def _options(items: Sequence[Tuple[int, bytes]]) -> bytes:
    if not items:
        return b""
    return b"".join(_option(code, value) for code, value in items) + _option(OPT_ENDOFOPT, b"")


def _block(block_type: int, body: bytes) -> bytes:
    body += b"\0" * _pad(len(body))
    total = len(body) + 12
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


class Writer:
    """Writes a pcapng file: one section, the ``interfaces`` given (names;
    Ethernet, nanosecond timestamps), then :meth:`write` per frame.  Every
    write goes straight to the file object (buffered by it); ``flush()``
    and ``close()`` as for files."""

    def __init__(self, target: Union[FsPath, BinaryWriter], interfaces: Sequence[str] = ("eth0",),
                 snaplen: int = DEFAULT_SNAPLEN, application: str = "pyxsk") -> None:
        if not interfaces:
            raise ValueError("a pcapng file needs at least one interface")
        if isinstance(target, (str, bytes, os.PathLike)):
            self._file: Optional[BinaryWriter] = cast(BinaryWriter, open(target, "wb"))
            self._owned = True
        else:
            self._file, self._owned = target, False
        self.snaplen = snaplen
        self.interfaces = list(interfaces)
        self._write(_block(BLOCK_SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options([
            (SHB_USERAPPL, application.encode()), (SHB_OS, sys.platform.encode())])))
        for name in self.interfaces:
            self._write(_block(BLOCK_IDB, struct.pack("<HHI", LINKTYPE_ETHERNET, 0, snaplen) + _options([
                (IF_NAME, name.encode()), (IF_TSRESOL, bytes([NSEC_RESOL]))])))

    def _write(self, data: bytes) -> None:
        if self._file is None:
            raise ValueError("write to a closed pcapng.Writer")
        self._file.write(data)

    def write(self, frame: Union[bytes, bytearray, memoryview], timestamp_ns: Optional[int] = None,
              interface: int = 0, orig_len: Optional[int] = None, flags: Optional[int] = None,
              comment: Optional[str] = None, queue: Optional[int] = None) -> None:
        """One Enhanced Packet Block: ``frame`` cut to the snap length,
        ``timestamp_ns`` (default: now), the ``flags`` word (EPB_INBOUND...),
        a ``comment`` (e.g. the XDP action) and the receive ``queue``."""
        if not 0 <= interface < len(self.interfaces):
            raise ValueError("interface %d: the file has %d" % (interface, len(self.interfaces)))
        data = bytes(frame[:self.snaplen])
        ts = timestamp_ns if timestamp_ns is not None else _now_ns()
        opts: List[Tuple[int, bytes]] = []
        if flags is not None:
            opts.append((EPB_FLAGS, struct.pack("<I", flags)))
        if comment is not None:
            opts.append((OPT_COMMENT, comment.encode()))
        if queue is not None:
            opts.append((EPB_QUEUE, struct.pack("<I", queue)))
        head = struct.pack("<IIIII", interface, ts >> 32, ts & 0xFFFFFFFF, len(data),
                           len(frame) if orig_len is None else orig_len)
        self._write(_block(BLOCK_EPB, head + data + b"\0" * _pad(len(data)) + _options(opts)))

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.flush()
            if self._owned:
                f.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _now_ns() -> int:
    return time.time_ns()


class _Section:
    """What a section fixes for the blocks after its header: byte order and interfaces."""

    def __init__(self, order: str) -> None:
        self.order = order
        self.interfaces: List[Interface] = []


def read(source: Union[FsPath, BinaryReader]) -> Iterator[Record]:
    """The frames of a pcapng file (a path or a binary file object), in
    file order, across every section.  A malformed file raises PcapError."""
    f = cast(BinaryReader, open(source, "rb")) if isinstance(source, (str, bytes, os.PathLike)) else source
    try:
        yield from _records(f)
    finally:
        if f is not source:
            f.close()


def interfaces(source: Union[FsPath, BinaryReader]) -> List[Interface]:
    """The interfaces every section of the file describes, in order."""
    found: List[Interface] = []
    f = cast(BinaryReader, open(source, "rb")) if isinstance(source, (str, bytes, os.PathLike)) else source
    try:
        for section, block_type, body in _blocks(f):
            if block_type == BLOCK_IDB:
                found.append(section.interfaces[-1])
    finally:
        if f is not source:
            f.close()
    return found


def _records(f: BinaryReader) -> Iterator[Record]:
    for section, block_type, body in _blocks(f):
        if block_type == BLOCK_EPB:
            yield _epb(section, body)
        elif block_type == BLOCK_SPB:
            yield _spb(section, body)
        elif block_type == BLOCK_PB:
            yield _pb(section, body)


def _blocks(f: BinaryReader) -> Iterator[Tuple[_Section, int, bytes]]:
    """Every block as (its section, type, body); IDBs are added to the section first."""
    section: Optional[_Section] = None
    while True:
        head = f.read(8)
        if not head:
            return
        if len(head) < 8:
            raise PcapError("pcapng: a block header is cut short (%d bytes)" % len(head))
        if struct.unpack("<I", head[:4])[0] == BLOCK_SHB:
            section, body = _shb(f, head)
            yield section, BLOCK_SHB, body
            continue
        if section is None:
            raise PcapError("not a pcapng file: it does not start with a section header block")
        block_type, total = struct.unpack(section.order + "II", head)
        body = _body(f, total)
        if struct.unpack(section.order + "I", body[-4:])[0] != total:
            raise PcapError("pcapng: block of type %#x: its trailing length differs from %d"
                            % (block_type, total))
        body = body[:-4]
        if block_type == BLOCK_IDB:
            section.interfaces.append(_idb(section.order, body))
        yield section, block_type, body


def _body(f: BinaryReader, total: int) -> bytes:
    if total < 12 or total % 4 or total > MAX_BLOCK:
        raise PcapError("pcapng: block length %d is not a multiple of 4 between 12 and %d"
                        % (total, MAX_BLOCK))
    body = f.read(total - 8)
    if len(body) != total - 8:
        raise PcapError("pcapng: a block of %d bytes is cut short at %d" % (total, len(body) + 8))
    return body


def _shb(f: BinaryReader, head: bytes) -> Tuple[_Section, bytes]:
    magic = f.read(4)
    if len(magic) < 4:
        raise PcapError("pcapng: the section header block is cut short")
    if struct.unpack("<I", magic)[0] == BYTE_ORDER_MAGIC:
        order = "<"
    elif struct.unpack(">I", magic)[0] == BYTE_ORDER_MAGIC:
        order = ">"
    else:
        raise PcapError("pcapng: byte-order magic %s is neither byte order of 0x1A2B3C4D" % magic.hex())
    total = struct.unpack(order + "I", head[4:])[0]
    rest = _body(f, total - 4)
    major = struct.unpack(order + "H", rest[:2])[0]
    if major != 1:
        raise PcapError("pcapng: section version %d, pyxsk reads version 1" % major)
    return _Section(order), magic + rest[:-4]


def _options_of(order: str, raw: bytes, what: str) -> Dict[int, bytes]:
    """The options of a block (the first value of each code)."""
    out: Dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(raw):
        code, length = struct.unpack_from(order + "HH", raw, pos)
        pos += 4
        if code == OPT_ENDOFOPT:
            break
        if pos + length > len(raw):
            raise PcapError("pcapng: %s option %d runs past its block" % (what, code))
        out.setdefault(code, raw[pos:pos + length])
        pos += length + _pad(length)
    return out


def _number(fmt: str, value: Optional[bytes]) -> Optional[int]:
    """An option's number, or None when absent or too short for ``fmt``."""
    if value is None or len(value) < struct.calcsize(fmt):
        return None
    number: int = struct.unpack_from(fmt, value)[0]
    return number


def _idb(order: str, body: bytes) -> Interface:
    if len(body) < 8:
        raise PcapError("pcapng: an interface description block is cut short")
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
    opts = _options_of(order, body[8:], "interface")
    name = opts.get(IF_NAME, b"").decode(errors="replace")
    resol = opts.get(IF_TSRESOL, b"\x06")[:1] or b"\x06"
    exp = resol[0] & 0x7F
    if exp > 60:
        raise PcapError("pcapng: interface %r has if_tsresol %#x, beyond what pyxsk reads" % (name, resol[0]))
    units = 2 ** exp if resol[0] & 0x80 else 10 ** exp
    offset = _number(order + "q", opts.get(IF_TSOFFSET)) or 0
    return Interface(name, linktype, snaplen, units, offset)


def _interface(section: _Section, index: int) -> Interface:
    if not 0 <= index < len(section.interfaces):
        raise PcapError("pcapng: a packet names interface %d; the section describes %d" % (
            index, len(section.interfaces)))
    iface = section.interfaces[index]
    if iface.linktype != LINKTYPE_ETHERNET:
        raise PcapError("pcapng: interface %d (%r) has link type %d, not Ethernet (1): pyxsk handles "
                        "Ethernet frames only" % (index, iface.name, iface.linktype))
    return iface


def _ns(iface: Interface, high: int, low: int) -> int:
    units = (high << 32) | low
    return iface.offset_seconds * 10 ** 9 + units * 10 ** 9 // iface.units_per_second


def _epb(section: _Section, body: bytes) -> Record:
    if len(body) < 20:
        raise PcapError("pcapng: an enhanced packet block is cut short")
    index, high, low, caplen, orig_len = struct.unpack_from(section.order + "IIIII", body)
    iface = _interface(section, index)
    if 20 + caplen > len(body):
        raise PcapError("pcapng: a packet of %d captured bytes runs past its block" % caplen)
    opts = _options_of(section.order, body[20 + caplen + _pad(caplen):], "packet")
    flags = _number(section.order + "I", opts.get(EPB_FLAGS))
    queue = _number(section.order + "I", opts.get(EPB_QUEUE))
    comment = opts[OPT_COMMENT].decode(errors="replace") if OPT_COMMENT in opts else None
    return Record(index, _ns(iface, high, low), body[20:20 + caplen], orig_len, flags, comment, queue)


def _spb(section: _Section, body: bytes) -> Record:
    if len(body) < 4:
        raise PcapError("pcapng: a simple packet block is cut short")
    iface = _interface(section, 0)
    orig_len = struct.unpack_from(section.order + "I", body)[0]
    caplen = min(orig_len, iface.snaplen or orig_len, len(body) - 4)
    return Record(0, 0, body[4:4 + caplen], orig_len)


def _pb(section: _Section, body: bytes) -> Record:
    if len(body) < 20:
        raise PcapError("pcapng: a packet block is cut short")
    index, _drops, high, low, caplen, orig_len = struct.unpack_from(section.order + "HHIIII", body)
    iface = _interface(section, index)
    if 20 + caplen > len(body):
        raise PcapError("pcapng: a packet of %d captured bytes runs past its block" % caplen)
    return Record(index, _ns(iface, high, low), body[20:20 + caplen], orig_len)


def is_pcapng(head: bytes) -> bool:
    """Whether a file starting with ``head`` (4 bytes or more) is pcapng."""
    return len(head) >= 4 and struct.unpack("<I", head[:4])[0] == BLOCK_SHB


__all__ = ["Writer", "Record", "Interface", "read", "interfaces", "is_pcapng",
           "EPB_INBOUND", "EPB_OUTBOUND"]
