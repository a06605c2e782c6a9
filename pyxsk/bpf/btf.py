"""BTF, the BPF Type Format: parsed from an object's ``.BTF`` and ``.BTF.ext``
sections, written back for BPF_BTF_LOAD, and built from scratch for
pyxsk's own programs.

The kernel's ``Documentation/bpf/btf.rst`` is the reference.  ``.BTF`` is a
header, then the type records (``struct btf_type`` and a kind-specific
tail), then a string table; type id 0 is ``void`` and has no record.
``.BTF.ext`` holds, per ELF section, the func_info and line_info records
BPF_PROG_LOAD takes with the program: clang writes their ``insn_off`` in
bytes from the start of the section, the kernel wants instructions from the
start of the program (the loader converts).

What the kernel checks and clang leaves to the loader: a DATASEC's size and
its variables' offsets (clang writes 0; they come from the ELF section and
symbols -- :meth:`Btf.fix_datasec`).
"""

from __future__ import annotations

import ctypes
import errno
import struct
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from .. import _libc
from ..errors import ObjectError, syscall_error
from ..uapi import bpf as k
from .syscall import _FdObject

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1

BTF_KIND_UNKN = 0
BTF_KIND_INT = 1
BTF_KIND_PTR = 2
BTF_KIND_ARRAY = 3
BTF_KIND_STRUCT = 4
BTF_KIND_UNION = 5
BTF_KIND_ENUM = 6
BTF_KIND_FWD = 7
BTF_KIND_TYPEDEF = 8
BTF_KIND_VOLATILE = 9
BTF_KIND_CONST = 10
BTF_KIND_RESTRICT = 11
BTF_KIND_FUNC = 12
BTF_KIND_FUNC_PROTO = 13
BTF_KIND_VAR = 14
BTF_KIND_DATASEC = 15
BTF_KIND_FLOAT = 16
BTF_KIND_DECL_TAG = 17
BTF_KIND_TYPE_TAG = 18
BTF_KIND_ENUM64 = 19

BTF_INT_SIGNED = 1 << 0
BTF_FUNC_STATIC = 0
BTF_FUNC_GLOBAL = 1
BTF_VAR_STATIC = 0
BTF_VAR_GLOBAL_ALLOCATED = 1
BTF_VAR_GLOBAL_EXTERN = 2

KIND_NAMES = {
    BTF_KIND_INT: "INT", BTF_KIND_PTR: "PTR", BTF_KIND_ARRAY: "ARRAY", BTF_KIND_STRUCT: "STRUCT",
    BTF_KIND_UNION: "UNION", BTF_KIND_ENUM: "ENUM", BTF_KIND_FWD: "FWD", BTF_KIND_TYPEDEF: "TYPEDEF",
    BTF_KIND_VOLATILE: "VOLATILE", BTF_KIND_CONST: "CONST", BTF_KIND_RESTRICT: "RESTRICT",
    BTF_KIND_FUNC: "FUNC", BTF_KIND_FUNC_PROTO: "FUNC_PROTO", BTF_KIND_VAR: "VAR",
    BTF_KIND_DATASEC: "DATASEC", BTF_KIND_FLOAT: "FLOAT", BTF_KIND_DECL_TAG: "DECL_TAG",
    BTF_KIND_TYPE_TAG: "TYPE_TAG", BTF_KIND_ENUM64: "ENUM64",
}
# the kinds that only qualify or rename another type
_MODIFIERS = frozenset((BTF_KIND_TYPEDEF, BTF_KIND_VOLATILE, BTF_KIND_CONST, BTF_KIND_RESTRICT,
                        BTF_KIND_TYPE_TAG))
# kind -> (bytes after struct btf_type: fixed, per vlen item)
_TAILS: Dict[int, Tuple[str, str]] = {
    BTF_KIND_INT: ("I", ""), BTF_KIND_PTR: ("", ""), BTF_KIND_ARRAY: ("III", ""),
    BTF_KIND_STRUCT: ("", "III"), BTF_KIND_UNION: ("", "III"), BTF_KIND_ENUM: ("", "Ii"),
    BTF_KIND_FWD: ("", ""), BTF_KIND_TYPEDEF: ("", ""), BTF_KIND_VOLATILE: ("", ""),
    BTF_KIND_CONST: ("", ""), BTF_KIND_RESTRICT: ("", ""), BTF_KIND_FUNC: ("", ""),
    BTF_KIND_FUNC_PROTO: ("", "II"), BTF_KIND_VAR: ("I", ""), BTF_KIND_DATASEC: ("", "III"),
    BTF_KIND_FLOAT: ("", ""), BTF_KIND_DECL_TAG: ("i", ""), BTF_KIND_TYPE_TAG: ("", ""),
    BTF_KIND_ENUM64: ("", "III"),
}
_HEADER = struct.Struct("<HBBIIIII")
_TYPE = struct.Struct("<III")
_EXT_HEADER = struct.Struct("<HBBIIIII")
_EXT_SEC = struct.Struct("<II")
_FUNC_INFO = struct.Struct("<II")
_LINE_INFO = struct.Struct("<IIII")
MAX_RESOLVE_DEPTH = 32           # the kernel's MAX_RESOLVE_DEPTH for modifier chains
LOG_SIZE = 1 << 20


class BtfType:
    """One type record: ``kind``, ``name`` (and its ``name_off``), the
    ``vlen`` and ``kind_flag`` of its info word, ``size_type`` (a size or a
    type id, by kind), ``extra`` (the fixed tail: INT encoding, ARRAY
    (type, index_type, nelems), VAR linkage, DECL_TAG component) and
    ``items`` (members, params, enumerators, DATASEC variables).  A FUNC's
    ``vlen`` is its linkage (BTF_FUNC_STATIC, BTF_FUNC_GLOBAL)."""

    __slots__ = ("kind", "name", "name_off", "kind_flag", "size_type", "extra", "items", "vlen")

    def __init__(self, kind: int, name: str, name_off: int, kind_flag: int, size_type: int,
                 extra: Tuple[int, ...] = (), items: Optional[List[Tuple[int, ...]]] = None,
                 vlen: int = 0) -> None:
        self.kind, self.name, self.name_off, self.kind_flag = kind, name, name_off, kind_flag
        self.size_type, self.extra, self.items, self.vlen = size_type, extra, items or [], vlen

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, "kind %d" % self.kind)

    def encode(self) -> bytes:
        fixed, item = _TAILS[self.kind]
        info = (self.kind_flag << 31) | (self.kind << 24) | (len(self.items) if item else self.vlen)
        out = [_TYPE.pack(self.name_off, info, self.size_type)]
        if fixed:
            out.append(struct.pack("<" + fixed, *self.extra))
        for entry in self.items:
            out.append(struct.pack("<" + item, *entry))
        return b"".join(out)

    def __repr__(self) -> str:
        return "<BTF %s %r size_type=%d %d items>" % (self.kind_name, self.name, self.size_type,
                                                      len(self.items))


class Btf:
    """A parsed ``.BTF`` blob: ``types[id]`` (``types[0]`` stands for void),
    the string table, and what the loader asks of them."""

    def __init__(self, types: List[BtfType], strings: bytes) -> None:
        self.types = types
        self.strings = strings

    @classmethod
    def parse(cls, data: bytes, what: str = ".BTF") -> Btf:
        if len(data) < _HEADER.size:
            raise ObjectError("%s: %d bytes, shorter than its header" % (what, len(data)))
        magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = _HEADER.unpack_from(data)
        if magic != BTF_MAGIC:
            raise ObjectError("%s: magic %#x, not %#x (big-endian BTF is not supported)" % (
                what, magic, BTF_MAGIC))
        if version != BTF_VERSION:
            raise ObjectError("%s: version %d, pyxsk reads version %d" % (what, version, BTF_VERSION))
        if hdr_len < _HEADER.size or hdr_len + max(type_off + type_len, str_off + str_len) > len(data):
            raise ObjectError("%s: header says %d + %d..%d bytes, the section has %d" % (
                what, hdr_len, type_off, max(type_off + type_len, str_off + str_len), len(data)))
        strings = data[hdr_len + str_off: hdr_len + str_off + str_len]
        if strings[:1] not in (b"\0", b"") or (strings and strings[-1:] != b"\0"):
            raise ObjectError("%s: the string table must start and end with a NUL" % what)
        raw = data[hdr_len + type_off: hdr_len + type_off + type_len]
        types = [BtfType(BTF_KIND_UNKN, "", 0, 0, 0)]
        types.extend(_parse_types(raw, strings, what))
        return cls(types, strings)

    # strings
    def string(self, offset: int, what: str = ".BTF") -> str:
        return _string(self.strings, offset, what)

    def add_string(self, text: str) -> int:
        """The offset of ``text`` in the string table, appending it if new."""
        raw = text.encode() + b"\0"
        found = self.strings.find(b"\0" + raw) + 1 if text else 0
        if text and found == 0:
            found = len(self.strings)
            self.strings += raw
        return found

    # types
    def get(self, type_id: int, what: str) -> BtfType:
        if not 0 < type_id < len(self.types):
            raise ObjectError("%s: type id %d is not in .BTF (%d types)" % (what, type_id, len(self.types) - 1))
        return self.types[type_id]

    def skip_modifiers(self, type_id: int, what: str) -> Tuple[int, BtfType]:
        """Follow typedef/const/volatile/restrict/type_tag to the type they qualify."""
        for _ in range(MAX_RESOLVE_DEPTH):
            t = self.get(type_id, what)
            if t.kind not in _MODIFIERS:
                return type_id, t
            type_id = t.size_type
        raise ObjectError("%s: a chain of more than %d typedefs/qualifiers" % (what, MAX_RESOLVE_DEPTH))

    def size_of(self, type_id: int, what: str) -> int:
        """The size in bytes of a type, as the kernel computes it."""
        for _ in range(MAX_RESOLVE_DEPTH):
            type_id, t = self.skip_modifiers(type_id, what)
            if t.kind in (BTF_KIND_INT, BTF_KIND_STRUCT, BTF_KIND_UNION, BTF_KIND_ENUM,
                          BTF_KIND_ENUM64, BTF_KIND_FLOAT, BTF_KIND_DATASEC):
                return t.size_type
            if t.kind == BTF_KIND_PTR:
                return 8
            if t.kind == BTF_KIND_ARRAY:
                elem, _index, nelems = t.extra
                return nelems * self.size_of(elem, what)
            if t.kind == BTF_KIND_VAR:
                type_id = t.size_type
                continue
            raise ObjectError("%s: type %d (%s %r) has no size" % (what, type_id, t.kind_name, t.name))
        raise ObjectError("%s: type %d nests deeper than %d" % (what, type_id, MAX_RESOLVE_DEPTH))

    def find(self, kind: int, name: str) -> Optional[int]:
        for i, t in enumerate(self.types):
            if i and t.kind == kind and t.name == name:
                return i
        return None

    def datasecs(self) -> Iterator[Tuple[int, BtfType]]:
        return ((i, t) for i, t in enumerate(self.types) if i and t.kind == BTF_KIND_DATASEC)

    def fix_datasec(self, type_id: int, size: int, offsets: Dict[str, int], what: str) -> None:
        """Fill a DATASEC's size and its variables' offsets from the ELF
        section and symbols (clang leaves them 0); the kernel wants the
        variables sorted by offset, each inside the section."""
        sec = self.types[type_id]
        sec.size_type = size
        items = []
        for var_id, offset, var_size in sec.items:
            var = self.get(var_id, what)
            if var.kind != BTF_KIND_VAR:
                items.append((var_id, offset, var_size))
                continue
            if var.name not in offsets:
                raise ObjectError("%s: variable %r of DATASEC %r has no symbol in the section" % (
                    what, var.name, sec.name))
            items.append((var_id, offsets[var.name], var_size))
        sec.items = sorted(items, key=lambda item: item[1])

    def encode(self) -> bytes:
        """The blob BPF_BTF_LOAD takes: header, type records, strings."""
        types = b"".join(t.encode() for t in self.types[1:])
        header = _HEADER.pack(BTF_MAGIC, BTF_VERSION, 0, _HEADER.size, 0, len(types), len(types),
                              len(self.strings))
        return header + types + self.strings


def _string(table: bytes, offset: int, what: str) -> str:
    end = table.find(b"\0", offset)
    if not 0 <= offset < len(table) or end < 0:
        raise ObjectError("%s: string offset %d is outside the string table (%d bytes)" % (
            what, offset, len(table)))
    try:
        return table[offset:end].decode()
    except UnicodeDecodeError:
        raise ObjectError("%s: string at offset %d is not UTF-8" % (what, offset)) from None


def _parse_types(raw: bytes, strings: bytes, what: str) -> Iterator[BtfType]:
    pos, type_id = 0, 1
    while pos < len(raw):
        if pos + _TYPE.size > len(raw):
            raise ObjectError("%s: type %d is cut short" % (what, type_id))
        name_off, info, size_type = _TYPE.unpack_from(raw, pos)
        pos += _TYPE.size
        kind, vlen, kind_flag = (info >> 24) & 0x1f, info & 0xffff, info >> 31
        if kind not in _TAILS:
            raise ObjectError("%s: type %d has kind %d, which pyxsk does not know" % (what, type_id, kind))
        fixed, item = _TAILS[kind]
        need = struct.calcsize("<" + fixed) + vlen * struct.calcsize("<" + item)
        if pos + need > len(raw):
            raise ObjectError("%s: type %d (%s) is cut short" % (what, type_id, KIND_NAMES[kind]))
        extra: Tuple[int, ...] = struct.unpack_from("<" + fixed, raw, pos) if fixed else ()
        pos += struct.calcsize("<" + fixed)
        items = []
        if item:
            step = struct.calcsize("<" + item)
            items = [struct.unpack_from("<" + item, raw, pos + i * step) for i in range(vlen)]
            pos += vlen * step
        name = _string(strings, name_off, "%s type %d" % (what, type_id))
        yield BtfType(kind, name, name_off, kind_flag, size_type, extra, items, vlen)
        type_id += 1


class FuncInfo(NamedTuple):
    """struct bpf_func_info: the function (BTF FUNC id) starting at ``insn_off``."""
    insn_off: int
    type_id: int


class LineInfo(NamedTuple):
    """struct bpf_line_info: the source line of the instruction at ``insn_off``
    (file name and line text as string offsets; line << 10 | column)."""
    insn_off: int
    file_name_off: int
    line_off: int
    line_col: int


class BtfExt(NamedTuple):
    """``.BTF.ext``: func_info and line_info by ELF section name, offsets in bytes."""
    func_info: Dict[str, List[FuncInfo]]
    line_info: Dict[str, List[LineInfo]]

    @classmethod
    def parse(cls, data: bytes, btf: Btf, what: str = ".BTF.ext") -> BtfExt:
        if len(data) < 8:
            raise ObjectError("%s: %d bytes, shorter than its header" % (what, len(data)))
        magic, version, _flags, hdr_len = struct.unpack_from("<HBBI", data)
        if magic != BTF_MAGIC or version != BTF_VERSION:
            raise ObjectError("%s: magic %#x version %d, not %#x version %d" % (
                what, magic, version, BTF_MAGIC, BTF_VERSION))
        if hdr_len < _EXT_HEADER.size or hdr_len > len(data):
            raise ObjectError("%s: header of %d bytes in a section of %d" % (what, hdr_len, len(data)))
        _, _, _, _, func_off, func_len, line_off, line_len = _EXT_HEADER.unpack_from(data)
        if hdr_len >= _EXT_HEADER.size + 8:
            _core_off, core_len = struct.unpack_from("<II", data, _EXT_HEADER.size)
            if core_len:
                raise ObjectError("%s: the object has CO-RE relocations (BPF_CORE_READ, "
                                  "preserve_access_index), which pyxsk does not apply" % what)
        body = data[hdr_len:]
        funcs = _ext_records(body, func_off, func_len, _FUNC_INFO, btf, what + " func_info")
        lines = _ext_records(body, line_off, line_len, _LINE_INFO, btf, what + " line_info")
        return cls({sec: sorted(FuncInfo(*r) for r in recs) for sec, recs in funcs.items()},
                   {sec: sorted(LineInfo(*r) for r in recs) for sec, recs in lines.items()})


def _ext_records(body: bytes, offset: int, length: int, record: struct.Struct, btf: Btf,
                 what: str) -> Dict[str, List[Tuple[int, ...]]]:
    """One .BTF.ext subsection: a record size, then per section its name and records."""
    if not length:
        return {}
    if offset + length > len(body) or length < 4:
        raise ObjectError("%s: %d bytes at %d, beyond the section" % (what, length, offset))
    data = body[offset: offset + length]
    rec_size = struct.unpack_from("<I", data)[0]
    if rec_size < record.size:
        raise ObjectError("%s: records of %d bytes, at least %d expected" % (what, rec_size, record.size))
    out: Dict[str, List[Tuple[int, ...]]] = {}
    pos = 4
    while pos < len(data):
        if pos + _EXT_SEC.size > len(data):
            raise ObjectError("%s: a section entry is cut short" % what)
        name_off, count = _EXT_SEC.unpack_from(data, pos)
        pos += _EXT_SEC.size
        if pos + count * rec_size > len(data):
            raise ObjectError("%s: %d records of %d bytes run past the end" % (what, count, rec_size))
        sec = btf.string(name_off, what)
        out.setdefault(sec, []).extend(record.unpack_from(data, pos + i * rec_size) for i in range(count))
        pos += count * rec_size
    return out


class BtfBuilder:
    """Types for a BTF blob written from scratch: what pyxsk's own programs
    carry so that bpftool, xdpdump and prog arrays see a named function."""

    def __init__(self) -> None:
        self.btf = Btf([BtfType(BTF_KIND_UNKN, "", 0, 0, 0)], b"\0")

    def _add(self, kind: int, name: str, size_type: int, extra: Tuple[int, ...] = (),
             items: Optional[List[Tuple[int, ...]]] = None, vlen: int = 0) -> int:
        self.btf.types.append(BtfType(kind, name, self.btf.add_string(name), 0, size_type,
                                      extra, items, vlen))
        return len(self.btf.types) - 1

    def int_type(self, name: str, size: int, signed: bool) -> int:
        return self._add(BTF_KIND_INT, name, size, ((BTF_INT_SIGNED if signed else 0) << 24 | size * 8,))

    def struct_fwd(self, name: str) -> int:
        return self._add(BTF_KIND_FWD, name, 0)

    def pointer(self, type_id: int) -> int:
        return self._add(BTF_KIND_PTR, "", type_id)

    def func(self, name: str, ret: int, params: Sequence[Tuple[str, int]],
             linkage: int = BTF_FUNC_GLOBAL) -> int:
        proto = self._add(BTF_KIND_FUNC_PROTO, "", ret,
                          items=[(self.btf.add_string(n), t) for n, t in params])
        return self._add(BTF_KIND_FUNC, name, proto, vlen=linkage)


def program_btf(name: str, context: str) -> Tuple[Btf, int]:
    """BTF for a program ``int name(struct <context> *ctx)``: (btf, FUNC id)."""
    builder = BtfBuilder()
    int_id = builder.int_type("int", 4, True)
    ctx = builder.pointer(builder.struct_fwd(context))
    return builder.btf, builder.func(name, int_id, [("ctx", ctx)])


class BtfObject(_FdObject):
    """A BTF blob loaded into the kernel (BPF_BTF_LOAD): maps and programs
    refer to its types by id through this fd."""

    _what = "BTF object"

    def __init__(self, blob: bytes, what: str = "BTF") -> None:
        super().__init__(-1)
        self._fd = _btf_load(blob, what)

    def info_id(self) -> int:
        info = k.bpf_btf_info()
        attr = k.bpf_attr_info(bpf_fd=self.fileno(), info_len=ctypes.sizeof(info),
                               info=ctypes.addressof(info))
        ret, err = _libc.raw_bpf(k.BPF_OBJ_GET_INFO_BY_FD, attr)
        if ret < 0:
            raise syscall_error(err, "bpf(BPF_OBJ_GET_INFO_BY_FD, BTF)")
        return info.id


def _btf_load(blob: bytes, what: str) -> int:
    buf = ctypes.create_string_buffer(blob, len(blob))
    attr = k.bpf_attr_btf_load(btf=ctypes.addressof(buf), btf_size=len(blob))
    ret, err = _libc.raw_bpf(k.BPF_BTF_LOAD, attr)
    if ret >= 0:
        return ret
    log = ctypes.create_string_buffer(LOG_SIZE)
    attr.btf_log_buf, attr.btf_log_size, attr.btf_log_level = ctypes.addressof(log), LOG_SIZE, 1
    ret, err2 = _libc.raw_bpf(k.BPF_BTF_LOAD, attr)
    if ret >= 0:
        return ret
    text = log.value.decode(errors="replace").strip()
    last = text.splitlines()[-3:] if text else []
    hint = "the kernel refused this BTF: %s" % " | ".join(last) if last else \
        "the kernel refused this BTF" if err != errno.EPERM else "loading BTF needs CAP_BPF"
    raise syscall_error(err2 or err, "bpf(BPF_BTF_LOAD, %s, %d bytes)" % (what, len(blob)), hint)
