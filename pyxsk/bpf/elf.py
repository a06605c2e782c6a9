"""ELF64 relocatable objects as clang writes them for ``-target bpf``:
sections, the symbol table and REL relocation sections, read from bytes.

Only what a BPF object uses is read (no program headers, no dynamic
linking).  Every offset and size is checked against the file before it is
used, so a truncated or corrupted object raises
:class:`~pyxsk.errors.ObjectError` naming what is wrong, never an
IndexError or struct.error.  The formats are in the System V gABI
(``<elf.h>``); the BPF relocation types in the kernel's
``Documentation/bpf/llvm_reloc.rst``.
"""

from __future__ import annotations

import struct
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from ..errors import ObjectError

ELFMAG = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1
ET_REL = 1
EM_BPF = 247

SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_RELA = 4
SHT_NOBITS = 8
SHT_REL = 9

SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4

STT_NOTYPE = 0
STT_OBJECT = 1
STT_FUNC = 2
STT_SECTION = 3
STB_LOCAL = 0
STB_GLOBAL = 1
STB_WEAK = 2
SHN_UNDEF = 0
SHN_LORESERVE = 0xff00

# llvm_reloc.rst: what each R_BPF_* relocation patches
R_BPF_NONE = 0
R_BPF_64_64 = 1          # the 64-bit immediate of an ld_imm64 (a map, global data, a function)
R_BPF_64_ABS64 = 2       # a 64-bit data word (DWARF, .BTF, .maps initial values)
R_BPF_64_ABS32 = 3       # a 32-bit data word (DWARF, .BTF.ext)
R_BPF_64_NODYLD32 = 4    # .BTF / .BTF.ext words the loader fills itself
R_BPF_64_32 = 10         # the immediate of a call: a bpf-to-bpf call

MAX_NOBITS = 1 << 30      # a global data map's value: the kernel caps array values far below this
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")
_REL = struct.Struct("<QQ")


class Section(NamedTuple):
    """One section header and its bytes (zeros for SHT_NOBITS, e.g. .bss)."""
    number: int
    name: str
    type: int
    flags: int
    size: int
    link: int
    info: int
    entsize: int
    data: bytes

    @property
    def executable(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR) and self.type == SHT_PROGBITS


class Symbol(NamedTuple):
    """One .symtab entry: ``section`` is the index of the section it is
    defined in (SHN_UNDEF for an extern)."""
    number: int
    name: str
    kind: int            # STT_*
    bind: int            # STB_*
    section: int
    value: int
    size: int


class Relocation(NamedTuple):
    """One REL entry: patch at ``offset`` in the target section, with ``symbol``."""
    offset: int
    type: int
    symbol: Symbol


def _unpack(fmt: struct.Struct, data: bytes, offset: int, what: str) -> Tuple[Any, ...]:
    if offset < 0 or offset + fmt.size > len(data):
        raise ObjectError("%s at offset %d runs past the end of the file (%d bytes)" % (
            what, offset, len(data)))
    return fmt.unpack_from(data, offset)


def _string(table: bytes, offset: int, what: str) -> str:
    """A NUL-terminated name from a string table."""
    end = table.find(b"\0", offset)
    if offset < 0 or offset >= len(table) or end < 0:
        raise ObjectError("%s: name offset %d is outside its string table (%d bytes)" % (
            what, offset, len(table)))
    try:
        return table[offset:end].decode()
    except UnicodeDecodeError:
        raise ObjectError("%s: name at offset %d is not UTF-8" % (what, offset)) from None


class ElfFile:
    """A parsed ELF64 little-endian relocatable BPF object.

    ``sections`` in file order, ``by_name``, ``symbols`` (.symtab) and
    and :meth:`relocations` of the section they patch."""

    def __init__(self, data: bytes, path: str = "<bytes>") -> None:
        self.path = path
        self.data = bytes(data)
        self._check_header()
        self.sections = self._read_sections()
        self.by_name: Dict[str, Section] = {}
        for sec in self.sections:
            self.by_name.setdefault(sec.name, sec)
        self.symbols = self._read_symbols()
        self._rel_sections = self._relocation_sections()
        self._relocations: Dict[int, List[Relocation]] = {}

    @classmethod
    def open(cls, path: str) -> ElfFile:
        with open(path, "rb") as f:
            return cls(f.read(), path)

    def _check_header(self) -> None:
        data = self.data
        if len(data) < _EHDR.size or data[:4] != ELFMAG:
            raise ObjectError("%s is not an ELF file" % self.path)
        if data[4] != ELFCLASS64 or data[5] != ELFDATA2LSB:
            raise ObjectError("%s is not ELF64 little-endian (class %d, data %d): build it with "
                              "clang -target bpf (bpfel) on this little-endian host" % (
                                  self.path, data[4], data[5]))
        fields = _EHDR.unpack_from(data, 0)
        e_type, e_machine = fields[1], fields[2]
        if e_machine != EM_BPF:
            raise ObjectError("%s is an ELF file for machine %d, not BPF (%d)" % (
                self.path, e_machine, EM_BPF))
        if e_type != ET_REL:
            raise ObjectError("%s is ELF type %d, not a relocatable object (clang -c)" % (
                self.path, e_type))
        self._shoff, self._shentsize, self._shnum, self._shstrndx = \
            fields[6], fields[11], fields[12], fields[13]
        if self._shentsize != _SHDR.size:
            raise ObjectError("%s: section headers of %d bytes, not %d" % (
                self.path, self._shentsize, _SHDR.size))

    def _read_sections(self) -> List[Section]:
        headers = [_unpack(_SHDR, self.data, self._shoff + i * _SHDR.size, "section header %d" % i)
                   for i in range(self._shnum)]
        if not 0 < self._shstrndx < len(headers):
            raise ObjectError("%s: section name table index %d out of range" % (
                self.path, self._shstrndx))
        names = self._section_bytes(headers[self._shstrndx], "section names")
        sections = []
        for i, (name, typ, flags, _addr, _off, size, link, info, _align, entsize) in enumerate(headers):
            sec_name = _string(names, name, "section %d" % i)
            if typ == SHT_NOBITS and size > MAX_NOBITS:
                raise ObjectError("%s: section %r asks for %d zero bytes, more than a BPF map value holds" % (
                    self.path, sec_name, size))
            data = b"\0" * size if typ == SHT_NOBITS else \
                self._section_bytes(headers[i], "section %r" % sec_name) if typ != SHT_NULL else b""
            sections.append(Section(i, sec_name, typ, flags, size, link, info, entsize, data))
        return sections

    def _section_bytes(self, header: Tuple[Any, ...], what: str) -> bytes:
        typ, offset, size = header[1], header[4], header[5]
        if typ == SHT_NOBITS:
            return b""
        if offset + size > len(self.data):
            raise ObjectError("%s: %s (%d bytes at offset %d) runs past the end of the file" % (
                self.path, what, size, offset))
        return self.data[offset:offset + size]

    def section(self, index: int, what: str) -> Section:
        if not 0 <= index < len(self.sections):
            raise ObjectError("%s: %s refers to section %d, which does not exist" % (
                self.path, what, index))
        return self.sections[index]

    def _read_symbols(self) -> List[Symbol]:
        symtabs = [s for s in self.sections if s.type == SHT_SYMTAB]
        if not symtabs:
            raise ObjectError("%s has no symbol table (.symtab): was it stripped?" % self.path)
        symtab = symtabs[0]
        strtab = self.section(symtab.link, ".symtab's string table").data
        symbols = []
        for i in range(len(symtab.data) // _SYM.size):
            st_name, st_info, _other, shndx, value, size = _SYM.unpack_from(symtab.data, i * _SYM.size)
            name = _string(strtab, st_name, "symbol %d" % i)
            symbols.append(Symbol(i, name, st_info & 0xf, st_info >> 4, shndx, value, size))
        return symbols

    def _relocation_sections(self) -> Dict[int, Section]:
        """The REL section of each section that has one, by the patched section's number."""
        found: Dict[int, Section] = {}
        for sec in self.sections:
            if sec.type == SHT_RELA:
                raise ObjectError("%s: section %r holds RELA relocations; BPF objects use REL" % (
                    self.path, sec.name))
            if sec.type == SHT_REL:
                found[self.section(sec.info, "relocation section %r" % sec.name).number] = sec
        return found

    def relocations(self, number: int) -> List[Relocation]:
        """The relocations that patch section ``number`` (read on demand: the
        DWARF sections' many relocations are never needed)."""
        cached = self._relocations.get(number)
        if cached is not None:
            return cached
        rel_sec, target = self._rel_sections.get(number), self.section(number, "relocations")
        entries: List[Relocation] = []
        data = rel_sec.data if rel_sec is not None else b""
        for i, (offset, info) in enumerate(_REL.iter_unpack(data[:len(data) - len(data) % _REL.size])):
            sym_index = info >> 32
            if sym_index >= len(self.symbols):
                raise ObjectError("%s: relocation %d of %r names symbol %d of %d" % (
                    self.path, i, target.name, sym_index, len(self.symbols)))
            if offset >= max(target.size, 1):
                raise ObjectError("%s: relocation %d of %r patches offset %d, beyond its %d bytes" % (
                    self.path, i, target.name, offset, target.size))
            entries.append(Relocation(offset, info & 0xffffffff, self.symbols[sym_index]))
        self._relocations[number] = entries
        return entries

    def symbols_in(self, number: int) -> List[Symbol]:
        """The symbols defined in section ``number``, by address."""
        return sorted((s for s in self.symbols if s.section == number and s.kind != STT_SECTION),
                      key=lambda s: (s.value, s.name))

    def get(self, name: str) -> Optional[Section]:
        return self.by_name.get(name)
