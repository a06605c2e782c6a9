"""BPF objects built by clang (``clang -O2 -g -target bpf -c prog.c``),
loaded without libbpf: parse with :func:`open_object`, load with
:meth:`ObjectFile.load` (or :func:`load_object` for both).

What loading does, in libbpf's order:

1. ``.BTF`` gets the DATASEC sizes and variable offsets clang leaves to the
   loader and goes to the kernel (BPF_BTF_LOAD).
2. Maps are created: BTF-defined ones from ``.maps`` (``__uint``,
   ``__type``, ``__array``, ``pinning``), legacy ``struct bpf_map_def`` ones
   from ``maps``, and one single-element ARRAY per global data section
   (``.data``, ``.rodata``, ``.bss``, ``.rodata.str1.1``...) holding the
   section's bytes, ``.rodata`` frozen after its ``const volatile``
   variables got the values given to ``load``.
3. Each program is linked: the functions it calls (static or global, in
   ``.text`` or in its own section) are appended after it and each call's
   offset patched; map references become BPF_PSEUDO_MAP_FD, global data
   references BPF_PSEUDO_MAP_VALUE with the offset in the second half of
   the ld_imm64; func_info and line_info follow the functions.
4. PROG_ARRAY and map-in-map slots declared with initial values get them.

Anything pyxsk does not support (CO-RE relocations, externs, kfuncs, BTF
ids of kernel functions) raises :class:`~pyxsk.errors.ObjectError` naming
the section and the record, before the kernel is asked.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import warnings
from typing import Any, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Tuple, Union

from ..errors import ObjectError
from ..uapi import bpf as k
from . import btf as _btf, elf
from .btf import Btf, BtfExt, BtfObject, FuncInfo, LineInfo
from .maps import Map, create_map, possible_cpus
from .programs import Prog, load
from .sections import ProgTypeLike, SectionType, section_type
from .syscall import _sys_bpf

INSN = 8
_LD_IMM64 = k.BPF_LD | k.BPF_IMM | k.BPF_DW
_CALL = k.BPF_JMP | k.BPF_CALL
_MAP_DEF = struct.Struct("<IIIII")         # struct bpf_map_def (legacy "maps" section)
LIBBPF_PIN_NONE = 0
LIBBPF_PIN_BY_NAME = 1
DEFAULT_PIN_ROOT = "/sys/fs/bpf"
_DATA_PREFIXES = (".data", ".rodata", ".bss")
# map types the kernel takes no key/value BTF for (libbpf drops it for them too)
_NO_BTF_TYPES = frozenset((
    k.BPF_MAP_TYPE_PERF_EVENT_ARRAY, k.BPF_MAP_TYPE_CGROUP_ARRAY, k.BPF_MAP_TYPE_STACK_TRACE,
    k.BPF_MAP_TYPE_ARRAY_OF_MAPS, k.BPF_MAP_TYPE_HASH_OF_MAPS, k.BPF_MAP_TYPE_DEVMAP,
    k.BPF_MAP_TYPE_DEVMAP_HASH, k.BPF_MAP_TYPE_CPUMAP, k.BPF_MAP_TYPE_XSKMAP, k.BPF_MAP_TYPE_SOCKMAP,
    k.BPF_MAP_TYPE_SOCKHASH, k.BPF_MAP_TYPE_QUEUE, k.BPF_MAP_TYPE_STACK, k.BPF_MAP_TYPE_RINGBUF,
    k.BPF_MAP_TYPE_PROG_ARRAY))
_MAP_IN_MAP = (k.BPF_MAP_TYPE_ARRAY_OF_MAPS, k.BPF_MAP_TYPE_HASH_OF_MAPS)
# the fields of a BTF map definition that are numbers (__uint(name, value))
_UINT_FIELDS = ("type", "max_entries", "key_size", "value_size", "map_flags", "numa_node",
                "map_extra", "pinning")

Constant = Union[int, bytes, bytearray, memoryview]


class MapSpec(NamedTuple):
    """A map as the object declares it.  ``kind``: "btf" (``.maps``),
    "legacy" (``maps``) or "data" (a global data section, whose bytes are
    ``data``).  ``init``: slot -> the program or map name a PROG_ARRAY or
    map-in-map slot starts with.  ``inner``: the inner map of a map-in-map."""
    name: str
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    pinning: int = LIBBPF_PIN_NONE
    numa_node: int = 0
    map_extra: int = 0
    kind: str = "btf"
    section: str = ".maps"
    offset: int = 0                      # where its definition (or data) sits in the section
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    inner: Optional[MapSpec] = None
    init: Tuple[Tuple[int, str], ...] = ()
    values_offset: int = -1              # where __array(values) starts in the definition
    data: bytes = b""
    kernel_name: str = ""


class ProgramSpec(NamedTuple):
    """A program: its function, section, and what BPF_PROG_LOAD will be told.
    ``autoload`` is False for a section named ``?...``: libbpf's way of saying
    "load it only when asked" (:meth:`ObjectFile.load`'s ``programs``)."""
    name: str
    section: str
    prog_type: int
    expected_attach_type: int
    flags: int
    insn_count: int
    autoload: bool = True


class Variable(NamedTuple):
    """A global variable of a data section (``const volatile`` ones in .rodata)."""
    name: str
    section: str
    offset: int
    size: int


class _Func(NamedTuple):
    """A function of an executable section, in instructions."""
    section: int
    name: str
    start: int
    length: int


class _Reloc(NamedTuple):
    """A patch of the function's instruction ``index``: kind "map" (target a
    map name), "data" (a data section map name + offset), "call" or "func"
    (target (section, instruction))."""
    at: int
    kind: str
    map: str = ""
    offset: int = 0
    target: Tuple[int, int] = (0, 0)


def _object_name(path: str) -> str:
    """libbpf's object name: the file name up to its first dot."""
    return os.path.basename(path).split(".", 1)[0] or "obj"


def _internal_map_name(obj_name: str, section: str) -> str:
    """The kernel name libbpf gives a global data map: as much of the object
    name as fits before the section name ("prog.rodata"), the section name
    alone when it has a dot of its own (".rodata.str1.1")."""
    suffix = min(max(7, len(section)), k.BPF_OBJ_NAME_LEN - 1)
    prefix = 0 if "." in section[1:] else min(k.BPF_OBJ_NAME_LEN - suffix - 1, len(obj_name))
    name = (obj_name[:prefix] + section[:suffix])[:k.BPF_OBJ_NAME_LEN - 1]
    return "".join(c if c.isalnum() or c in "_." else "_" for c in name)


def _is_data_section(sec: elf.Section) -> bool:
    return bool(sec.flags & elf.SHF_ALLOC) and not sec.executable and any(
        sec.name == p or sec.name.startswith(p + ".") for p in _DATA_PREFIXES)


class ObjectFile:
    """A parsed BPF object: ``programs``, ``maps`` and ``variables`` by name,
    ``license`` and ``kern_version``; nothing is loaded until :meth:`load`."""

    def __init__(self, data: bytes, path: str = "<bytes>", prog_type: ProgTypeLike = None) -> None:
        self.path = path
        self.name = _object_name(path)
        self.elf = elf.ElfFile(data, path)
        self.btf: Optional[Btf] = None
        self.ext: Optional[BtfExt] = None
        self._read_btf()
        self.license = self._license()
        self.kern_version = self._version()
        self.data_sections = {s.number: s for s in self.elf.sections if _is_data_section(s)}
        self.maps: Dict[str, MapSpec] = {}
        self._read_data_maps()
        self._read_legacy_maps()
        self._read_btf_maps()
        self.variables = self._read_variables()
        self._funcs = self._read_functions()
        self._relocs = self._read_relocations()
        self.programs = self._read_programs(prog_type)

    # reading
    def _where(self, what: str) -> str:
        return "%s: %s" % (self.path, what)

    def _read_btf(self) -> None:
        sec = self.elf.get(".BTF")
        if sec is None:
            return
        self.btf = Btf.parse(sec.data, self._where(".BTF"))
        ext = self.elf.get(".BTF.ext")
        if ext is not None:
            self.ext = BtfExt.parse(ext.data, self.btf, self._where(".BTF.ext"))
        self._fix_datasecs()

    def _fix_datasecs(self) -> None:
        assert self.btf is not None
        for type_id, t in self.btf.datasecs():
            sec = self.elf.get(t.name)
            if sec is None:
                raise ObjectError(self._where("BTF DATASEC %r has no ELF section: externs "
                                              "(.kconfig, .ksyms) are not supported" % t.name))
            offsets = {s.name: s.value for s in self.elf.symbols_in(sec.number)}
            for var_id, offset, _size in t.items:
                var = self.btf.get(var_id, self._where("DATASEC %r" % t.name))
                if var.kind == _btf.BTF_KIND_VAR and var.extra and var.extra[0] == _btf.BTF_VAR_GLOBAL_EXTERN:
                    raise ObjectError(self._where("extern variable %r is not supported" % var.name))
                offsets.setdefault(var.name, offset)     # static ones keep clang's offset
            self.btf.fix_datasec(type_id, sec.size, offsets, self._where("DATASEC %r" % t.name))

    def _license(self) -> str:
        sec = self.elf.get("license")
        if sec is None:
            return ""
        return sec.data.split(b"\0", 1)[0].decode(errors="replace")

    def _version(self) -> int:
        sec = self.elf.get("version")
        if sec is None:
            return 0
        if len(sec.data) != 4:
            raise ObjectError(self._where("section 'version' holds %d bytes, not a u32" % len(sec.data)))
        value: int = struct.unpack("<I", sec.data)[0]
        return value

    def _read_data_maps(self) -> None:
        for sec in self.data_sections.values():
            value_id = self.btf.find(_btf.BTF_KIND_DATASEC, sec.name) if self.btf else None
            flags = k.BPF_F_MMAPABLE | (k.BPF_F_RDONLY_PROG if sec.name.startswith(".rodata") else 0)
            if not sec.size:
                continue
            self.maps[sec.name] = MapSpec(
                sec.name, k.BPF_MAP_TYPE_ARRAY, 4, sec.size, 1, flags, kind="data", section=sec.name,
                btf_value_type_id=value_id or 0, data=sec.data,
                kernel_name=_internal_map_name(self.name, sec.name))

    def _read_legacy_maps(self) -> None:
        sec = self.elf.get("maps")
        if sec is None:
            return
        symbols = [s for s in self.elf.symbols_in(sec.number) if s.kind in (elf.STT_OBJECT, elf.STT_NOTYPE)]
        if not symbols:
            raise ObjectError(self._where("section 'maps' has no symbols naming its maps"))
        size = sec.size // len(symbols)
        if size < _MAP_DEF.size or size * len(symbols) != sec.size:
            raise ObjectError(self._where("section 'maps' of %d bytes does not divide into %d "
                                          "struct bpf_map_def" % (sec.size, len(symbols))))
        for sym in symbols:
            raw = sec.data[sym.value: sym.value + size]
            if len(raw) != size:
                raise ObjectError(self._where("legacy map %r lies outside section 'maps'" % sym.name))
            map_type, key_size, value_size, max_entries, flags = _MAP_DEF.unpack_from(raw)
            if any(raw[_MAP_DEF.size:]):
                raise ObjectError(self._where("legacy map %r sets fields beyond struct bpf_map_def "
                                              "(iproute2's pinning or inner maps are not supported)" % sym.name))
            self._add_map(MapSpec(sym.name, map_type, key_size, value_size, max_entries, flags,
                                  kind="legacy", section="maps", offset=sym.value))

    def _add_map(self, spec: MapSpec) -> None:
        if spec.name in self.maps:
            raise ObjectError(self._where("two maps are named %r" % spec.name))
        self.maps[spec.name] = spec._replace(kernel_name=spec.kernel_name or spec.name[:k.BPF_OBJ_NAME_LEN - 1])

    def _read_btf_maps(self) -> None:
        sec = self.elf.get(".maps")
        if sec is None:
            return
        if self.btf is None:
            raise ObjectError(self._where("section '.maps' needs BTF to read: build with clang -g"))
        datasec = self.btf.find(_btf.BTF_KIND_DATASEC, ".maps")
        if datasec is None:
            raise ObjectError(self._where("section '.maps' has no BTF DATASEC describing it"))
        inits = self._map_inits(sec)
        for var_id, offset, size in self.btf.types[datasec].items:
            var = self.btf.get(var_id, self._where(".maps"))
            if var.kind != _btf.BTF_KIND_VAR:
                raise ObjectError(self._where(".maps entry %d is %s, not a variable" % (var_id, var.kind_name)))
            spec = self._btf_map_def(var.name, var.size_type, "map %r" % var.name)
            spec = spec._replace(offset=offset)
            self._add_map(self._with_inits(spec, size, inits))

    def _btf_map_def(self, name: str, type_id: int, what: str) -> MapSpec:
        """A map definition struct: __uint fields, __type(key/value), __array(values)."""
        assert self.btf is not None
        _, struct_t = self.btf.skip_modifiers(type_id, self._where(what))
        if struct_t.kind != _btf.BTF_KIND_STRUCT:
            raise ObjectError(self._where("%s: its definition is %s, not a struct" % (what, struct_t.kind_name)))
        fields: Dict[str, int] = {}
        key_id = value_id = 0
        inner: Optional[MapSpec] = None
        values_offset = -1
        for name_off, member_type, bit_offset in struct_t.items:
            member = self.btf.string(name_off, self._where(what))
            where = self._where("%s, field %r" % (what, member))
            if member in _UINT_FIELDS:
                fields[member] = self._uint_field(member_type, where)
            elif member in ("key", "value"):
                target = self._pointee(member_type, where)
                fields[member + "_size"] = self.btf.size_of(target, where)
                if member == "key":
                    key_id = target
                else:
                    value_id = target
            elif member == "values":
                inner = self._values_field(member_type, name, where)
                values_offset = bit_offset // 8
            else:
                raise ObjectError(where + ": not a map definition field pyxsk knows")
        if "type" not in fields:
            raise ObjectError(self._where("%s: no __uint(type, ...)" % what))
        map_type = fields["type"]
        if values_offset >= 0:
            fields.setdefault("key_size", 4)
            fields.setdefault("value_size", 4)
        spec = MapSpec(name, map_type, fields.get("key_size", 0), fields.get("value_size", 0),
                       fields.get("max_entries", 0), fields.get("map_flags", 0), fields.get("pinning", 0),
                       fields.get("numa_node", 0), fields.get("map_extra", 0),
                       btf_key_type_id=key_id, btf_value_type_id=value_id,
                       inner=inner if inner is not None and inner.name else None)
        if map_type == k.BPF_MAP_TYPE_PERF_EVENT_ARRAY:
            spec = spec._replace(key_size=spec.key_size or 4, value_size=spec.value_size or 4,
                                 max_entries=spec.max_entries or possible_cpus())
        if spec.pinning not in (LIBBPF_PIN_NONE, LIBBPF_PIN_BY_NAME):
            raise ObjectError(self._where("%s: pinning %d is not LIBBPF_PIN_NONE or LIBBPF_PIN_BY_NAME"
                                          % (what, spec.pinning)))
        return spec._replace(values_offset=values_offset)

    def _uint_field(self, type_id: int, where: str) -> int:
        """``__uint(name, N)`` is ``int (*name)[N]``: N is the array's length."""
        assert self.btf is not None
        _, ptr = self.btf.skip_modifiers(type_id, where)
        if ptr.kind != _btf.BTF_KIND_PTR:
            raise ObjectError(where + ": expected __uint(), a pointer to an array, found %s" % ptr.kind_name)
        _, array = self.btf.skip_modifiers(ptr.size_type, where)
        if array.kind != _btf.BTF_KIND_ARRAY:
            raise ObjectError(where + ": expected __uint(), a pointer to an array, found a pointer to %s"
                              % array.kind_name)
        nelems: int = array.extra[2]
        return nelems

    def _pointee(self, type_id: int, where: str) -> int:
        assert self.btf is not None
        _, ptr = self.btf.skip_modifiers(type_id, where)
        if ptr.kind != _btf.BTF_KIND_PTR:
            raise ObjectError(where + ": expected __type(), a pointer, found %s" % ptr.kind_name)
        return ptr.size_type

    def _values_field(self, type_id: int, name: str, where: str) -> MapSpec:
        """``__array(values, T)`` is ``T *values[]``: an inner map definition,
        or a function prototype for a PROG_ARRAY (no inner map)."""
        assert self.btf is not None
        _, array = self.btf.skip_modifiers(type_id, where)
        if array.kind != _btf.BTF_KIND_ARRAY:
            raise ObjectError(where + ": expected __array(), found %s" % array.kind_name)
        _, ptr = self.btf.skip_modifiers(array.extra[0], where)
        if ptr.kind != _btf.BTF_KIND_PTR:
            raise ObjectError(where + ": expected an array of pointers, found %s" % ptr.kind_name)
        target_id, target = self.btf.skip_modifiers(ptr.size_type, where)
        if target.kind == _btf.BTF_KIND_FUNC_PROTO:
            return MapSpec("", 0, 0, 0, 0)
        inner = self._btf_map_def(name + ".inner", target_id, "inner map of %r" % name)
        return inner._replace(values_offset=-1)

    def _map_inits(self, sec: elf.Section) -> List[Tuple[int, elf.Symbol]]:
        """``.rel.maps``: (offset in .maps, symbol) for each initial slot value."""
        out = []
        for rel in self.elf.relocations(sec.number):
            if rel.type not in (elf.R_BPF_64_ABS64, elf.R_BPF_64_64):
                raise ObjectError(self._where("'.rel.maps' relocation of type %d at offset %d is not "
                                              "supported" % (rel.type, rel.offset)))
            out.append((rel.offset, rel.symbol))
        return out

    def _with_inits(self, spec: MapSpec, size: int, inits: List[Tuple[int, elf.Symbol]]) -> MapSpec:
        values_offset = spec.values_offset
        slots = []
        for offset, sym in inits:
            if not spec.offset <= offset < spec.offset + size:
                continue
            if values_offset < 0:
                raise ObjectError(self._where("map %r has initial values but no __array(values, ...)" % spec.name))
            slot, rest = divmod(offset - spec.offset - values_offset, 8)
            if slot < 0 or rest:
                raise ObjectError(self._where("map %r: an initial value at offset %d is not a slot" % (
                    spec.name, offset)))
            if spec.max_entries and slot >= spec.max_entries:
                raise ObjectError(self._where("map %r: initial slot %d is beyond max_entries %d" % (
                    spec.name, slot, spec.max_entries)))
            slots.append((slot, sym.name))
        return spec._replace(init=tuple(sorted(slots)))

    def _read_variables(self) -> Dict[str, Variable]:
        out: Dict[str, Variable] = {}
        if self.btf is None:
            return out
        for _, sec in self.btf.datasecs():
            if sec.name not in self.maps or self.maps[sec.name].kind != "data":
                continue
            for var_id, offset, size in sec.items:
                var = self.btf.types[var_id]
                if var.kind == _btf.BTF_KIND_VAR:
                    out[var.name] = Variable(var.name, sec.name, offset, size)
        return out

    @property
    def constants(self) -> List[str]:
        """The ``const volatile`` variables (in .rodata), settable at load."""
        return [v.name for v in self.variables.values() if v.section == ".rodata"]

    def _read_functions(self) -> Dict[int, List[_Func]]:
        funcs: Dict[int, List[_Func]] = {}
        for sec in self.elf.sections:
            if not sec.executable or not sec.size:
                continue
            if sec.size % INSN:
                raise ObjectError(self._where("section %r is %d bytes, not whole instructions" % (
                    sec.name, sec.size)))
            found = []
            for sym in self.elf.symbols_in(sec.number):
                if sym.kind != elf.STT_FUNC:
                    continue
                if sym.value % INSN or sym.size % INSN or sym.value + sym.size > sec.size or not sym.size:
                    raise ObjectError(self._where("function %r in %r: offset %d size %d do not fit the "
                                                  "section" % (sym.name, sec.name, sym.value, sym.size)))
                found.append(_Func(sec.number, sym.name, sym.value // INSN, sym.size // INSN))
            if not found:
                raise ObjectError(self._where("section %r holds code but no function symbol" % sec.name))
            funcs[sec.number] = found
        return funcs

    def _read_programs(self, override: ProgTypeLike) -> Dict[str, ProgramSpec]:
        programs: Dict[str, ProgramSpec] = {}
        text = self.elf.get(".text")
        for index, funcs in self._funcs.items():
            sec = self.elf.sections[index]
            if text is not None and index == text.number:
                continue
            kind = section_type(sec.name, override)
            for func in funcs:
                if func.name in programs:
                    raise ObjectError(self._where("two programs are named %r" % func.name))
                programs[func.name] = ProgramSpec(func.name, sec.name, kind.prog_type,
                                                  kind.expected_attach_type, kind.flags, func.length,
                                                  not sec.name.startswith("?"))
        return programs

    def _read_relocations(self) -> Dict[Tuple[int, str], List[_Reloc]]:
        """Every relocation of code and every bpf-to-bpf call, sorted into the
        function it patches."""
        out: Dict[Tuple[int, str], List[_Reloc]] = {}
        for index, funcs in self._funcs.items():
            sec = self.elf.sections[index]
            relocs = {rel.offset // INSN: rel for rel in self.elf.relocations(index)}
            if any(rel.offset % INSN for rel in relocs.values()):
                raise ObjectError(self._where("section %r: a relocation not on an instruction" % sec.name))
            calls = [i for i, code in enumerate(sec.data[::INSN]) if code == _CALL]
            patched = sorted(set(relocs).union(calls))
            for func in funcs:
                items = out.setdefault((index, func.name), [])
                for i in patched:
                    if func.start <= i < func.start + func.length:
                        reloc = self._reloc(sec, i, relocs.pop(i, None))
                        if reloc is not None:
                            items.append(reloc._replace(at=i - func.start))
            if relocs:
                raise ObjectError(self._where("section %r: relocation at offset %d is outside every "
                                              "function" % (sec.name, min(relocs) * INSN)))
        return out

    def _reloc(self, sec: elf.Section, i: int, rel: Optional[elf.Relocation]) -> Optional[_Reloc]:
        code, regs, _off, imm = struct.unpack_from("<BBhi", sec.data, i * INSN)
        src = regs >> 4
        where = "section %r instruction %d" % (sec.name, i)
        if rel is None:
            if code == _CALL and src == k.BPF_PSEUDO_CALL:
                return _Reloc(i, "call", target=(sec.number, i + imm + 1))
            return None
        if rel.type == elf.R_BPF_NONE:
            return None
        sym = rel.symbol
        if sym.section == elf.SHN_UNDEF:
            raise ObjectError(self._where("%s refers to %r, which the object does not define (externs, "
                                          "kfuncs and ksyms are not supported)" % (where, sym.name)))
        if sym.section >= elf.SHN_LORESERVE:
            raise ObjectError(self._where("%s refers to %r in special section %#x" % (where, sym.name, sym.section)))
        target = self.elf.section(sym.section, where)
        if code == _CALL:
            if src != k.BPF_PSEUDO_CALL:
                raise ObjectError(self._where("%s: a relocated call that is not a bpf-to-bpf call (src %d)" % (
                    where, src)))
            return _Reloc(i, "call", target=(target.number, sym.value // INSN + imm + 1))
        if code != _LD_IMM64 or i * INSN + 2 * INSN > sec.size:
            raise ObjectError(self._where("%s: relocation type %d against %r on opcode %#x is not "
                                          "supported" % (where, rel.type, sym.name, code)))
        if target.executable:
            return _Reloc(i, "func", target=(target.number, (sym.value + imm) // INSN))
        if target.name in (".maps", "maps"):
            spec = self._map_at(target.name, sym.value if sym.kind != elf.STT_SECTION else imm)
            return _Reloc(i, "map", map=spec.name)
        if target.number in self.data_sections:
            return _Reloc(i, "data", map=target.name, offset=sym.value + imm)
        raise ObjectError(self._where("%s refers to %r in section %r, which is neither code, maps nor "
                                      "global data" % (where, sym.name, target.name)))

    def _map_at(self, section: str, offset: int) -> MapSpec:
        for spec in self.maps.values():
            if spec.section == section and spec.offset == offset:
                return spec
        raise ObjectError(self._where("no map starts at offset %d of section %r" % (offset, section)))

    def _func_at(self, target: Tuple[int, int], where: str) -> _Func:
        index, insn = target
        for func in self._funcs.get(index, []):
            if func.start == insn:
                return func
        sec = self.elf.section(index, where)
        raise ObjectError(self._where("%s calls instruction %d of %r, where no function starts" % (
            where, insn, sec.name)))

    # linking
    def link(self, name: str) -> Tuple[List[_Func], Dict[_Func, int]]:
        """The functions program ``name`` is made of, in order, and where each
        starts: as libbpf lays them out, each callee right after the first
        call to it has been followed depth-first (so the kernel computes the
        same tags as for libbpf's load)."""
        spec = self.programs[name]
        sec = self.elf.get(spec.section)
        assert sec is not None
        main = next(f for f in self._funcs[sec.number] if f.name == name)
        order, start, total = [main], {main: 0}, main.length
        stack = [iter(self._relocs[(main.section, main.name)])]
        while stack:
            reloc = next(stack[-1], None)
            if reloc is None:
                stack.pop()
                continue
            if reloc.kind not in ("call", "func"):
                continue
            callee = self._func_at(reloc.target, "a call")
            if callee not in start:
                start[callee] = total
                total += callee.length
                order.append(callee)
                stack.append(iter(self._relocs[(callee.section, callee.name)]))
        return order, start

    def instructions(self, name: str, map_fds: Mapping[str, int]) -> bytes:
        """Program ``name`` linked, with the map fds of ``map_fds`` (by map name) in place."""
        order, start = self.link(name)
        out = bytearray()
        for func in order:
            sec = self.elf.sections[func.section]
            code = bytearray(sec.data[func.start * INSN: (func.start + func.length) * INSN])
            for reloc in self._relocs[(func.section, func.name)]:
                _patch(code, reloc, func, start, map_fds, self._func_at)
            out += code
        return bytes(out)

    def btf_records(self, name: str) -> Tuple[List[FuncInfo], List[LineInfo]]:
        """func_info and line_info of program ``name``, in instructions of the linked program."""
        if self.ext is None:
            return [], []
        order, start = self.link(name)
        funcs: List[FuncInfo] = []
        lines: List[LineInfo] = []
        for func in order:
            sec_name = self.elf.sections[func.section].name
            first, end = func.start * INSN, (func.start + func.length) * INSN
            info = [r for r in self.ext.func_info.get(sec_name, []) if r.insn_off == first]
            if not info:
                return [], []           # the kernel wants all functions described or none
            base = start[func] - func.start
            funcs.append(FuncInfo(start[func], info[0].type_id))
            lines.extend(LineInfo(base + off // INSN, name, line, col)
                         for off, name, line, col in self.ext.line_info.get(sec_name, ()) if first <= off < end)
        return funcs, lines

    def load(self, constants: Optional[Mapping[str, Constant]] = None, prog_type: ProgTypeLike = None,
             pin_root: Optional[str] = None, log_level: int = 0,
             programs: Optional[Iterable[str]] = None) -> Object:
        """Create the maps, load the programs; see :func:`load_object`.
        ``programs``: the names to load, instead of every program whose
        section does not start with "?"."""
        spec = self if prog_type is None else ObjectFile(self.elf.data, self.path, prog_type)
        return Object(spec, constants or {}, pin_root, log_level, programs)

    def _chosen(self, names: Optional[Iterable[str]]) -> List[str]:
        if names is None:
            return [name for name, p in self.programs.items() if p.autoload]
        if isinstance(names, str):
            raise TypeError("programs is a list of names, not one string: [%r]" % names)
        chosen = list(names)
        unknown = [n for n in chosen if n not in self.programs]
        if unknown:
            raise ObjectError("%s has no program %s (it has: %s)" % (
                self.path, ", ".join(map(repr, unknown)), ", ".join(sorted(self.programs))))
        return chosen


def _patch(code: bytearray, reloc: _Reloc, func: _Func, start: Mapping[_Func, int],
           map_fds: Mapping[str, int], func_at: object) -> None:
    at = reloc.at * INSN
    if reloc.kind in ("call", "func"):
        callee = func_at(reloc.target, "function %r" % func.name)  # type: ignore[operator]
        here = start[func] + reloc.at
        there = start[callee] + reloc.target[1] - callee.start
        struct.pack_into("<i", code, at + 4, there - here - 1)
        if reloc.kind == "func":
            code[at + 1] = (code[at + 1] & 0x0f) | (k.BPF_PSEUDO_FUNC << 4)
        return
    fd = map_fds[reloc.map]
    pseudo = k.BPF_PSEUDO_MAP_FD if reloc.kind == "map" else k.BPF_PSEUDO_MAP_VALUE
    code[at + 1] = (code[at + 1] & 0x0f) | (pseudo << 4)
    struct.pack_into("<i", code, at + 4, fd)
    struct.pack_into("<i", code, at + INSN + 4, reloc.offset if reloc.kind == "data" else 0)


class Object:
    """A loaded BPF object: ``programs`` (:class:`~pyxsk.bpf.Prog` by function
    name), ``maps`` (:class:`~pyxsk.bpf.Map` by name; global data by section
    name), ``spec`` (the :class:`ObjectFile`).  ``close()`` (or ``with``)
    closes every fd; what is attached or pinned stays."""

    def __init__(self, spec: ObjectFile, constants: Mapping[str, Constant], pin_root: Optional[str],
                 log_level: int = 0, programs: Optional[Iterable[str]] = None) -> None:
        self.spec = spec
        self.programs: Dict[str, Prog] = {}
        self.maps: Dict[str, Map[Any, Any]] = {}
        self.btf: Optional[BtfObject] = None
        data = _initial_data(spec, constants)
        try:
            self.btf = _load_btf(spec)
            for map_spec in spec.maps.values():
                self.maps[map_spec.name] = _create(map_spec, self.btf, pin_root, data.get(map_spec.name))
            fds = {name: m.fileno() for name, m in self.maps.items()}
            for name in spec._chosen(programs):
                self.programs[name] = self._load_program(spec.programs[name], fds, log_level)
                self._bind_read_only_data(self.programs[name])
            self._fill_slots()
        except BaseException:
            self.close()
            raise

    def _load_program(self, spec: ProgramSpec, fds: Mapping[str, int], log_level: int) -> Prog:
        insns = self.spec.instructions(spec.name, fds)
        funcs, lines = self.spec.btf_records(spec.name) if self.btf is not None else ([], [])
        prog = load(insns, name=spec.name[:k.BPF_OBJ_NAME_LEN - 1], prog_type=spec.prog_type,
                    license=self.spec.license, log_level=log_level, flags=spec.flags,
                    expected_attach_type=spec.expected_attach_type,
                    btf=self.btf if funcs else None, func_info=funcs, line_info=lines if funcs else (),
                    kern_version=self.spec.kern_version)
        prog.name, prog.section = spec.name, spec.section      # the whole function name, not the kernel's 15
        return prog

    def _bind_read_only_data(self, prog: Prog) -> None:
        """BPF_PROG_BIND_MAP every read-only data map to the program, as libbpf
        does: bpftool then finds a program's configuration (``.rodata``) even
        where the code does not read it."""
        for name, map_spec in self.spec.maps.items():
            if map_spec.kind == "data" and map_spec.section.startswith(".rodata"):
                attr = k.bpf_attr_prog_bind_map(prog_fd=prog.fileno(), map_fd=self.maps[name].fileno())
                _sys_bpf(k.BPF_PROG_BIND_MAP, attr, "bpf(BPF_PROG_BIND_MAP, %s, %s)" % (prog.name, name))

    def _fill_slots(self) -> None:
        for name, map_spec in self.spec.maps.items():
            for slot, target in map_spec.init:
                value = self.programs.get(target) or self.maps.get(target)
                if value is None and target in self.spec.programs:
                    raise ObjectError("%s: map %r slot %d holds program %r, which is not being loaded: "
                                      "load it too (programs=)" % (self.spec.path, name, slot, target))
                if value is None:
                    raise ObjectError("%s: map %r slot %d names %r, which is neither a program nor a map "
                                      "of the object" % (self.spec.path, name, slot, target))
                _update_raw(self.maps[name], slot, value.fileno())

    def close(self) -> None:
        for prog in self.programs.values():
            prog.close()
        for m in self.maps.values():
            m.close()
        if self.btf is not None:
            self.btf.close()

    def __enter__(self) -> Object:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Prog]:
        return iter(self.programs.values())

    def __repr__(self) -> str:
        return "<Object %r: %d programs, %d maps>" % (self.spec.path, len(self.programs), len(self.maps))


def _initial_data(spec: ObjectFile, constants: Mapping[str, Constant]) -> Dict[str, bytes]:
    """The global data sections' bytes with the given variables set."""
    data = {name: bytearray(m.data) for name, m in spec.maps.items() if m.kind == "data"}
    for name, value in constants.items():
        var = spec.variables.get(name)
        if var is None:
            raise ObjectError("%s has no global variable %r (it has: %s)" % (
                spec.path, name, ", ".join(sorted(spec.variables)) or "none"))
        if isinstance(value, int) and not isinstance(value, bool):
            if var.size not in (1, 2, 4, 8):
                raise ObjectError("variable %r is %d bytes: give bytes, not an int" % (name, var.size))
            try:
                raw = value.to_bytes(var.size, "little", signed=value < 0)
            except OverflowError:
                raise ObjectError("variable %r: %d does not fit in %d bytes" % (name, value, var.size)) from None
        elif isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
            if len(raw) != var.size:
                raise ObjectError("variable %r is %d bytes, not %d" % (name, var.size, len(raw)))
        else:
            raise TypeError("variable %r takes an int or bytes, not %r" % (name, value))
        data[var.section][var.offset: var.offset + var.size] = raw
    return {name: bytes(raw) for name, raw in data.items()}


def _load_btf(spec: ObjectFile) -> Optional[BtfObject]:
    """The object's BTF in the kernel; without it (a kernel refusing it) the
    maps and programs load as libbpf loads them then: without BTF."""
    if spec.btf is None:
        return None
    try:
        return BtfObject(spec.btf.encode(), "%s .BTF" % spec.path)
    except OSError as e:
        if e.errno in (errno.EPERM, errno.ENOMEM):
            raise
        warnings.warn("%s: the kernel refused the object's BTF (%s); loading without it: no func_info, "
                      "no line_info" % (spec.path, e), RuntimeWarning)
        return None


def _create(spec: MapSpec, btf: Optional[BtfObject], pin_root: Optional[str],
            data: Optional[bytes]) -> Map[Any, Any]:
    if spec.pinning == LIBBPF_PIN_BY_NAME:
        path = os.path.join(pin_root or DEFAULT_PIN_ROOT, spec.name)
        if os.path.exists(path):
            return _reuse_pinned(spec, path)
    m = _create_map(spec, btf)
    try:
        if data is not None and spec.kind == "data":
            _update_raw(m, 0, data)
            if spec.section.startswith(".rodata"):
                _sys_bpf(k.BPF_MAP_FREEZE, k.bpf_attr_map_elem(map_fd=m.fileno()),
                         "bpf(BPF_MAP_FREEZE, %s)" % spec.name)
        if spec.pinning == LIBBPF_PIN_BY_NAME:
            m.pin(os.path.join(pin_root or DEFAULT_PIN_ROOT, spec.name))
    except BaseException:
        m.close()
        raise
    return m


def _create_map(spec: MapSpec, btf: Optional[BtfObject]) -> Map[Any, Any]:
    """BPF_MAP_CREATE for ``spec``, with the object's BTF (key and value type
    ids where the kernel takes them) and retried without it if the kernel
    refuses, as libbpf does; a map-in-map gets its inner map made first."""
    inner = None
    if spec.map_type in _MAP_IN_MAP:
        if spec.inner is None:
            raise ObjectError("map %r: a map-in-map needs __array(values, struct {...}) for its inner map"
                              % spec.name)
        inner = _create_map(spec.inner, btf)
    try:
        typed = spec.map_type not in _NO_BTF_TYPES
        options: Dict[str, Any] = dict(
            inner_map=inner, map_extra=spec.map_extra,
            numa_node=spec.numa_node if spec.flags & k.BPF_F_NUMA_NODE else None)
        args = (spec.map_type, spec.key_size, spec.value_size, spec.max_entries, spec.flags,
                spec.kernel_name or spec.name[:k.BPF_OBJ_NAME_LEN - 1])
        if btf is not None:
            try:
                return create_map(*args, btf=btf, btf_key_type_id=spec.btf_key_type_id if typed else 0,
                                  btf_value_type_id=spec.btf_value_type_id if typed else 0, **options)
            except OSError as e:
                if e.errno in (errno.EPERM, errno.ENOMEM):
                    raise
        return create_map(*args, **options)
    finally:
        if inner is not None:
            inner.close()


def _reuse_pinned(spec: MapSpec, path: str) -> Map[Any, Any]:
    """A LIBBPF_PIN_BY_NAME map pinned before: reused if it matches the definition."""
    m: Map[Any, Any] = Map.from_pinned(path)
    info = m.info()
    want = (spec.map_type, spec.key_size, spec.value_size, spec.max_entries, spec.flags)
    have = (info.type, info.key_size, info.value_size, info.max_entries, info.flags)
    if want != have:
        m.close()
        names = ("type", "key_size", "value_size", "max_entries", "map_flags")
        diff = ", ".join("%s %d here, %d pinned" % (n, w, h) for n, w, h in zip(names, want, have) if w != h)
        raise ObjectError("map %r: the map pinned at %s differs from the object's definition: %s" % (
            spec.name, path, diff))
    return m


def _update_raw(m: Map[Any, Any], key: int, value: Union[bytes, int]) -> None:
    """BPF_MAP_UPDATE_ELEM with a u32 key and a value of the map's size."""
    raw = value if isinstance(value, bytes) else value.to_bytes(4, "little")
    key_buf = ctypes.create_string_buffer(key.to_bytes(4, "little"), 4)
    value_buf = ctypes.create_string_buffer(raw, len(raw))
    attr = k.bpf_attr_map_elem(map_fd=m.fileno(), key=ctypes.addressof(key_buf), flags=k.BPF_ANY)
    attr.value = ctypes.addressof(value_buf)
    _sys_bpf(k.BPF_MAP_UPDATE_ELEM, attr, "bpf(BPF_MAP_UPDATE_ELEM, %s, slot %d)" % (m.name or "map", key))


def open_object(path: Union[str, "os.PathLike[str]"], prog_type: ProgTypeLike = None) -> ObjectFile:
    """Parse a clang-built BPF object (ELF64 little-endian with BTF) without
    loading anything: its programs, maps and global variables by name.
    ``prog_type`` gives every program that type, for section names libbpf
    does not know."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        return ObjectFile(f.read(), name, prog_type)


def load_object(path: Union[str, "os.PathLike[str]"], constants: Optional[Mapping[str, Constant]] = None,
                prog_type: ProgTypeLike = None, pin_root: Optional[str] = None,
                log_level: int = 0, programs: Optional[Iterable[str]] = None) -> Object:
    """Parse and load a BPF object: create its maps (pinning those declared
    LIBBPF_PIN_BY_NAME under ``pin_root``, default /sys/fs/bpf, or reusing
    what is pinned there), set its global variables (``constants``: name ->
    int or bytes; ``const volatile`` ones can be set only now), load every
    program (or the ``programs`` named; sections named "?..." load only when
    named).  Close the returned :class:`Object` (or use ``with``)."""
    return open_object(path, prog_type).load(constants, None, pin_root, log_level, programs)


__all__ = ["ObjectFile", "Object", "MapSpec", "ProgramSpec", "Variable", "SectionType",
           "open_object", "load_object"]
