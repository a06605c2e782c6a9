"""pyxsk.bpf.disasm: bytes -> the verifier's notation; decode/assemble round trips.
(The kernel's own listing of the same instructions is compared in test_asm.)"""

import pytest

from asm_golden import GOLDEN
from pyxsk.bpf import disasm
from pyxsk.bpf.asm import ALU64, JMP, LD, LDX, R0, R1, R2, R3, R5, Program, decode, label
from pyxsk.errors import AsmError


def test_the_notation_of_the_issue():
    prog = Program([
        ALU64.MOV.imm(R0, 0),
        LDX.W(R2, R1, 16),
        JMP.JGT.reg(R5, R3, 7),
        JMP.CALL("redirect_map"),
        JMP.EXIT(),
    ])
    assert disasm.disassemble(prog.assemble()) == (
        "0: (b7) r0 = 0\n"
        "1: (61) r2 = *(u32 *)(r1 +16)\n"
        "2: (2d) if r5 > r3 goto pc+7\n"
        "3: (85) call bpf_redirect_map#51\n"
        "4: (95) exit\n")


def test_every_golden_form_disassembles_to_its_kernel_text():
    data = b"".join(bytes.fromhex(e.hex) for e in GOLDEN)
    lines = disasm.disassemble(data).splitlines()
    assert len(lines) == len(GOLDEN)
    slot = 0
    for entry, line in zip(GOLDEN, lines):
        assert line == "%d: (%s) %s" % (slot, entry.hex[:2], entry.kernel)
        slot += len(entry.hex) // (2 * disasm.INSN_SIZE)


def test_decode_assemble_round_trip_of_every_form():
    data = b"".join(bytes.fromhex(e.hex) for e in GOLDEN)
    prog = decode(data)
    assert len(prog) == len(GOLDEN)
    assert prog.assemble() == data
    assert str(prog) == disasm.disassemble(data)
    assert [str(insn) for insn in prog] == [e.kernel for e in GOLDEN]


def test_round_trip_through_labels():
    prog = Program([
        ALU64.MOV.imm(R0, 2),
        LD.imm64(R1, -1),
        label("loop"),
        ALU64.ADD.imm(R1, 1),
        JMP.JNE.imm(R1, 10, "loop"),
        JMP.JA("out"),
        ALU64.MOV.imm(R0, 1),
        label("out"),
        JMP.EXIT(),
    ])
    data = prog.assemble()
    again = decode(data)
    assert again.assemble() == data
    assert decode(again.assemble()).assemble() == data
    assert "if r1 != 0xa goto pc-2" in disasm.disassemble(data)
    assert "if r1 != 0xa goto <loop>" in str(prog)


def test_empty_input_is_an_empty_listing():
    assert disasm.disassemble(b"") == ""
    assert len(decode(b"")) == 0


@pytest.mark.parametrize("hex_,match", [
    ("b7000000000000", "not a whole number of 8-byte instructions"),
    ("e700000000000000", "unknown or invalid instruction code 0xe7"),
    ("8f01000000000000", "neg takes no source register"),
    ("d401000008000000", "byte swap width 8"),
    ("df01000010000000", "bswap takes no source register"),
    ("8600000000000000", "JMP32 has no call or exit"),
    ("9600000000000000", "JMP32 has no call or exit"),
    ("2101000000000000", "unknown or invalid instruction code 0x21"),
    ("c201000000000000", "unknown or invalid instruction code 0xc2"),
    ("db21000002000000", "atomic operation 0x2"),
    ("d321000000000000", "unknown or invalid instruction code 0xd3"),
    ("1801000001000000", "missing its second half"),
    ("18010000010000000100000000000000", "second half of a 64-bit load must be zero"),
    ("9701000007000000" + "f701000000000000", r"slot 1\)?: unknown or invalid instruction code 0xf7"),
])
def test_bytes_the_kernel_does_not_know_raise(hex_, match):
    with pytest.raises(AsmError, match=match):
        disasm.disassemble(bytes.fromhex(hex_))
    with pytest.raises(AsmError, match=match):
        decode(bytes.fromhex(hex_))


def test_decode_names_the_instruction_index():
    data = Program([LD.imm64(R1, 1), ALU64.MOV.imm(R0, 0)]).assemble() + bytes.fromhex("e700000000000000")
    with pytest.raises(AsmError, match=r"instruction 2 \(slot 3\)"):
        decode(data)


def test_decode_rejects_registers_beyond_r10():
    with pytest.raises(AsmError, match=r"instruction 0 \(slot 0\): .*register R0..R10"):
        decode(bytes.fromhex("b70c000000000000"))      # dst nibble 12


def test_unknown_helper_and_pseudo_calls():
    assert disasm.format_insn(0x85, 0, 0, 0, 100000) == "call unknown#100000"
    assert disasm.format_insn(0x85, 0, 1, 0, -3) == "call pc-3"
    assert disasm.format_insn(0x85, 0, 2, 0, 7) == "call kernel-function#7"
