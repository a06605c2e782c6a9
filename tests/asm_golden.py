"""Golden encodings: every instruction form pyxsk.bpf.asm builds, with its bytes,
the kernel verifier's text for it, and, where LLVM 14's BPF target knows the
form, the line llvm-mc assembles to the same bytes (``asm``) and the line
``llvm-mc --disassemble`` prints for them (``dis``; None: same as ``asm``).

The bytes were written from the instruction set documentation
(Documentation/bpf/standardization/instruction-set.rst), not from pyxsk."""

import collections

from pyxsk.bpf.asm import ALU, ALU64, ATOMIC, JMP, JMP32, LD, LDX, R0, R1, R2, R10, ST, STX

Golden = collections.namedtuple("Golden", "insn hex kernel asm dis")
NO_LLVM = None


def g(insn, hex_, kernel, asm=NO_LLVM, dis=None):
    return Golden(insn, hex_.replace(" ", ""), kernel, asm, dis if dis is not None else asm)


_ALU_OPS = [  # name, op nibble, kernel text, LLVM 14 knows it
    ("ADD", 0x0, "+=", True), ("SUB", 0x1, "-=", True), ("MUL", 0x2, "*=", True),
    ("DIV", 0x3, "/=", True), ("OR", 0x4, "|=", True), ("AND", 0x5, "&=", True),
    ("LSH", 0x6, "<<=", True), ("RSH", 0x7, ">>=", True), ("MOD", 0x9, "%=", False),
    ("XOR", 0xa, "^=", True), ("MOV", 0xb, "=", True), ("ARSH", 0xc, "s>>=", True),
]


def _alu():
    out = []
    for group, cls, r in ((ALU64, 0x7, "r"), (ALU, 0x4, "w")):
        for name, op, text, llvm in _ALU_OPS:
            imm_text = "%s1 %s 7" % (r, text)
            reg_text = "%s1 %s %s2" % (r, text, r)
            out.append(g(getattr(group, name).imm(R1, 7), "%x%x 01 0000 07000000" % (op, cls),
                         imm_text, imm_text if llvm else NO_LLVM))
            out.append(g(getattr(group, name).reg(R1, R2), "%x%x 21 0000 00000000" % (op, cls | 8),
                         reg_text, reg_text if llvm else NO_LLVM))
    return out


GOLDEN = _alu() + [
    # immediates: sign-extended for 64-bit, either spelling for 32-bit
    g(ALU64.MOV.imm(R1, -1), "b7 01 0000 ffffffff", "r1 = -1", "r1 = -1"),
    g(ALU.MOV.imm(R1, 0xffffffff), "b4 01 0000 ffffffff", "w1 = -1", "w1 = -1"),
    g(ALU64.LSH.imm(R1, 63), "67 01 0000 3f000000", "r1 <<= 63", "r1 <<= 63"),
    g(ALU64.NEG(R1), "87 01 0000 00000000", "r1 = -r1", "r1 = -r1"),
    g(ALU.NEG(R1), "84 01 0000 00000000", "w1 = -w1", "w1 = -w1"),
    # byte swaps
    g(ALU.LE(R1, 16), "d4 01 0000 10000000", "r1 = le16 r1", "r1 = le16 r1"),
    g(ALU.LE(R1, 32), "d4 01 0000 20000000", "r1 = le32 r1", "r1 = le32 r1"),
    g(ALU.LE(R1, 64), "d4 01 0000 40000000", "r1 = le64 r1", "r1 = le64 r1"),
    g(ALU.BE(R1, 16), "dc 01 0000 10000000", "r1 = be16 r1", "r1 = be16 r1"),
    g(ALU.BE(R1, 32), "dc 01 0000 20000000", "r1 = be32 r1", "r1 = be32 r1"),
    g(ALU.BE(R1, 64), "dc 01 0000 40000000", "r1 = be64 r1", "r1 = be64 r1"),
    g(ALU64.BSWAP(R1, 16), "d7 01 0000 10000000", "r1 = bswap16 r1"),
    g(ALU64.BSWAP(R1, 32), "d7 01 0000 20000000", "r1 = bswap32 r1"),
    g(ALU64.BSWAP(R1, 64), "d7 01 0000 40000000", "r1 = bswap64 r1"),
    # cpu v4: signed division, sign-extending moves
    g(ALU64.SDIV.imm(R1, 7), "37 01 0100 07000000", "r1 s/= 7"),
    g(ALU64.SDIV.reg(R1, R2), "3f 21 0100 00000000", "r1 s/= r2"),
    g(ALU64.SMOD.imm(R1, 7), "97 01 0100 07000000", "r1 s%= 7"),
    g(ALU64.SMOD.reg(R1, R2), "9f 21 0100 00000000", "r1 s%= r2"),
    g(ALU.SDIV.reg(R1, R2), "3c 21 0100 00000000", "w1 s/= w2"),
    g(ALU.SMOD.imm(R1, 7), "94 01 0100 07000000", "w1 s%= 7"),
    g(ALU64.MOVSX8.reg(R1, R2), "bf 21 0800 00000000", "r1 = (s8)r2"),
    g(ALU64.MOVSX16.reg(R1, R2), "bf 21 1000 00000000", "r1 = (s16)r2"),
    g(ALU64.MOVSX32.reg(R1, R2), "bf 21 2000 00000000", "r1 = (s32)r2"),
    g(ALU.MOVSX8.reg(R1, R2), "bc 21 0800 00000000", "w1 = (s8)w2"),
    g(ALU.MOVSX16.reg(R1, R2), "bc 21 1000 00000000", "w1 = (s16)w2"),
    # jumps
    g(JMP.JEQ.imm(R1, 5, 3), "15 01 0300 05000000", "if r1 == 0x5 goto pc+3", "if r1 == 5 goto +3"),
    g(JMP.JGT.imm(R1, 5, 3), "25 01 0300 05000000", "if r1 > 0x5 goto pc+3", "if r1 > 5 goto +3"),
    g(JMP.JGE.imm(R1, 5, 3), "35 01 0300 05000000", "if r1 >= 0x5 goto pc+3", "if r1 >= 5 goto +3"),
    g(JMP.JSET.imm(R1, 5, 3), "45 01 0300 05000000", "if r1 & 0x5 goto pc+3"),
    g(JMP.JNE.imm(R1, 5, 3), "55 01 0300 05000000", "if r1 != 0x5 goto pc+3", "if r1 != 5 goto +3"),
    g(JMP.JSGT.imm(R1, 5, 3), "65 01 0300 05000000", "if r1 s> 0x5 goto pc+3", "if r1 s> 5 goto +3"),
    g(JMP.JSGE.imm(R1, 5, 3), "75 01 0300 05000000", "if r1 s>= 0x5 goto pc+3", "if r1 s>= 5 goto +3"),
    g(JMP.JLT.imm(R1, 5, 3), "a5 01 0300 05000000", "if r1 < 0x5 goto pc+3", "if r1 < 5 goto +3"),
    g(JMP.JLE.imm(R1, 5, 3), "b5 01 0300 05000000", "if r1 <= 0x5 goto pc+3", "if r1 <= 5 goto +3"),
    g(JMP.JSLT.imm(R1, -5, -3), "c5 01 fdff fbffffff", "if r1 s< 0xfffffffb goto pc-3",
      "if r1 s< -5 goto -3"),
    g(JMP.JSLE.imm(R1, 5, 3), "d5 01 0300 05000000", "if r1 s<= 0x5 goto pc+3", "if r1 s<= 5 goto +3"),
    g(JMP.JEQ.reg(R1, R2, -2), "1d 21 feff 00000000", "if r1 == r2 goto pc-2", "if r1 == r2 goto -2"),
    g(JMP.JGT.reg(R1, R2, 1), "2d 21 0100 00000000", "if r1 > r2 goto pc+1", "if r1 > r2 goto +1"),
    g(JMP.JGE.reg(R1, R2, 1), "3d 21 0100 00000000", "if r1 >= r2 goto pc+1", "if r1 >= r2 goto +1"),
    g(JMP.JSET.reg(R1, R2, 1), "4d 21 0100 00000000", "if r1 & r2 goto pc+1"),
    g(JMP.JNE.reg(R1, R2, 1), "5d 21 0100 00000000", "if r1 != r2 goto pc+1", "if r1 != r2 goto +1"),
    g(JMP.JSGT.reg(R1, R2, 1), "6d 21 0100 00000000", "if r1 s> r2 goto pc+1", "if r1 s> r2 goto +1"),
    g(JMP.JSGE.reg(R1, R2, 1), "7d 21 0100 00000000", "if r1 s>= r2 goto pc+1", "if r1 s>= r2 goto +1"),
    g(JMP.JLT.reg(R1, R2, 1), "ad 21 0100 00000000", "if r1 < r2 goto pc+1", "if r1 < r2 goto +1"),
    g(JMP.JLE.reg(R1, R2, 1), "bd 21 0100 00000000", "if r1 <= r2 goto pc+1", "if r1 <= r2 goto +1"),
    g(JMP.JSLT.reg(R1, R2, 1), "cd 21 0100 00000000", "if r1 s< r2 goto pc+1", "if r1 s< r2 goto +1"),
    g(JMP.JSLE.reg(R1, R2, 1), "dd 21 0100 00000000", "if r1 s<= r2 goto pc+1", "if r1 s<= r2 goto +1"),
    g(JMP32.JEQ.imm(R1, 5, 3), "16 01 0300 05000000", "if w1 == 0x5 goto pc+3", "if w1 == 5 goto +3"),
    g(JMP32.JGT.imm(R1, 0xffffffff, 1), "26 01 0100 ffffffff", "if w1 > 0xffffffff goto pc+1",
      "if w1 > -1 goto +1"),
    g(JMP32.JSET.imm(R1, 4, 1), "46 01 0100 04000000", "if w1 & 0x4 goto pc+1"),
    g(JMP32.JNE.reg(R1, R2, 1), "5e 21 0100 00000000", "if w1 != w2 goto pc+1", "if w1 != w2 goto +1"),
    g(JMP32.JSLT.reg(R1, R2, 1), "ce 21 0100 00000000", "if w1 s< w2 goto pc+1", "if w1 s< w2 goto +1"),
    g(JMP.JA(4), "05 00 0400 00000000", "goto pc+4", "goto +4"),
    g(JMP.JA(-1), "05 00 ffff 00000000", "goto pc-1", "goto -1"),
    g(JMP32.JA(100000), "06 00 0000 a0860100", "gotol pc+100000"),
    g(JMP.CALL("redirect_map"), "85 00 0000 33000000", "call bpf_redirect_map#51", "call 51"),
    g(JMP.CALL("bpf_map_lookup_elem"), "85 00 0000 01000000", "call bpf_map_lookup_elem#1", "call 1"),
    g(JMP.EXIT(), "95 00 0000 00000000", "exit", "exit"),
    # loads and stores
    g(LDX.B(R1, R2, -2), "71 21 feff 00000000", "r1 = *(u8 *)(r2 -2)", "r1 = *(u8 *)(r2 - 2)"),
    g(LDX.H(R1, R2, 12), "69 21 0c00 00000000", "r1 = *(u16 *)(r2 +12)", "r1 = *(u16 *)(r2 + 12)"),
    g(LDX.W(R2, R1, 16), "61 12 1000 00000000", "r2 = *(u32 *)(r1 +16)", "r2 = *(u32 *)(r1 + 16)"),
    g(LDX.DW(R1, R10, -8), "79 a1 f8ff 00000000", "r1 = *(u64 *)(r10 -8)", "r1 = *(u64 *)(r10 - 8)"),
    g(LDX.SB(R1, R2, 4), "91 21 0400 00000000", "r1 = *(s8 *)(r2 +4)"),
    g(LDX.SH(R1, R2, 4), "89 21 0400 00000000", "r1 = *(s16 *)(r2 +4)"),
    g(LDX.SW(R1, R2, 4), "81 21 0400 00000000", "r1 = *(s32 *)(r2 +4)"),
    g(STX.B(R10, -8, R1), "73 1a f8ff 00000000", "*(u8 *)(r10 -8) = r1", "*(u8 *)(r10 - 8) = r1"),
    g(STX.H(R10, -8, R1), "6b 1a f8ff 00000000", "*(u16 *)(r10 -8) = r1", "*(u16 *)(r10 - 8) = r1"),
    g(STX.W(R10, -8, R1), "63 1a f8ff 00000000", "*(u32 *)(r10 -8) = r1", "*(u32 *)(r10 - 8) = r1"),
    g(STX.DW(R10, -8, R1), "7b 1a f8ff 00000000", "*(u64 *)(r10 -8) = r1", "*(u64 *)(r10 - 8) = r1"),
    g(ST.B(R10, -8, 255), "72 0a f8ff ff000000", "*(u8 *)(r10 -8) = 255"),
    g(ST.H(R10, -8, -2), "6a 0a f8ff feffffff", "*(u16 *)(r10 -8) = -2"),
    g(ST.W(R10, -8, 0xffffffff), "62 0a f8ff ffffffff", "*(u32 *)(r10 -8) = -1"),
    g(ST.DW(R10, -8, 5), "7a 0a f8ff 05000000", "*(u64 *)(r10 -8) = 5"),
    # atomics
    g(ATOMIC.ADD.W(R1, 0, R2), "c3 21 0000 00000000", "lock *(u32 *)(r1 +0) += r2",
      "lock *(u32 *)(r1 + 0) += w2", "lock *(u32 *)(r1 + 0) += r2"),
    g(ATOMIC.ADD.DW(R1, 0, R2), "db 21 0000 00000000", "lock *(u64 *)(r1 +0) += r2",
      "lock *(u64 *)(r1 + 0) += r2"),
    g(ATOMIC.AND.DW(R1, 0, R2), "db 21 0000 50000000", "lock *(u64 *)(r1 +0) &= r2",
      "lock *(u64 *)(r1 + 0) &= r2"),
    g(ATOMIC.OR.DW(R1, 0, R2), "db 21 0000 40000000", "lock *(u64 *)(r1 +0) |= r2",
      "lock *(u64 *)(r1 + 0) |= r2"),
    g(ATOMIC.XOR.DW(R1, 0, R2), "db 21 0000 a0000000", "lock *(u64 *)(r1 +0) ^= r2",
      "lock *(u64 *)(r1 + 0) ^= r2"),
    g(ATOMIC.FETCH_ADD.DW(R1, 0, R2), "db 21 0000 01000000",
      "r2 = atomic64_fetch_add((u64 *)(r1 +0), r2)", NO_LLVM,
      "r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)"),
    g(ATOMIC.FETCH_ADD.W(R1, 0, R2), "c3 21 0000 01000000",
      "r2 = atomic_fetch_add((u32 *)(r1 +0), r2)"),
    g(ATOMIC.FETCH_AND.DW(R1, 0, R2), "db 21 0000 51000000",
      "r2 = atomic64_fetch_and((u64 *)(r1 +0), r2)", NO_LLVM,
      "r2 = atomic_fetch_and((u64 *)(r1 + 0), r2)"),
    g(ATOMIC.FETCH_OR.DW(R1, 0, R2), "db 21 0000 41000000",
      "r2 = atomic64_fetch_or((u64 *)(r1 +0), r2)", NO_LLVM,
      "r2 = atomic_fetch_or((u64 *)(r1 + 0), r2)"),
    g(ATOMIC.FETCH_XOR.DW(R1, 0, R2), "db 21 0000 a1000000",
      "r2 = atomic64_fetch_xor((u64 *)(r1 +0), r2)", NO_LLVM,
      "r2 = atomic_fetch_xor((u64 *)(r1 + 0), r2)"),
    g(ATOMIC.XCHG.DW(R1, 0, R2), "db 21 0000 e1000000",
      "r2 = atomic64_xchg((u64 *)(r1 +0), r2)", NO_LLVM, "r2 = xchg_64(r1 + 0, r2)"),
    g(ATOMIC.CMPXCHG.DW(R1, 0, R2), "db 21 0000 f1000000",
      "r0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r2)", NO_LLVM, "r0 = cmpxchg_64(r1 + 0, r0, r2)"),
    g(ATOMIC.CMPXCHG.W(R1, 0, R2), "c3 21 0000 f1000000",
      "r0 = atomic_cmpxchg((u32 *)(r1 +0), r0, r2)"),
    # the two-slot 64-bit load
    g(LD.imm64(R1, 0x1122334455667788), "18 01 0000 88776655 0000 0000 44332211",
      "r1 = 0x1122334455667788", "r1 = 0x1122334455667788 ll", "r1 = 1234605616436508552 ll"),
    g(LD.imm64(R0, -2), "18 00 0000 feffffff 0000 0000 ffffffff", "r0 = 0xfffffffffffffffe",
      "r0 = -2 ll", "r0 = -2 ll"),
    g(LD.map_fd(R1, 3), "18 11 0000 03000000 0000 0000 00000000", "r1 = map[fd:3]",
      NO_LLVM, "ld_pseudo r1, 1, 3"),
    g(LD.map_value(R1, 3, 8), "18 21 0000 03000000 0000 0000 08000000", "r1 = map[fd:3][0]+8"),
    g(JMP32.JA(-2), "06 00 0000 feffffff", "gotol pc-2"),
    g(ALU.MOV.imm(R0, 0), "b4 00 0000 00000000", "w0 = 0", "w0 = 0"),
]
