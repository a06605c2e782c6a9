"""The smallest XDP program, ``r0 = XDP_PASS; exit``, for tests that only need
a loaded program's fd (attaching, detaching, replacing)."""

import contextlib

from pyxsk import bpf
from pyxsk.bpf.asm import ALU64, JMP, R0, XDP_PASS, Program


@contextlib.contextmanager
def xdp_pass_program():
    """(fd, id) of a freshly loaded XDP_PASS program, closed on exit."""
    with bpf.load(Program([ALU64.MOV.imm(R0, XDP_PASS), JMP.EXIT()]), name="pyxsk_pass") as prog:
        yield prog.fd, prog.id
