"""pyxsk.bpf.asm: golden bytes for every instruction form, checked three ways —
against the table, against LLVM's encoder/decoder (llvm-mc), and against the
running kernel (its verifier lists our instructions in its own words, and
BPF_PROG_TEST_RUN executes them)."""

import errno
import re
import shutil
import subprocess
import typing

import pytest

from asm_golden import GOLDEN
from pyxsk import _libc, bpf
from pyxsk.bpf.asm import (ALU, ALU64, ATOMIC, JMP, JMP32, LD, LDX, R0, R1, R2, R3, R9, R10, ST,
                           STX, XDP_MD_RX_QUEUE_INDEX, Instruction, Program, Register, decode,
                           label)
from pyxsk.errors import AsmError, VerifierError
from pyxsk.uapi import bpf as k

LLVM_MC = shutil.which("llvm-mc")
needs_llvm = pytest.mark.skipif(LLVM_MC is None, reason="llvm-mc (Debian package llvm) not installed: "
                                "cross-check against LLVM's BPF encoder skipped")
ids = [e.kernel for e in GOLDEN]


@pytest.mark.parametrize("entry", GOLDEN, ids=ids)
def test_golden_bytes_and_text(entry):
    assert entry.insn.encode().hex() == entry.hex
    assert str(entry.insn) == entry.kernel


def test_golden_covers_every_opcode_form():
    codes = {int(e.hex[:2], 16) for e in GOLDEN}
    alu = {cls | op | src for cls in (k.BPF_ALU, k.BPF_ALU64) for src in (k.BPF_K, k.BPF_X)
           for op in (k.BPF_ADD, k.BPF_SUB, k.BPF_MUL, k.BPF_DIV, k.BPF_OR, k.BPF_AND, k.BPF_LSH,
                      k.BPF_RSH, k.BPF_MOD, k.BPF_XOR, k.BPF_MOV, k.BPF_ARSH)}
    jumps = {k.BPF_JMP | op | src for src in (k.BPF_K, k.BPF_X)
             for op in (k.BPF_JEQ, k.BPF_JGT, k.BPF_JGE, k.BPF_JSET, k.BPF_JNE, k.BPF_JSGT,
                        k.BPF_JSGE, k.BPF_JLT, k.BPF_JLE, k.BPF_JSLT, k.BPF_JSLE)}
    mem = {cls | k.BPF_MEM | size for cls in (k.BPF_LDX, k.BPF_STX, k.BPF_ST)
           for size in (k.BPF_B, k.BPF_H, k.BPF_W, k.BPF_DW)}
    missing = (alu | jumps | mem) - codes
    assert not missing, ["%02x" % c for c in sorted(missing)]


def _llvm(args, text):
    res = subprocess.run([LLVM_MC, "-triple=bpf"] + args, input=text, capture_output=True, text=True)
    assert res.returncode == 0 and "error" not in res.stderr, res.stderr
    return res.stdout


@needs_llvm
def test_llvm_encodes_the_same_bytes():
    """llvm-mc assembles LLVM's spelling of each form LLVM 14 knows; the
    bytes must be ours."""
    entries = [e for e in GOLDEN if e.asm is not None]
    out = _llvm(["-show-encoding"], "\n".join(e.asm for e in entries) + "\n")
    encodings = re.findall(r"encoding: \[([^\]]*)\]", out)
    assert len(encodings) == len(entries)
    for entry, enc in zip(entries, encodings):
        got = bytes(int(b, 16) for b in enc.split(",")).hex()
        assert got == entry.hex, "%s: llvm-mc says %s, golden %s" % (entry.asm, got, entry.hex)


@needs_llvm
def test_llvm_decodes_our_bytes_as_intended():
    """llvm-mc --disassemble reads our bytes back as the intended instruction."""
    entries = [e for e in GOLDEN if e.dis is not None]
    text = "\n".join(" ".join("0x%02x" % b for b in e.insn.encode()) for e in entries) + "\n"
    out = _llvm(["--disassemble"], text)
    lines = [" ".join(line.split()) for line in out.splitlines()
             if line.strip() and not line.strip().startswith(".")]
    assert lines == [" ".join(e.dis.split()) for e in entries]


# -- the kernel as the oracle ------------------------------------------------------------

# "      8: 01........ (c5) if r1 s< 0xfffffffb goto pc-3", with a loop's
# strongly connected component number in front when the insn is in one
LIVE_LINE = re.compile(r"^\s*(?:\d+\s+)?(\d+): [.0-9]{%d} \(([0-9a-f]{2})\) (.*)$"
                       % (k.MAX_BPF_REG - 1))     # one liveness column per r0..r9
FILLER = ALU64.MOV.imm(R0, 0)
PRELUDE = 8                     # room for backward jumps


def _kernel_listing(prog):
    """What the verifier (log level 2) lists for ``prog``: {slot: (code, text)}.
    It lists every instruction before it starts checking them, so the
    program need not pass."""
    try:
        loaded = bpf.load(prog, log_level=k.BPF_LOG_LEVEL2)
    except VerifierError as e:
        log = e.log
    else:
        log = loaded.log
        loaded.close()
    listing = {}
    for line in log.splitlines():
        m = LIVE_LINE.match(line)
        if m:
            listing[int(m.group(1))] = (int(m.group(2), 16), m.group(3).rstrip())
    assert listing, log
    return listing


def _harness(insn):
    """``insn`` placed so that every slot is reachable and its jump lands."""
    items = [FILLER] * PRELUDE
    jump_off = insn.imm if insn.code == k.BPF_JMP32 | k.BPF_JA else insn.off
    is_jump = k.BPF_CLASS(insn.code) in (k.BPF_JMP, k.BPF_JMP32) and k.BPF_OP(insn.code) not in (
        k.BPF_CALL, k.BPF_EXIT)
    if is_jump and k.BPF_OP(insn.code) == k.BPF_JA:
        items.append(JMP.JNE.imm(R9, 0, 1))     # a way around the unconditional jump
    items.append(insn)
    if is_jump:
        items += [FILLER] * max(0, jump_off)
    if insn.code != k.BPF_JMP | k.BPF_EXIT:
        items.append(JMP.EXIT())
    return Program(items), PRELUDE + (1 if is_jump and k.BPF_OP(insn.code) == k.BPF_JA else 0)


KERNEL_SKIP = {"gotol pc+100000"}   # would need 100000 fillers


@pytest.mark.root
def test_kernel_lists_every_golden_instruction_as_we_print_it():
    with bpf.ArrayMap(max_entries=1, value_size=16) as array:
        for entry in GOLDEN:
            if entry.kernel in KERNEL_SKIP:
                continue
            insn = entry.insn
            if insn.src == k.BPF_PSEUDO_MAP_FD and insn.code == LD.CODE:
                insn = LD.map_fd(R1, array)
            elif insn.src == k.BPF_PSEUDO_MAP_VALUE and insn.code == LD.CODE:
                insn = LD.map_value(R1, array, 8)
            prog, slot = _harness(insn)
            code, text = _kernel_listing(prog)[slot]
            assert code == insn.code
            if insn.map is not None:
                # the kernel has swapped the fd for the map's address by then
                assert re.match(r"^r1 = 0x[0-9a-f]+$", text), text
            else:
                assert text == entry.kernel


def _run(items):
    with bpf.load(Program(list(items) + [JMP.EXIT()])) as prog:
        return prog.test_run(bytes(64)).retval


SEMANTICS = [
    ("mod", [ALU64.MOV.imm(R0, 7), ALU64.MOD.imm(R0, 3)], 1),
    ("mod reg", [ALU64.MOV.imm(R0, 7), ALU64.MOV.imm(R1, 4), ALU64.MOD.reg(R0, R1)], 3),
    ("smod", [ALU64.MOV.imm(R0, -7), ALU64.SMOD.imm(R0, 3)], 0xffffffff),
    ("sdiv", [ALU64.MOV.imm(R0, -7), ALU64.SDIV.imm(R0, 2)], 0xfffffffd),
    ("div unsigned", [ALU64.MOV.imm(R0, 7), ALU64.DIV.imm(R0, 2)], 3),
    ("arsh", [ALU64.MOV.imm(R0, -16), ALU64.ARSH.imm(R0, 2)], 0xfffffffc),
    ("rsh", [ALU64.MOV.imm(R0, -16), ALU64.RSH.imm(R0, 60)], 15),
    ("neg", [ALU64.MOV.imm(R0, 5), ALU64.NEG(R0)], 0xfffffffb),
    ("alu32 wraps and zero-extends", [LD.imm64(R0, 0xffffffffffffffff), ALU.ADD.imm(R0, 2),
                                      ALU64.RSH.imm(R0, 32)], 0),
    ("alu32 unsigned imm", [ALU.MOV.imm(R0, 0xfffffffe), ALU64.RSH.imm(R0, 1)], 0x7fffffff),
    ("imm64", [LD.imm64(R0, 0x100000002), ALU64.RSH.imm(R0, 32)], 1),
    ("bswap16", [ALU64.MOV.imm(R0, 0x1234), ALU64.BSWAP(R0, 16)], 0x3412),
    ("bswap32", [ALU64.MOV.imm(R0, 0x12345678), ALU64.BSWAP(R0, 32)], 0x78563412),
    ("be16", [ALU64.MOV.imm(R0, 0x12345678), ALU.BE(R0, 16)], 0x7856),
    ("le16 truncates", [ALU64.MOV.imm(R0, 0x12345678), ALU.LE(R0, 16)], 0x5678),
    ("movsx8", [ALU64.MOV.imm(R1, 0x80), ALU64.MOVSX8.reg(R0, R1)], 0xffffff80),
    ("movsx16 32-bit", [ALU64.MOV.imm(R1, 0x8000), ALU.MOVSX16.reg(R0, R1)], 0xffff8000),
    ("st/ldx", [ST.W(R10, -8, 0xdeadbeef), LDX.W(R0, R10, -8)], 0xdeadbeef),
    ("ldx sign-extends", [ST.B(R10, -8, 0x80), LDX.SB(R0, R10, -8)], 0xffffff80),
    ("stx/ldx h", [ALU64.MOV.imm(R1, 0x12345), STX.H(R10, -2, R1), LDX.H(R0, R10, -2)], 0x2345),
    ("jset taken", [ALU64.MOV.imm(R0, 2), ALU64.MOV.imm(R1, 5), JMP.JSET.imm(R1, 4, 1),
                    ALU64.MOV.imm(R0, 1)], 2),
    ("jmp32 ignores high bits", [ALU64.MOV.imm(R0, 2), LD.imm64(R1, 1 << 32), JMP32.JEQ.imm(R1, 0, 1),
                                 ALU64.MOV.imm(R0, 1)], 2),
    ("signed jump", [ALU64.MOV.imm(R0, 2), ALU64.MOV.imm(R1, -1), JMP.JSLT.imm(R1, 0, 1),
                     ALU64.MOV.imm(R0, 1)], 2),
    ("unsigned jump", [ALU64.MOV.imm(R0, 2), ALU64.MOV.imm(R1, -1), JMP.JLT.imm(R1, 0, 1),
                       ALU64.MOV.imm(R0, 1)], 1),
    ("gotol", [ALU64.MOV.imm(R0, 2), JMP.JEQ.imm(R0, 3, "one"), JMP32.JA("end"), label("one"),
               ALU64.MOV.imm(R0, 1), label("end")], 2),
    ("atomic add", [ST.DW(R10, -8, 5), ALU64.MOV.imm(R1, 3), ATOMIC.ADD.DW(R10, -8, R1),
                    LDX.DW(R0, R10, -8)], 8),
    ("atomic fetch_add", [ST.DW(R10, -8, 5), ALU64.MOV.imm(R1, 3), ATOMIC.FETCH_ADD.DW(R10, -8, R1),
                          LDX.DW(R0, R10, -8), ALU64.MUL.imm(R1, 16), ALU64.ADD.reg(R0, R1)], 88),
    ("atomic xchg", [ST.DW(R10, -8, 5), ALU64.MOV.imm(R2, 9), ATOMIC.XCHG.DW(R10, -8, R2),
                     LDX.DW(R0, R10, -8), ALU64.MUL.imm(R2, 10), ALU64.ADD.reg(R0, R2)], 59),
    ("atomic cmpxchg", [ST.DW(R10, -8, 5), ALU64.MOV.imm(R0, 5), ALU64.MOV.imm(R2, 9),
                        ATOMIC.CMPXCHG.DW(R10, -8, R2), LDX.DW(R3, R10, -8), ALU64.ADD.reg(R0, R3)], 14),
    ("atomic and w", [ST.W(R10, -8, 0xff), ALU64.MOV.imm(R1, 0x0f), ATOMIC.AND.W(R10, -8, R1),
                      LDX.W(R0, R10, -8)], 0x0f),
    ("call by name", [JMP.CALL("get_smp_processor_id"), ALU64.MOV.imm(R0, 7)], 7),
]


@pytest.mark.root
@pytest.mark.parametrize("name,items,expected", SEMANTICS, ids=[s[0] for s in SEMANTICS])
def test_kernel_executes_what_we_mean(name, items, expected):
    assert _run(items) == expected


# -- labels ----------------------------------------------------------------------------

def test_labels_resolve_forward_and_backward_in_slots():
    prog = Program([
        label("top"),
        LD.imm64(R1, 1),                   # two slots
        JMP.JEQ.imm(R1, 0, "end"),
        JMP.JA("top"),
        label("end"),
        JMP.EXIT(),
    ])
    insns = decode(prog.assemble())
    assert insns[1].off == 1               # slot 2 -> slot 4
    assert insns[2].off == -4              # slot 3 -> slot 0
    assert prog.labels == {"top": 0, "end": 3}
    assert str(prog).splitlines()[0] == "top:"
    assert "if r1 == 0x0 goto <end>" in str(prog)


def test_program_building_styles_agree():
    a = Program([ALU64.MOV.imm(R0, 1), label("x"), JMP.EXIT()])
    b = Program()
    b.append(ALU64.MOV.imm(R0, 1)).label("x")
    b += [JMP.EXIT()]
    assert a.assemble() == b.assemble() and a.labels == b.labels and len(a) == len(b) == 2


# -- bad input raises at once, naming what is wrong ------------------------------------------

@pytest.mark.parametrize("build,match", [
    (lambda: ALU64.MOV.imm(11, 0), "register R0..R10"),
    (lambda: ALU64.MOV.imm("r1", 0), "register R0..R10"),
    (lambda: ALU64.MOV.imm(True, 0), "register R0..R10"),
    (lambda: ALU64.MOV.reg(R0, -1), "register R0..R10"),
    (lambda: ALU64.MOV.imm(R10, 0), "read-only frame pointer"),
    (lambda: LDX.W(R10, R1, 0), "read-only frame pointer"),
    (lambda: ALU64.MOV.imm(R0, 1 << 31), r"immediate 2147483648 does not fit"),
    (lambda: ALU.MOV.imm(R0, 1 << 32), "does not fit"),
    (lambda: ALU64.ADD.imm(R0, 1.5), "must be an int"),
    (lambda: ALU64.LSH.imm(R0, 64), "does not fit"),
    (lambda: ALU.RSH.imm(R0, 32), "does not fit"),
    (lambda: ALU64.DIV.imm(R0, 0), "division by zero"),
    (lambda: ALU.SMOD.imm(R0, 0), "division by zero"),
    (lambda: ALU64.MOVSX8.imm(R0, 1), "no immediate form"),
    (lambda: ALU64.BSWAP(R0, 8), "width must be 16, 32 or 64"),
    (lambda: JMP.JEQ.imm(R0, 1 << 31, "x"), "does not fit"),
    (lambda: JMP.JEQ.imm(R0, 0, 1 << 15), "jump offset 32768 does not fit"),
    (lambda: JMP.JA(""), "label must not be empty"),
    (lambda: JMP32.JA(1 << 31), "does not fit"),
    (lambda: JMP.CALL("no_such_helper"), "no helper function named 'no_such_helper'"),
    (lambda: JMP.CALL(0), "helper id 0 does not fit"),
    (lambda: LDX.W(R0, R1, 1 << 15), "offset 32768 does not fit"),
    (lambda: ST.B(R10, -1, 256), "immediate 256 does not fit"),
    (lambda: ST.DW(R10, -8, 1 << 31), "does not fit"),
    (lambda: LD.imm64(R0, 1 << 64), "does not fit"),
    (lambda: LD.map_fd(R1, "map"), "need a map"),
    (lambda: LD.map_fd(R1, -1), "does not fit"),
    (lambda: Instruction(0x100), "code 256 does not fit"),
])
def test_bad_operands_raise_asm_error_at_once(build, match):
    with pytest.raises(AsmError, match=match):
        build()


def test_asm_error_is_a_value_error():
    assert issubclass(AsmError, ValueError)


def test_unknown_label_names_the_instruction_index():
    prog = Program([ALU64.MOV.imm(R0, 0), JMP.JEQ.imm(R0, 0, "nowhere"), JMP.EXIT()])
    with pytest.raises(AsmError, match=r"instruction 1 \(if r0 == 0x0 goto <nowhere>\): "
                                       r"unknown label 'nowhere'"):
        prog.assemble()


def test_duplicate_label_raises_when_added():
    prog = Program([label("a"), ALU64.MOV.imm(R0, 0)])
    with pytest.raises(AsmError, match=r"instruction 1: duplicate label 'a' \(already marks instruction 0\)"):
        prog.append(label("a"))
    with pytest.raises(AsmError, match="duplicate label"):
        Program([label("b"), label("b")])


def test_jump_beyond_16_bits_names_the_instruction():
    far = 1 << 15
    prog = Program([JMP.JA("end")] + [ALU64.MOV.imm(R0, 0)] * far + [label("end"), JMP.EXIT()])
    with pytest.raises(AsmError, match=r"instruction 0 .*%d slots away" % far):
        prog.assemble()
    # the same distance is fine for gotol's 32-bit offset
    long_prog = Program([JMP32.JA("end")] + [ALU64.MOV.imm(R0, 0)] * far + [label("end"), JMP.EXIT()])
    assert decode(long_prog.assemble())[0].imm == far


def test_label_past_the_end_and_other_program_errors():
    with pytest.raises(AsmError, match="marks the end of the program"):
        Program([JMP.JA("end"), label("end")]).assemble()
    with pytest.raises(AsmError, match="empty program"):
        Program().assemble()
    with pytest.raises(AsmError, match=r"instruction 1: 42 is not an Instruction"):
        Program([JMP.EXIT(), 42])
    with pytest.raises(AsmError, match="use append"):
        Program().extend(JMP.EXIT())
    with pytest.raises(AsmError, match="assemble it inside a Program"):
        JMP.JA("x").encode()


def test_bad_input_never_reaches_the_kernel(monkeypatch):
    calls = []
    monkeypatch.setattr(_libc, "raw_bpf", lambda *a, **kw: calls.append(a) or (-1, errno.EPERM))
    with pytest.raises(AsmError, match="unknown label"):
        bpf.load(Program([JMP.JA("missing"), JMP.EXIT()]))
    with pytest.raises(AsmError):
        bpf.load([ALU64.MOV.imm(R0, 0), "exit"])
    assert calls == []


def test_closed_map_cannot_be_assembled():
    class FakeMap:
        fd = 5

        def fileno(self):
            if self.fd < 0:
                raise ValueError("map is closed")
            return self.fd
    m = FakeMap()
    insn = LD.map_fd(R1, m)
    assert str(insn) == "r1 = map[fd:5]"
    m.fd = -1
    assert str(insn) == "r1 = map[closed]"
    with pytest.raises(AsmError, match="map is closed"):
        Program([insn, JMP.EXIT()]).assemble()


def test_registers_print_both_ways():
    assert repr(R3) == "R3" and str(R3) == "r3" and Register(3) == R3 == 3


def test_context_offsets_match_xdp_md():
    assert XDP_MD_RX_QUEUE_INDEX == 16
    assert str(LDX.W(R2, R1, XDP_MD_RX_QUEUE_INDEX)) == "r2 = *(u32 *)(r1 +16)"


# builders each group's __init__ assigns by name (mypy sees those without a declaration)
_ASSIGNED_IN_INIT = {"SDIV", "SMOD", "NEG", "JA"}


@pytest.mark.parametrize("group", [ALU64, ALU, JMP, JMP32, LDX, STX, ST, ATOMIC] +
                         [getattr(ATOMIC, name) for name in vars(ATOMIC) if name.isupper()],
                         ids=repr)
def test_group_declarations_match_the_builders_set_at_run_time(group):
    # the groups fill themselves with setattr(); their classes declare the
    # attributes for type checkers: both lists must agree
    hints = typing.get_type_hints(type(group))
    for name, cls in hints.items():
        assert isinstance(getattr(group, name), cls), name
    built = {name for name in vars(group) if name.isupper()}
    assert built - _ASSIGNED_IN_INIT == set(hints)
