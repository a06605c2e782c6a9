"""An eBPF assembler: registers, opcode groups with builders, labels.

Programs are lists of instructions built the way cilium/ebpf's ``asm``
package builds them, in Python spelling::

    from pyxsk.bpf.asm import *

    prog = Program([
        ALU64.MOV.imm(R0, XDP_PASS),
        LDX.W(R2, R1, XDP_MD_RX_QUEUE_INDEX),   # r2 = *(u32 *)(r1 +16)
        JMP.JEQ.imm(R2, 0, "out"),
        ALU64.MOV.imm(R0, XDP_DROP),
        label("out"),
        JMP.EXIT(),
    ])
    insns = prog.assemble()          # bytes: 8 per instruction, 16 for LD.imm64

The opcode groups are the instruction classes: ``ALU64``/``ALU`` (64- and
32-bit arithmetic: ``.imm(dst, value)`` and ``.reg(dst, src)`` builders,
``NEG(dst)``, byte swaps ``ALU.BE/ALU.LE(dst, width)`` and ``ALU64.BSWAP``),
``JMP``/``JMP32`` (conditional jumps ``.imm(dst, value, target)`` and
``.reg(dst, src, target)``, ``JA(target)``, ``JMP.CALL(helper)``,
``JMP.EXIT()``), ``LDX.B/H/W/DW(dst, src, off)`` (and sign-extending
``LDX.SB/SH/SW``), ``STX.B/H/W/DW(dst, off, src)``, ``ST.B/H/W/DW(dst, off,
value)``, ``ATOMIC.ADD.W/DW(dst, off, src)`` and friends, and ``LD.imm64``,
``LD.map_fd``, ``LD.map_value`` for the two-slot 64-bit load.

A jump target is a label name (a string, resolved when the program is
assembled) or a number of instruction slots.  Every builder checks its
operands at once and raises :class:`~pyxsk.errors.AsmError` (a
``ValueError``) saying what is wrong; errors that need the whole program (a
duplicate label, an unknown one, a jump too far) raise when the label is
added or the program assembled, and name the instruction's index.  Nothing
wrong reaches the kernel from here.

``str(instruction)`` and ``str(program)`` use the verifier's notation
(:mod:`pyxsk.bpf.disasm`); :func:`decode` turns bytes back into a program.
"""

from __future__ import annotations

import ctypes
from typing import (Dict, Iterable, Iterator, List, NoReturn, Optional, Protocol, Sequence, Tuple,
                    Union, overload)

from . import disasm
from ..errors import AsmError
from ..uapi import bpf as k

__all__ = [
    "Register", "R0", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10",
    "Instruction", "Label", "label", "Program", "decode",
    "ALU", "ALU64", "JMP", "JMP32", "LD", "LDX", "ST", "STX", "ATOMIC",
    "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT",
    "XDP_MD_DATA", "XDP_MD_DATA_END", "XDP_MD_DATA_META", "XDP_MD_INGRESS_IFINDEX",
    "XDP_MD_RX_QUEUE_INDEX", "XDP_MD_EGRESS_IFINDEX",
]

XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = (
    k.XDP_ABORTED, k.XDP_DROP, k.XDP_PASS, k.XDP_TX, k.XDP_REDIRECT)

# offsets into struct xdp_md, the context an XDP program gets in R1
XDP_MD_DATA = k.xdp_md.data.offset
XDP_MD_DATA_END = k.xdp_md.data_end.offset
XDP_MD_DATA_META = k.xdp_md.data_meta.offset
XDP_MD_INGRESS_IFINDEX = k.xdp_md.ingress_ifindex.offset
XDP_MD_RX_QUEUE_INDEX = k.xdp_md.rx_queue_index.offset
XDP_MD_EGRESS_IFINDEX = k.xdp_md.egress_ifindex.offset

INSN_SIZE = ctypes.sizeof(k.bpf_insn)
FRAME_POINTER = k.BPF_REG_10
_U8 = (0, (1 << 8) - 1)
_S8 = (-(1 << 7), (1 << 7) - 1)
_U16 = (0, (1 << 16) - 1)
_S16 = (-(1 << 15), (1 << 15) - 1)
_S32 = (-(1 << 31), (1 << 31) - 1)
_U32 = (0, (1 << 32) - 1)
_S64 = (-(1 << 63), (1 << 63) - 1)
_U64 = (0, (1 << 64) - 1)
_SRC_FIELD = (0, (1 << 4) - 1)     # the 4-bit src_reg nibble
_HELPER_IDS: Dict[str, int] = {name: hid for hid, name in k.HELPER_NAMES.items()}
_HELPER_PREFIX = "bpf_"

# (lowest, highest) value a field takes; a check accepts the union of several
_Bounds = Tuple[int, int]
# a jump target: a label name, or a distance in instruction slots
_Target = Union[str, int]


class _HasFileno(Protocol):
    """A map (or any fd owner): what LD.map_fd and LD.map_value take besides an fd."""

    def fileno(self) -> int: ...


class Register(int):
    """A register: R0 return value, R1-R5 arguments (R1 = context on entry),
    R6-R9 callee-saved, R10 read-only frame pointer (stack grows down from it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "R%d" % self

    def __str__(self) -> str:
        return "r%d" % self


R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = (Register(i) for i in range(k.MAX_BPF_REG))


# -- operand checks ------------------------------------------------------------

def _where(builder: str) -> str:
    return "%s: " % builder if builder else ""


def _int(value: object, what: str, builder: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AsmError("%s%s must be an int, not %r" % (_where(builder), what, value))
    return value


def _range(value: int, bounds: Sequence[_Bounds], what: str,
           builder: str) -> int:
    _int(value, what, builder)
    lo, hi = min(b[0] for b in bounds), max(b[1] for b in bounds)
    if not lo <= value <= hi:
        raise AsmError("%s%s %d does not fit (%d..%d)" % (_where(builder), what, value, lo, hi))
    return value


def _reg(value: object, what: str, builder: str) -> Register:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < k.MAX_BPF_REG:
        raise AsmError("%s%s must be a register R0..R10, not %r" % (_where(builder), what, value))
    return Register(value)


def _dst(value: object, builder: str) -> Register:
    """A destination the instruction writes: any register but R10."""
    reg = _reg(value, "destination", builder)
    if reg == FRAME_POINTER:
        raise AsmError("%sR10 is the read-only frame pointer and cannot be written" % _where(builder))
    return reg


def _target(target: _Target, bounds: _Bounds, builder: str) -> _Target:
    if isinstance(target, str):
        if not target:
            raise AsmError("%sjump target label must not be empty" % _where(builder))
        return target
    return _range(target, (bounds,), "jump offset", builder)


def _signed32(value: int) -> int:
    """The imm field's bits for a value given signed or unsigned."""
    return value - (1 << 32) if value > _S32[1] else value


# -- instructions ------------------------------------------------------------------

class Instruction:
    """One instruction: the raw fields of struct bpf_insn, plus, before
    assembly, a jump ``target`` label and for ``LD.map_fd``/``LD.map_value``
    the map object whose fd goes into the immediate.

    A two-slot 64-bit load keeps its whole 64-bit immediate in ``imm`` and
    has ``slots == 2``.  Instructions are immutable and compare by value.
    """

    __slots__ = ("code", "dst", "src", "off", "imm", "target", "map")
    code: int
    dst: Register
    src: Register
    off: int
    imm: int
    target: Optional[str]
    map: Optional[_HasFileno]

    def __init__(self, code: int, dst: int = R0, src: int = R0, off: int = 0, imm: int = 0,
                 target: Optional[str] = None, map: Optional[_HasFileno] = None) -> None:
        builder = "Instruction(0x%02x)" % code if isinstance(code, int) else "Instruction"
        set_ = object.__setattr__
        set_(self, "code", _range(code, (_U8,), "code", builder))
        set_(self, "dst", _reg(dst, "dst", builder))
        # src is a register, or for a 64-bit load and a call a BPF_PSEUDO_* kind
        set_(self, "src", Register(_range(src, (_SRC_FIELD,), "src", builder)))
        set_(self, "off", _range(off, (_S16,), "off", builder))
        bounds = (_S64, _U64) if disasm.is_wide(code) else (_S32,)
        set_(self, "imm", _range(imm, bounds, "imm", builder))
        set_(self, "target", target)
        set_(self, "map", map)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Instruction is immutable")

    @property
    def slots(self) -> int:
        """How many 8-byte slots the instruction takes (2 for a 64-bit load)."""
        return 2 if disasm.is_wide(self.code) else 1

    def _key(self) -> Tuple[int, Register, Register, int, int, Optional[str], Optional[int]]:
        return (self.code, self.dst, self.src, self.off, self.imm, self.target,
                id(self.map) if self.map is not None else None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instruction):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _imm_now(self) -> int:
        """The immediate with a map reference turned into the map's current fd."""
        if self.map is None:
            return self.imm
        fd = _fd_of(self.map, "LD.map_fd")
        return (self.imm & ~_U32[1]) | fd

    def _jump_field(self) -> str:
        """'off' or 'imm': where a jump's distance goes (gotol uses imm)."""
        return "imm" if self.code == k.BPF_JMP32 | k.BPF_JA else "off"

    def resolved(self, distance: int) -> Instruction:
        """A copy with the label target replaced by ``distance`` slots."""
        if self._jump_field() == "imm":
            return Instruction(self.code, self.dst, self.src, self.off, distance, map=self.map)
        return Instruction(self.code, self.dst, self.src, distance, self.imm, map=self.map)

    def encode(self) -> bytes:
        """The instruction's bytes (8, or 16 for a 64-bit load)."""
        if self.target is not None:
            raise AsmError("%s jumps to label %r: assemble it inside a Program" % (self, self.target))
        imm = self._imm_now()
        first = k.bpf_insn(code=self.code, dst_reg=self.dst, src_reg=self.src, off=self.off)
        if self.slots == 1:
            first.imm = imm
            return bytes(first)
        first.imm = _signed32(imm & _U32[1])
        second = k.bpf_insn(imm=_signed32((imm >> 32) & _U32[1]))
        return bytes(first) + bytes(second)

    def text(self) -> str:
        """The instruction in verifier notation; a label target shows as
        ``<name>``, a map that has been closed as ``map[closed]``."""
        if self.target is not None:
            return self.resolved(0).text().replace("pc+0", "<%s>" % self.target)
        try:
            imm = self._imm_now()
        except AsmError:
            return "r%d = map[closed]" % self.dst
        return disasm.format_insn(self.code, self.dst, self.src, self.off,
                                  imm, imm if self.slots == 2 else None)

    __str__ = text

    def __repr__(self) -> str:
        return "Instruction(%r)" % self.text()


def _fd_of(obj: object, builder: str) -> int:
    """An fd from an int or an object with ``fileno()`` (a map, a socket)."""
    if isinstance(obj, int) and not isinstance(obj, bool):
        fd = obj
    elif hasattr(obj, "fileno"):
        try:
            fd = obj.fileno()
        except ValueError as e:   # closed
            raise AsmError("%s: %s" % (builder, e))
    else:
        raise AsmError("%s: need a map (an object with fileno()) or an fd, not %r" % (builder, obj))
    return _range(fd, ((0, _S32[1]),), "map fd", builder)


class Label:
    """A position in a Program that jumps can name."""

    __slots__ = ("name",)
    name: str

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise AsmError("a label name must be a non-empty string, not %r" % (name,))
        self.name = name

    def __repr__(self) -> str:
        return "label(%r)" % self.name


def label(name: str) -> Label:
    """Mark the next instruction as ``name`` for jumps."""
    return Label(name)


# -- ALU and ALU64 -----------------------------------------------------------------

class _AluOp:
    """An arithmetic operation of one class: ``.imm(dst, value)``, ``.reg(dst, src)``."""

    def __init__(self, cls: int, op: int, name: str, off: int = 0) -> None:
        self.cls, self.op, self.name, self.off = cls, op, name, off
        self.wide = cls == k.BPF_ALU64

    def _imm_bounds(self) -> Tuple[_Bounds, ...]:
        if self.op in (k.BPF_LSH, k.BPF_RSH, k.BPF_ARSH):
            return ((0, (64 if self.wide else 32) - 1),)
        # 64-bit ops sign-extend the 32-bit immediate; 32-bit ones may take it unsigned
        return (_S32,) if self.wide else (_S32, _U32)

    def imm(self, dst: int, value: int) -> Instruction:
        where = "%s.imm" % self.name
        dst = _dst(dst, where)
        value = _range(value, self._imm_bounds(), "immediate", where)
        if self.op in (k.BPF_DIV, k.BPF_MOD) and value == 0:
            raise AsmError("%s: division by zero" % where)
        return Instruction(self.cls | self.op | k.BPF_K, dst, R0, self.off, _signed32(value))

    def reg(self, dst: int, src: int) -> Instruction:
        where = "%s.reg" % self.name
        return Instruction(self.cls | self.op | k.BPF_X, _dst(dst, where),
                           _reg(src, "source", where), self.off)

    def __repr__(self) -> str:
        return self.name


class _MovSxOp(_AluOp):
    """Sign-extending move (cpu v4, kernel 6.6): only ``.reg(dst, src)``."""

    def imm(self, dst: int, value: int) -> NoReturn:
        raise AsmError("%s has no immediate form (use MOV.imm: immediates are sign-extended)"
                       % self.name)


class _NegOp:
    def __init__(self, cls: int, name: str) -> None:
        self.cls, self.name = cls, name

    def __call__(self, dst: int) -> Instruction:
        return Instruction(self.cls | k.BPF_NEG | k.BPF_K, _dst(dst, self.name))

    def __repr__(self) -> str:
        return self.name


class _SwapOp:
    """Byte swap of the low ``width`` bits: to big/little endian (ALU), or
    unconditional (ALU64 BSWAP, cpu v4)."""

    def __init__(self, code: int, name: str) -> None:
        self.code, self.name = code, name

    def __call__(self, dst: int, width: int) -> Instruction:
        dst = _dst(dst, self.name)
        if width not in disasm.SWAP_WIDTHS:
            raise AsmError("%s: width must be 16, 32 or 64, not %r" % (self.name, width))
        return Instruction(self.code, dst, R0, 0, width)

    def __repr__(self) -> str:
        return self.name


class _AluGroup:
    """ALU64 or ALU: an _AluOp for each operation, SDIV/SMOD, MOVSX<width>, NEG."""

    # set by the loops in __init__
    ADD: _AluOp
    SUB: _AluOp
    MUL: _AluOp
    DIV: _AluOp
    OR: _AluOp
    AND: _AluOp
    LSH: _AluOp
    RSH: _AluOp
    MOD: _AluOp
    XOR: _AluOp
    MOV: _AluOp
    ARSH: _AluOp
    MOVSX8: _MovSxOp
    MOVSX16: _MovSxOp

    def __init__(self, cls: int, name: str) -> None:
        self.name = name
        for op_name, op in (("ADD", k.BPF_ADD), ("SUB", k.BPF_SUB), ("MUL", k.BPF_MUL),
                            ("DIV", k.BPF_DIV), ("OR", k.BPF_OR), ("AND", k.BPF_AND),
                            ("LSH", k.BPF_LSH), ("RSH", k.BPF_RSH), ("MOD", k.BPF_MOD),
                            ("XOR", k.BPF_XOR), ("MOV", k.BPF_MOV), ("ARSH", k.BPF_ARSH)):
            setattr(self, op_name, _AluOp(cls, op, "%s.%s" % (name, op_name)))
        self.SDIV = _AluOp(cls, k.BPF_DIV, name + ".SDIV", disasm.SIGNED_DIV_OFF)
        self.SMOD = _AluOp(cls, k.BPF_MOD, name + ".SMOD", disasm.SIGNED_DIV_OFF)
        widths = disasm.MOVSX_WIDTHS if cls == k.BPF_ALU64 else disasm.MOVSX_WIDTHS[:-1]
        for width in widths:
            setattr(self, "MOVSX%d" % width,
                    _MovSxOp(cls, k.BPF_MOV, "%s.MOVSX%d" % (name, width), width))
        self.NEG = _NegOp(cls, name + ".NEG")

    def __repr__(self) -> str:
        return self.name


class _Alu64Group(_AluGroup):
    """ALU64: also MOVSX32 and BSWAP."""

    MOVSX32: _MovSxOp
    BSWAP: _SwapOp


class _Alu32Group(_AluGroup):
    """ALU: also the byte swaps BE and LE."""

    BE: _SwapOp
    LE: _SwapOp


ALU64 = _Alu64Group(k.BPF_ALU64, "ALU64")
ALU64.BSWAP = _SwapOp(k.BPF_ALU64 | k.BPF_END | k.BPF_TO_LE, "ALU64.BSWAP")
ALU = _Alu32Group(k.BPF_ALU, "ALU")
ALU.BE = _SwapOp(k.BPF_ALU | k.BPF_END | k.BPF_TO_BE, "ALU.BE")
ALU.LE = _SwapOp(k.BPF_ALU | k.BPF_END | k.BPF_TO_LE, "ALU.LE")


# -- JMP and JMP32 -------------------------------------------------------------------

class _JumpOp:
    """A conditional jump: ``.imm(dst, value, target)``, ``.reg(dst, src, target)``."""

    def __init__(self, cls: int, op: int, name: str) -> None:
        self.cls, self.op, self.name = cls, op, name

    def imm(self, dst: int, value: int, target: _Target) -> Instruction:
        where = "%s.imm" % self.name
        dst = _reg(dst, "register", where)
        # JMP compares 64 bits with the sign-extended immediate; JMP32 compares 32
        bounds = (_S32, _U32) if self.cls == k.BPF_JMP32 else (_S32,)
        value = _signed32(_range(value, bounds, "immediate", where))
        return _jump(self.cls | self.op | k.BPF_K, dst, R0, value, _target(target, _S16, where))

    def reg(self, dst: int, src: int, target: _Target) -> Instruction:
        where = "%s.reg" % self.name
        return _jump(self.cls | self.op | k.BPF_X, _reg(dst, "register", where),
                     _reg(src, "source", where), 0, _target(target, _S16, where))

    def __repr__(self) -> str:
        return self.name


def _jump(code: int, dst: int, src: int, imm: int, target: _Target,
          field: str = "off") -> Instruction:
    if isinstance(target, str):
        return Instruction(code, dst, src, 0, imm, target=target)
    if field == "imm":
        return Instruction(code, dst, src, 0, target)
    return Instruction(code, dst, src, target, imm)


class _JaOp:
    """Unconditional jump: JMP.JA (16-bit offset) or JMP32.JA ("gotol", a
    32-bit offset in imm, cpu v4)."""

    def __init__(self, cls: int, name: str) -> None:
        self.cls, self.name = cls, name

    def __call__(self, target: _Target) -> Instruction:
        long_ = self.cls == k.BPF_JMP32
        target = _target(target, _S32 if long_ else _S16, self.name)
        return _jump(self.cls | k.BPF_JA, R0, R0, 0, target, "imm" if long_ else "off")

    def __repr__(self) -> str:
        return self.name


class _CallOp:
    """Call a helper by name ("redirect_map" or "bpf_redirect_map") or id."""

    name = "JMP.CALL"

    def __call__(self, helper: Union[str, int]) -> Instruction:
        if isinstance(helper, str):
            full = helper if helper.startswith(_HELPER_PREFIX) else _HELPER_PREFIX + helper
            if full not in _HELPER_IDS or full == _HELPER_PREFIX + "unspec":
                raise AsmError("%s: no helper function named %r" % (self.name, helper))
            hid = _HELPER_IDS[full]
        else:
            hid = _range(helper, ((1, _S32[1]),), "helper id", self.name)
        return Instruction(k.BPF_JMP | k.BPF_CALL, imm=hid)

    def __repr__(self) -> str:
        return self.name


class _ExitOp:
    name = "JMP.EXIT"

    def __call__(self) -> Instruction:
        return Instruction(k.BPF_JMP | k.BPF_EXIT)

    def __repr__(self) -> str:
        return self.name


_JUMP_OPS = (("JEQ", k.BPF_JEQ), ("JGT", k.BPF_JGT), ("JGE", k.BPF_JGE), ("JSET", k.BPF_JSET),
             ("JNE", k.BPF_JNE), ("JSGT", k.BPF_JSGT), ("JSGE", k.BPF_JSGE), ("JLT", k.BPF_JLT),
             ("JLE", k.BPF_JLE), ("JSLT", k.BPF_JSLT), ("JSLE", k.BPF_JSLE))


class _JumpGroup:
    """JMP or JMP32: a _JumpOp for each condition, and JA."""

    # set by the loop in __init__
    JEQ: _JumpOp
    JGT: _JumpOp
    JGE: _JumpOp
    JSET: _JumpOp
    JNE: _JumpOp
    JSGT: _JumpOp
    JSGE: _JumpOp
    JLT: _JumpOp
    JLE: _JumpOp
    JSLT: _JumpOp
    JSLE: _JumpOp

    def __init__(self, cls: int, name: str) -> None:
        self.name = name
        for op_name, op in _JUMP_OPS:
            setattr(self, op_name, _JumpOp(cls, op, "%s.%s" % (name, op_name)))
        self.JA = _JaOp(cls, name + ".JA")

    def __repr__(self) -> str:
        return self.name


class _JmpGroup(_JumpGroup):
    """JMP: also CALL and EXIT (JMP32 has neither)."""

    CALL: _CallOp
    EXIT: _ExitOp


JMP = _JmpGroup(k.BPF_JMP, "JMP")
JMP.CALL = _CallOp()
JMP.EXIT = _ExitOp()
JMP32 = _JumpGroup(k.BPF_JMP32, "JMP32")


# -- memory --------------------------------------------------------------------------

_SIZE_CODES = (("B", k.BPF_B, _U8, _S8), ("H", k.BPF_H, _U16, _S16),
               ("W", k.BPF_W, _U32, _S32), ("DW", k.BPF_DW, _U64, _S64))


class _LoadOp:
    """``LDX.W(dst, src, off)``: dst = *(u32 *)(src + off)."""

    def __init__(self, code: int, name: str) -> None:
        self.code, self.name = code, name

    def __call__(self, dst: int, src: int, off: int) -> Instruction:
        return Instruction(self.code, _dst(dst, self.name), _reg(src, "source", self.name),
                           _range(off, (_S16,), "offset", self.name))

    def __repr__(self) -> str:
        return self.name


class _StoreRegOp:
    """``STX.W(dst, off, src)``: *(u32 *)(dst + off) = src."""

    def __init__(self, code: int, name: str) -> None:
        self.code, self.name = code, name

    def __call__(self, dst: int, off: int, src: int) -> Instruction:
        return Instruction(self.code, _reg(dst, "base register", self.name),
                           _reg(src, "source", self.name), _range(off, (_S16,), "offset", self.name))

    def __repr__(self) -> str:
        return self.name


class _StoreImmOp:
    """``ST.W(dst, off, value)``: *(u32 *)(dst + off) = value.  The value may
    be given signed or unsigned for B/H/W; DW sign-extends a 32-bit one."""

    def __init__(self, code: int, name: str, unsigned: _Bounds, signed: _Bounds) -> None:
        self.code, self.name = code, name
        self.bounds: Tuple[_Bounds, ...]
        if k.BPF_SIZE(code) == k.BPF_DW:
            self.bounds = (_S32,)
        else:
            self.bounds = (signed, unsigned)

    def __call__(self, dst: int, off: int, value: int) -> Instruction:
        value = _range(value, self.bounds, "immediate", self.name)
        return Instruction(self.code, _reg(dst, "base register", self.name), R0,
                           _range(off, (_S16,), "offset", self.name), _signed32(value))

    def __repr__(self) -> str:
        return self.name


class _Group:
    """A named set of builders; the subclasses say which."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


class _LdxGroup(_Group):
    B: _LoadOp
    H: _LoadOp
    W: _LoadOp
    DW: _LoadOp
    SB: _LoadOp
    SH: _LoadOp
    SW: _LoadOp


class _StxGroup(_Group):
    B: _StoreRegOp
    H: _StoreRegOp
    W: _StoreRegOp
    DW: _StoreRegOp


class _StGroup(_Group):
    B: _StoreImmOp
    H: _StoreImmOp
    W: _StoreImmOp
    DW: _StoreImmOp


LDX = _LdxGroup("LDX")
STX = _StxGroup("STX")
ST = _StGroup("ST")
for _name, _size, _unsigned, _signed in _SIZE_CODES:
    setattr(LDX, _name, _LoadOp(k.BPF_LDX | k.BPF_MEM | _size, "LDX." + _name))
    setattr(STX, _name, _StoreRegOp(k.BPF_STX | k.BPF_MEM | _size, "STX." + _name))
    setattr(ST, _name, _StoreImmOp(k.BPF_ST | k.BPF_MEM | _size, "ST." + _name, _unsigned, _signed))
    if _size != k.BPF_DW:   # sign-extending loads (cpu v4, 6.6)
        setattr(LDX, "S" + _name, _LoadOp(k.BPF_LDX | k.BPF_MEMSX | _size, "LDX.S" + _name))


class _AtomicOp:
    """``ATOMIC.ADD.DW(dst, off, src)``: lock *(u64 *)(dst + off) += src.
    The FETCH_ forms and XCHG also load the old value into src; CMPXCHG
    compares with R0 and loads the old value into R0."""

    def __init__(self, code: int, imm: int, name: str) -> None:
        self.code, self.imm, self.name = code, imm, name

    def __call__(self, dst: int, off: int, src: int) -> Instruction:
        return Instruction(self.code, _reg(dst, "base register", self.name),
                           _reg(src, "source", self.name),
                           _range(off, (_S16,), "offset", self.name), self.imm)

    def __repr__(self) -> str:
        return self.name


class _AtomicSizes(_Group):
    W: _AtomicOp
    DW: _AtomicOp


class _AtomicGroup(_Group):
    ADD: _AtomicSizes
    AND: _AtomicSizes
    OR: _AtomicSizes
    XOR: _AtomicSizes
    FETCH_ADD: _AtomicSizes
    FETCH_AND: _AtomicSizes
    FETCH_OR: _AtomicSizes
    FETCH_XOR: _AtomicSizes
    XCHG: _AtomicSizes
    CMPXCHG: _AtomicSizes


ATOMIC = _AtomicGroup("ATOMIC")
for _op_name, _imm in (("ADD", k.BPF_ADD), ("AND", k.BPF_AND), ("OR", k.BPF_OR), ("XOR", k.BPF_XOR),
                       ("FETCH_ADD", k.BPF_ADD | k.BPF_FETCH), ("FETCH_AND", k.BPF_AND | k.BPF_FETCH),
                       ("FETCH_OR", k.BPF_OR | k.BPF_FETCH), ("FETCH_XOR", k.BPF_XOR | k.BPF_FETCH),
                       ("XCHG", k.BPF_XCHG), ("CMPXCHG", k.BPF_CMPXCHG)):
    _sizes = _AtomicSizes("ATOMIC." + _op_name)
    for _name, _size in (("W", k.BPF_W), ("DW", k.BPF_DW)):
        setattr(_sizes, _name, _AtomicOp(k.BPF_STX | k.BPF_ATOMIC | _size, _imm,
                                         "ATOMIC.%s.%s" % (_op_name, _name)))
    setattr(ATOMIC, _op_name, _sizes)


class _LdGroup(_Group):
    """The two-slot 64-bit immediate load (BPF_LD | BPF_IMM | BPF_DW)."""

    CODE = k.BPF_LD | k.BPF_IMM | k.BPF_DW

    def imm64(self, dst: int, value: int) -> Instruction:
        """dst = value (any 64-bit value, signed or unsigned)."""
        where = "LD.imm64"
        value = _range(value, (_S64, _U64), "immediate", where)
        return Instruction(self.CODE, _dst(dst, where), R0, 0, value & _U64[1])

    def map_fd(self, dst: int, map_: Union[int, _HasFileno]) -> Instruction:
        """dst = the map (BPF_PSEUDO_MAP_FD): the verifier swaps the fd for the
        map's address.  ``map_`` is a map object (its fd is read when the
        program is assembled) or an fd."""
        return self._map_load(dst, map_, k.BPF_PSEUDO_MAP_FD, 0, "LD.map_fd")

    def map_value(self, dst: int, map_: Union[int, _HasFileno], offset: int = 0) -> Instruction:
        """dst = &value[0] + offset of an array map (BPF_PSEUDO_MAP_VALUE)."""
        where = "LD.map_value"
        offset = _range(offset, ((0, _U32[1]),), "offset", where)
        return self._map_load(dst, map_, k.BPF_PSEUDO_MAP_VALUE, offset, where)

    def _map_load(self, dst: int, map_: Union[int, _HasFileno], pseudo: int, high: int,
                  where: str) -> Instruction:
        dst = _dst(dst, where)
        if isinstance(map_, int):
            return Instruction(self.CODE, dst, pseudo, 0, (high << 32) | _fd_of(map_, where))
        _fd_of(map_, where)     # an open map now, or fail now
        return Instruction(self.CODE, dst, pseudo, 0, high << 32, map=map_)


LD = _LdGroup("LD")


# -- programs ------------------------------------------------------------------------

class Program:
    """A list of instructions and labels, assembled to the bytes BPF_PROG_LOAD takes.

    Items are :class:`Instruction` objects and :func:`label` markers; add
    them in the constructor, with :meth:`append`/:meth:`extend`/``+=``, or
    mark the next instruction with :meth:`label`.  Instruction indexes in
    error messages count instructions (not labels) from 0.
    """

    def __init__(self, items: Iterable[Union[Instruction, Label]] = ()) -> None:
        self._insns: List[Instruction] = []
        self._labels: Dict[str, int] = {}      # name -> index of the instruction it marks
        self.extend(items)

    def append(self, item: Union[Instruction, Label]) -> Program:
        if isinstance(item, Label):
            return self.label(item.name)
        if not isinstance(item, Instruction):
            raise AsmError("instruction %d: %r is not an Instruction or a label" % (len(self._insns), item))
        self._insns.append(item)
        return self

    def extend(self, items: Iterable[Union[Instruction, Label]]) -> Program:
        if isinstance(items, (Instruction, Label)):
            raise AsmError("extend() takes a list of instructions; use append() for one")
        for item in items:
            self.append(item)
        return self

    def __iadd__(self, items: Iterable[Union[Instruction, Label]]) -> Program:
        return self.extend(items)

    def label(self, name: str) -> Program:
        """Mark the next instruction appended as ``name``."""
        name = Label(name).name
        index = len(self._insns)
        if name in self._labels:
            raise AsmError("instruction %d: duplicate label %r (already marks instruction %d)"
                           % (index, name, self._labels[name]))
        self._labels[name] = index
        return self

    @property
    def labels(self) -> Dict[str, int]:
        """{name: index of the instruction it marks}."""
        return dict(self._labels)

    def __len__(self) -> int:
        return len(self._insns)

    def __iter__(self) -> Iterator[Instruction]:
        return iter(self._insns)

    @overload
    def __getitem__(self, index: int) -> Instruction: ...

    @overload
    def __getitem__(self, index: slice) -> List[Instruction]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[Instruction, List[Instruction]]:
        return self._insns[index]

    def slot_offsets(self) -> List[int]:
        """The slot at which each instruction starts, plus the total slot count."""
        starts: List[int] = []
        slot = 0
        for insn in self._insns:
            starts.append(slot)
            slot += insn.slots
        starts.append(slot)
        return starts

    def resolve(self) -> List[Instruction]:
        """The instructions with every label target replaced by a distance."""
        starts = self.slot_offsets()
        total = starts[-1]
        out: List[Instruction] = []
        for index, insn in enumerate(self._insns):
            if insn.target is None:
                out.append(insn)
                continue
            if insn.target not in self._labels:
                raise AsmError("instruction %d (%s): unknown label %r" % (index, insn, insn.target))
            slot = starts[self._labels[insn.target]]
            if slot >= total:
                raise AsmError("instruction %d (%s): label %r marks the end of the program, "
                               "not an instruction" % (index, insn, insn.target))
            distance = slot - (starts[index] + 1)
            bounds = _S32 if insn._jump_field() == "imm" else _S16
            if not bounds[0] <= distance <= bounds[1]:
                raise AsmError("instruction %d (%s): label %r is %d slots away, beyond %d..%d"
                               % (index, insn, insn.target, distance, bounds[0], bounds[1]))
            out.append(insn.resolved(distance))
        return out

    def assemble(self) -> bytes:
        """The program as bytes of struct bpf_insn, labels resolved."""
        if not self._insns:
            raise AsmError("empty program: the kernel needs at least an exit")
        chunks: List[bytes] = []
        for index, insn in enumerate(self.resolve()):
            try:
                chunks.append(insn.encode())
            except AsmError as e:
                raise AsmError("instruction %d: %s" % (index, e))
        return b"".join(chunks)

    def __str__(self) -> str:
        starts = self.slot_offsets()
        by_index: Dict[int, List[str]] = {}
        for name, index in self._labels.items():
            by_index.setdefault(index, []).append(name)
        lines: List[str] = []
        for index, insn in enumerate(self._insns):
            lines.extend("%s:" % name for name in by_index.get(index, ()))
            lines.append("%d: (%02x) %s" % (starts[index], insn.code, insn.text()))
        lines.extend("%s:" % name for name in by_index.get(len(self._insns), ()))
        return "\n".join(lines) + ("\n" if lines else "")

    def __repr__(self) -> str:
        return "<Program %d instructions, %d labels>" % (len(self._insns), len(self._labels))


def decode(data: disasm.Buffer) -> Program:
    """Bytes of struct bpf_insn back into a :class:`Program` (jumps keep
    their numeric distances).  Raises AsmError for bytes that are not a
    whole number of instructions or hold a code the kernel does not know."""
    prog = Program()
    for slot, code, dst, src, off, imm, imm64 in disasm.iter_raw(data):
        try:
            disasm.format_insn(code, dst, src, off, imm, imm64)
            insn = Instruction(code, dst, src, off, imm if imm64 is None else imm64)
        except AsmError as e:
            raise AsmError("instruction %d (slot %d): %s" % (len(prog), slot, e))
        prog.append(insn)
    return prog
