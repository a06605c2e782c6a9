"""Two independent oracles for the kernel ABI, used by the layout tests.

* :func:`gcc_layout` compiles a tiny C program against the installed UAPI
  headers (/usr/include/linux, 6.1 here) and reports sizeof/offsetof/values.
* :class:`Btf` reads the running kernel's own type information
  (/sys/kernel/btf/vmlinux, 6.18 here): struct sizes, member offsets and enum
  values exactly as the kernel that answers our system calls was built.

:func:`ctypes_layout` flattens a ctypes structure the same way, so a test is a
comparison of three dictionaries.
"""

import ctypes
import functools
import os
import shutil
import struct
import subprocess
import tempfile

import pytest

BTF_PATH = "/sys/kernel/btf/vmlinux"


# -- ctypes side --------------------------------------------------------------

def ctypes_layout(cls, prefix="", base=0):
    """{dotted member: (offset, size)} for a ctypes Structure/Union, nested
    structures flattened, anonymous members without a prefix."""
    out = {}
    anonymous = set(getattr(cls, "_anonymous_", ()))
    for field in cls._fields_:
        name, ftype = field[0], field[1]
        desc = getattr(cls, name)
        off = base + desc.offset
        if name in anonymous:
            out.update(ctypes_layout(ftype, prefix, off))
            continue
        out[prefix + name] = (off, ctypes.sizeof(ftype))
        if isinstance(ftype, type) and issubclass(ftype, (ctypes.Structure, ctypes.Union)):
            out.update(ctypes_layout(ftype, prefix + name + ".", off))
    return out


# -- gcc side -----------------------------------------------------------------

def have_gcc():
    return shutil.which("gcc") is not None or shutil.which("cc") is not None


def gcc_layout(headers, structs=(), consts=(), members=None):
    """Compile against ``headers`` and return
    ``{"sizeof": {struct: n}, "offsetof": {(struct, member): n},
    "memberof": {(struct, member): size}, "const": {name: value}}``.

    ``members`` maps a struct name (as written in C, e.g. ``"struct
    sockaddr_xdp"``) to the dotted member names to measure.
    """
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler on this machine: layout check against headers skipped")
    members = members or {}
    lines = ["#define _GNU_SOURCE", "#include <stdio.h>", "#include <stddef.h>"]
    lines += ["#include <%s>" % h for h in headers]
    lines.append("int main(void) {")
    for s in structs:
        lines.append('printf("S\\t%%s\\t%%zu\\n", "%s", sizeof(%s));' % (s, s))
    for s, names in members.items():
        for m in names:
            lines.append('printf("O\\t%%s\\t%%s\\t%%zu\\t%%zu\\n", "%s", "%s", offsetof(%s, %s), '
                         'sizeof(((%s *)0)->%s));' % (s, m, s, m, s, m))
    for c in consts:
        lines.append('printf("C\\t%%s\\t%%lld\\n", "%s", (long long)(%s));' % (c, c))
    lines.append("return 0; }")
    src = "\n".join(lines)
    with tempfile.TemporaryDirectory() as tmp:
        c_path, exe = os.path.join(tmp, "abi.c"), os.path.join(tmp, "abi")
        with open(c_path, "w") as f:
            f.write(src)
        res = subprocess.run([compiler, "-o", exe, c_path], capture_output=True, text=True)
        if res.returncode != 0:
            raise AssertionError("layout program did not compile:\n%s\n%s" % (res.stderr, src))
        out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
    result = {"sizeof": {}, "offsetof": {}, "memberof": {}, "const": {}}
    for line in out.splitlines():
        kind, *rest = line.split("\t")
        if kind == "S":
            result["sizeof"][rest[0]] = int(rest[1])
        elif kind == "O":
            result["offsetof"][(rest[0], rest[1])] = int(rest[2])
            result["memberof"][(rest[0], rest[1])] = int(rest[3])
        else:
            result["const"][rest[0]] = int(rest[1])
    return result


# -- BTF side -----------------------------------------------------------------

# enum btf_kind and the size of the data following each btf_type
_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF, _VOLATILE, _CONST, _RESTRICT = range(1, 12)
_FUNC, _FUNC_PROTO, _VAR, _DATASEC, _FLOAT, _DECL_TAG, _TYPE_TAG, _ENUM64 = range(12, 20)
_MODIFIERS = (_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG)


class Btf:
    """A minimal reader of a BTF blob (include/uapi/linux/btf.h)."""

    def __init__(self, data):
        magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = \
            struct.unpack_from("<HBBIIIII", data, 0)
        if magic != 0xEB9F:
            raise ValueError("not a little-endian BTF blob")
        self.strings = data[hdr_len + str_off: hdr_len + str_off + str_len]
        self.types = [None]           # type id 0 is void
        self.by_name = {}
        self.enums = {}
        pos, end = hdr_len + type_off, hdr_len + type_off + type_len
        while pos < end:
            name_off, info, size_or_type = struct.unpack_from("<III", data, pos)
            pos += 12
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            kflag = info >> 31
            entry = {"name": self._str(name_off), "kind": kind, "size": size_or_type,
                     "kflag": kflag, "members": []}
            if kind == _INT or kind in (_VAR, _DECL_TAG):
                pos += 4
            elif kind == _ARRAY:
                entry["elem"], _index, entry["nelems"] = struct.unpack_from("<III", data, pos)
                pos += 12
            elif kind in (_STRUCT, _UNION):
                for _ in range(vlen):
                    m_name, m_type, m_off = struct.unpack_from("<III", data, pos)
                    pos += 12
                    bit_off = m_off & 0xFFFFFF if kflag else m_off
                    entry["members"].append((self._str(m_name), m_type, bit_off))
            elif kind == _ENUM:
                for _ in range(vlen):   # kflag: a signed enum (else unsigned, as BPF_RINGBUF_BUSY_BIT)
                    e_name, e_val = struct.unpack_from("<Ii" if kflag else "<II", data, pos)
                    pos += 8
                    self.enums.setdefault(self._str(e_name), e_val)
            elif kind == _ENUM64:
                for _ in range(vlen):
                    e_name, lo, hi = struct.unpack_from("<III", data, pos)
                    pos += 12
                    self.enums.setdefault(self._str(e_name), (hi << 32) | lo)
            elif kind in (_FUNC_PROTO,):
                pos += 8 * vlen
            elif kind == _DATASEC:
                pos += 12 * vlen
            self.types.append(entry)
            if entry["name"] and kind in (_STRUCT, _UNION):
                self.by_name.setdefault((kind, entry["name"]), len(self.types) - 1)

    def _str(self, off):
        return self.strings[off: self.strings.index(b"\0", off)].decode()

    def _resolve(self, tid):
        t = self.types[tid]
        while t["kind"] in _MODIFIERS:
            t = self.types[t["size"]]
        return t

    def sizeof(self, tid):
        t = self._resolve(tid)
        if t["kind"] == _ARRAY:
            return self.sizeof(t["elem"]) * t["nelems"]
        if t["kind"] == _PTR:
            return 8
        return t["size"]

    def has(self, name, union=False):
        return ((_UNION if union else _STRUCT), name) in self.by_name

    def layout(self, name, union=False):
        """(size, {dotted member: (offset, size)}) of ``struct name``."""
        tid = self.by_name[((_UNION if union else _STRUCT), name)]
        return self.sizeof(tid), self._members(tid, "", 0)

    def _members(self, tid, prefix, base):
        out = {}
        for m_name, m_type, bit_off in self._resolve(tid)["members"]:
            off = base + bit_off // 8
            inner = self._resolve(m_type)
            if not m_name:   # anonymous struct/union: members belong to the parent
                out.update(self._members(m_type, prefix, off))
                continue
            out[prefix + m_name] = (off, self.sizeof(m_type))
            if inner["kind"] in (_STRUCT, _UNION):
                out.update(self._members(m_type, prefix + m_name + ".", off))
        return out


@functools.lru_cache(maxsize=1)
def kernel_btf():
    """The running kernel's BTF, or skip the test where the kernel has none."""
    try:
        with open(BTF_PATH, "rb") as f:
            data = f.read()
    except OSError as e:
        pytest.skip("no kernel BTF at %s (%s): check against the running kernel skipped"
                    % (BTF_PATH, e.strerror))
    return Btf(data)


def assert_layout(cls, expected_size, expected_members, source):
    """Compare a ctypes class with an oracle's (size, members) for every
    member the ctypes class declares; ``source`` names the oracle."""
    got = ctypes_layout(cls)
    assert ctypes.sizeof(cls) == expected_size, \
        "%s: sizeof %d, %s says %d" % (cls.__name__, ctypes.sizeof(cls), source, expected_size)
    for name, (off, size) in got.items():
        assert name in expected_members, "%s.%s: not in %s" % (cls.__name__, name, source)
        assert (off, size) == expected_members[name], "%s.%s: offset/size %s, %s says %s" % (
            cls.__name__, name, (off, size), source, expected_members[name])
