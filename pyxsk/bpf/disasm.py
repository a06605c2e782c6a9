"""eBPF bytes -> text, in the kernel verifier's own notation.

The verifier log, ``bpftool prog dump xlated`` and the kernel's
``kernel/bpf/disasm.c`` all print instructions the same way::

    0: (b7) r0 = 2
    1: (61) r2 = *(u32 *)(r1 +16)
    2: (18) r1 = map[fd:5]
    4: (85) call bpf_redirect_map#51
    5: (95) exit

so this module prints them that way too: golden tests and error messages
then read like the log the kernel writes.  The one difference is a map
reference in a 64-bit load: the kernel prints the map's address (it has
replaced the fd by then), pyxsk prints ``map[fd:N]`` as bpftool does with
``map[id:N]``.

The formatting works on raw fields, so it knows nothing of
:mod:`pyxsk.bpf.asm`; ``pyxsk.bpf.asm.decode`` turns bytes back into instructions.
"""

from __future__ import annotations

import ctypes
from typing import Iterator, Optional, Tuple, Union

from ..errors import AsmError
from ..uapi import bpf as k

INSN_SIZE = ctypes.sizeof(k.bpf_insn)
_U32_MASK = 0xffffffff
_U64_MASK = 0xffffffffffffffff

_ALU_OPS = {
    k.BPF_ADD: "+=", k.BPF_SUB: "-=", k.BPF_MUL: "*=", k.BPF_DIV: "/=",
    k.BPF_OR: "|=", k.BPF_AND: "&=", k.BPF_LSH: "<<=", k.BPF_RSH: ">>=",
    k.BPF_MOD: "%=", k.BPF_XOR: "^=", k.BPF_MOV: "=", k.BPF_ARSH: "s>>=",
}
_SIGNED_ALU_OPS = {k.BPF_DIV: "s/=", k.BPF_MOD: "s%="}
SIGNED_DIV_OFF = 1                      # off of sdiv/smod (cpu v4)
MOVSX_WIDTHS = (8, 16, 32)              # off of movsx: the source width
ADDR_SPACE_CAST_OFF = 1                 # off of ALU64 MOV X: arena address cast
_ADDR_SPACE_SHIFT = 16
_ADDR_SPACE_MASK = 0xffff
SWAP_WIDTHS = (16, 32, 64)

_JMP_OPS = {
    k.BPF_JEQ: "==", k.BPF_JGT: ">", k.BPF_JGE: ">=", k.BPF_JSET: "&",
    k.BPF_JNE: "!=", k.BPF_JSGT: "s>", k.BPF_JSGE: "s>=", k.BPF_JLT: "<",
    k.BPF_JLE: "<=", k.BPF_JSLT: "s<", k.BPF_JSLE: "s<=",
}
_SIZES = {k.BPF_W: "u32", k.BPF_H: "u16", k.BPF_B: "u8", k.BPF_DW: "u64"}
_SIGNED_SIZES = {k.BPF_W: "s32", k.BPF_H: "s16", k.BPF_B: "s8"}
_ATOMIC_ALU = {k.BPF_ADD: "add", k.BPF_AND: "and", k.BPF_OR: "or", k.BPF_XOR: "xor"}

# What iter_raw yields: (slot, code, dst, src, off, imm, imm64)
RawInsn = Tuple[int, int, int, int, int, int, Optional[int]]
# What iter_raw and disassemble read: anything bytes() copies as a buffer
Buffer = Union[bytes, bytearray, memoryview]


def is_wide(code: int) -> bool:
    """True for the two-slot 64-bit immediate load (BPF_LD | BPF_IMM | BPF_DW)."""
    return code == k.BPF_LD | k.BPF_IMM | k.BPF_DW


def _unknown(code: int, why: str = "") -> AsmError:
    return AsmError("unknown or invalid instruction code 0x%02x%s" % (code, why and ": " + why))


def _alu(code: int, dst: int, src: int, off: int, imm: int) -> str:
    cls, op = k.BPF_CLASS(code), k.BPF_OP(code)
    wide = cls == k.BPF_ALU64
    r = "r" if wide else "w"
    if op == k.BPF_END:
        if imm not in SWAP_WIDTHS:
            raise _unknown(code, "byte swap width %d" % imm)
        if wide:
            if k.BPF_SRC(code) != k.BPF_K:
                raise _unknown(code, "bswap takes no source register")
            return "r%d = bswap%d r%d" % (dst, imm, dst)
        order = "be" if k.BPF_SRC(code) == k.BPF_TO_BE else "le"
        return "r%d = %s%d r%d" % (dst, order, imm, dst)
    if op == k.BPF_NEG:
        if k.BPF_SRC(code) != k.BPF_K:
            raise _unknown(code, "neg takes no source register")
        return "%s%d = -%s%d" % (r, dst, r, dst)
    if op not in _ALU_OPS:
        raise _unknown(code)
    sign = op in _SIGNED_ALU_OPS and off == SIGNED_DIV_OFF
    text = _SIGNED_ALU_OPS[op] if sign else _ALU_OPS[op]
    if k.BPF_SRC(code) == k.BPF_K:
        return "%s%d %s %d" % (r, dst, text, imm)
    if wide and op == k.BPF_MOV and off == ADDR_SPACE_CAST_OFF:
        return "r%d = addr_space_cast(r%d, %d, %d)" % (
            dst, src, (imm & _U32_MASK) >> _ADDR_SPACE_SHIFT, imm & _ADDR_SPACE_MASK)
    cast = "(s%d)" % off if op == k.BPF_MOV and off in MOVSX_WIDTHS else ""
    return "%s%d %s %s%s%d" % (r, dst, text, cast, r, src)


def _mem(size_code: int, reg: int, off: int) -> str:
    return "(%s *)(r%d %+d)" % (_SIZES[size_code], reg, off)


def _stx(code: int, dst: int, src: int, off: int, imm: int) -> str:
    mode, size = k.BPF_MODE(code), k.BPF_SIZE(code)
    if mode == k.BPF_MEM:
        return "*%s = r%d" % (_mem(size, dst, off), src)
    if mode != k.BPF_ATOMIC or size not in (k.BPF_W, k.BPF_DW):
        raise _unknown(code)
    width = "64" if size == k.BPF_DW else ""
    if imm in _ATOMIC_ALU:
        return "lock *%s %s r%d" % (_mem(size, dst, off), _ALU_OPS[imm], src)
    if imm & ~k.BPF_FETCH in _ATOMIC_ALU and imm & k.BPF_FETCH:
        return "r%d = atomic%s_fetch_%s(%s, r%d)" % (
            src, width, _ATOMIC_ALU[imm & ~k.BPF_FETCH], _mem(size, dst, off), src)
    if imm == k.BPF_CMPXCHG:
        return "r0 = atomic%s_cmpxchg(%s, r0, r%d)" % (width, _mem(size, dst, off), src)
    if imm == k.BPF_XCHG:
        return "r%d = atomic%s_xchg(%s, r%d)" % (src, width, _mem(size, dst, off), src)
    raise _unknown(code, "atomic operation 0x%x" % imm)


def _ld(code: int, dst: int, src: int, off: int, imm: int, imm64: int) -> str:
    mode, size = k.BPF_MODE(code), k.BPF_SIZE(code)
    if mode == k.BPF_ABS:
        return "r0 = *(%s *)skb[%d]" % (_SIZES[size], imm)
    if mode == k.BPF_IND:
        return "r0 = *(%s *)skb[r%d + %d]" % (_SIZES[size], src, imm)
    if not is_wide(code):
        raise _unknown(code)
    if src == k.BPF_PSEUDO_MAP_FD:
        return "r%d = map[fd:%d]" % (dst, imm64 & _U32_MASK)
    if src == k.BPF_PSEUDO_MAP_VALUE:
        return "r%d = map[fd:%d][0]+%d" % (dst, imm64 & _U32_MASK, imm64 >> 32)
    return "r%d = 0x%x" % (dst, imm64 & _U64_MASK)


def _jmp(code: int, dst: int, src: int, off: int, imm: int) -> str:
    cls, op = k.BPF_CLASS(code), k.BPF_OP(code)
    r = "w" if cls == k.BPF_JMP32 else "r"
    if cls == k.BPF_JMP and op == k.BPF_CALL:
        if src == k.BPF_PSEUDO_CALL:
            return "call pc%+d" % imm
        if src == k.BPF_PSEUDO_KFUNC_CALL:
            return "call kernel-function#%d" % imm
        return "call %s#%d" % (k.HELPER_NAMES.get(imm, "unknown"), imm)
    if cls == k.BPF_JMP and op == k.BPF_EXIT:
        return "exit"
    if op == k.BPF_JA:
        return "goto pc%+d" % off if cls == k.BPF_JMP else "gotol pc%+d" % imm
    if op not in _JMP_OPS:
        raise _unknown(code)
    if k.BPF_SRC(code) == k.BPF_X:
        return "if %s%d %s %s%d goto pc%+d" % (r, dst, _JMP_OPS[op], r, src, off)
    return "if %s%d %s 0x%x goto pc%+d" % (r, dst, _JMP_OPS[op], imm & _U32_MASK, off)


def format_insn(code: int, dst: int, src: int, off: int, imm: int,
                imm64: Optional[int] = None) -> str:
    """One instruction in verifier notation (without the ``N: (code)`` prefix).

    ``imm64`` is the whole 64-bit immediate of a two-slot load (low half from
    the first slot's imm, high half from the second's).  Raises AsmError for a
    code the kernel does not know.
    """
    cls = k.BPF_CLASS(code)
    if cls in (k.BPF_ALU, k.BPF_ALU64):
        return _alu(code, dst, src, off, imm)
    if cls in (k.BPF_JMP, k.BPF_JMP32):
        if cls == k.BPF_JMP32 and k.BPF_OP(code) in (k.BPF_CALL, k.BPF_EXIT):
            raise _unknown(code, "JMP32 has no call or exit")
        return _jmp(code, dst, src, off, imm)
    if cls == k.BPF_STX:
        return _stx(code, dst, src, off, imm)
    if cls == k.BPF_ST:
        if k.BPF_MODE(code) != k.BPF_MEM:
            raise _unknown(code)
        return "*%s = %d" % (_mem(k.BPF_SIZE(code), dst, off), imm)
    if cls == k.BPF_LDX:
        mode, size = k.BPF_MODE(code), k.BPF_SIZE(code)
        if mode == k.BPF_MEM:
            return "r%d = *%s" % (dst, _mem(size, src, off))
        if mode == k.BPF_MEMSX and size in _SIGNED_SIZES:
            return "r%d = *(%s *)(r%d %+d)" % (dst, _SIGNED_SIZES[size], src, off)
        raise _unknown(code)
    return _ld(code, dst, src, off, imm, imm if imm64 is None else imm64)


def iter_raw(data: Buffer) -> Iterator[RawInsn]:
    """Yield ``(slot, code, dst, src, off, imm, imm64)`` for each instruction
    in ``data``; a two-slot load yields once, with ``imm64`` set."""
    data = bytes(data)
    if len(data) % INSN_SIZE:
        raise AsmError("%d bytes is not a whole number of %d-byte instructions"
                       % (len(data), INSN_SIZE))
    count = len(data) // INSN_SIZE
    slot = 0
    while slot < count:
        insn = k.bpf_insn.from_buffer_copy(data, slot * INSN_SIZE)
        imm64: Optional[int] = None
        if is_wide(insn.code):
            if slot + 1 >= count:
                raise AsmError("instruction at slot %d: 64-bit load is missing its second half" % slot)
            high = k.bpf_insn.from_buffer_copy(data, (slot + 1) * INSN_SIZE)
            if high.code or high.dst_reg or high.src_reg or high.off:
                raise AsmError("instruction at slot %d: second half of a 64-bit load must be "
                               "zero except its imm" % slot)
            imm64 = ((high.imm & _U32_MASK) << 32) | (insn.imm & _U32_MASK)
        yield slot, insn.code, insn.dst_reg, insn.src_reg, insn.off, insn.imm, imm64
        slot += 2 if imm64 is not None else 1


def disassemble(data: Buffer) -> str:
    """``data`` (bytes of struct bpf_insn) as a listing, one line per
    instruction: ``"slot: (code) text"``, as the verifier log shows it."""
    lines = []
    for slot, code, dst, src, off, imm, imm64 in iter_raw(data):
        try:
            text = format_insn(code, dst, src, off, imm, imm64)
        except AsmError as e:
            raise AsmError("instruction at slot %d: %s" % (slot, e))
        lines.append("%d: (%02x) %s" % (slot, code, text))
    return "\n".join(lines) + ("\n" if lines else "")
