"""XDP programs that write samples into perf event arrays and ring buffers,
for tests/test_perf.py and tests/test_ringbuf.py, and the sample they write.

Every sample starts with 16 bytes: u32 seq, u32 cpu (bpf_get_smp_processor_id),
u32 ~seq, u32 MARK.  ``seq`` comes from a shared counter (an ARRAY map
incremented with an atomic fetch-add, so concurrent runs on two CPUs never
repeat one) or, for frames of the test ethertype, from the frame's bytes
14..17 (little-endian); other frames pass without a sample.  Every output the
helper refused is counted in ``counters[FAILS]``; ``counters[LAST_RET]``
holds the helper's last return value.
"""

import struct

from pyxsk.bpf.asm import (ALU, ALU64, ATOMIC, JMP, LD, LDX, R0, R1, R2, R3, R4, R5, R6, R7, R8,
                           R9, R10, ST, STX, XDP_DROP, XDP_MD_DATA, XDP_MD_DATA_END, XDP_PASS,
                           Program, label)
from pyxsk.uapi import bpf as k

ETH_P_TEST = 0x88B5
MARK = 0x5A17C0DE
SAMPLE = struct.Struct("<IIII")
HEAD = SAMPLE.size                  # the fixed part of every sample
SEQ, FAILS, LAST_RET = 0, 1, 2      # counters: an ARRAY of u64
COUNTERS = 3
STACK = 32                          # the sample is built in the top 32 bytes of the stack
U32_MASK = 0xffffffff


def check(data, cpu=None):
    """The seq of a sample, after checking its fixed part (and its cpu)."""
    seq, where, inverse, mark = SAMPLE.unpack_from(data)
    assert inverse == seq ^ U32_MASK and mark == MARK, data.hex()
    if cpu is not None:
        assert where == cpu, (where, cpu)
    return seq


def test_frame(seq, size=64, dst=b"\xff" * 6, src=b"\x02\0\0\0\0\1"):
    """A frame of the test ethertype carrying ``seq``."""
    head = dst + src + struct.pack("!H", ETH_P_TEST) + struct.pack("<I", seq)
    return head + bytes((seq + i) & 0xff for i in range(size - len(head)))


def _counter_addr(counters, index, reg):
    """reg = &counters[index] (or jump to "out" when the lookup fails)."""
    return [ST.W(R10, -STACK - 8, index), LD.map_fd(R1, counters), ALU64.MOV.reg(R2, R10),
            ALU64.ADD.imm(R2, -STACK - 8), JMP.CALL("map_lookup_elem"), JMP.JEQ.imm(R0, 0, "out"),
            ALU64.MOV.reg(reg, R0)]


def _seq_from_counter(counters):
    return _counter_addr(counters, SEQ, R7) + [ALU64.MOV.imm(R1, 1), ATOMIC.FETCH_ADD.DW(R7, 0, R1),
                                               ALU64.MOV.reg(R7, R1)]


def _seq_from_frame():
    return [
        LDX.W(R2, R6, XDP_MD_DATA), LDX.W(R3, R6, XDP_MD_DATA_END),
        ALU64.MOV.reg(R4, R2), ALU64.ADD.imm(R4, 18), JMP.JGT.reg(R4, R3, "pass"),
        LDX.H(R4, R2, 12), JMP.JNE.imm(R4, struct.unpack("<H", struct.pack("!H", ETH_P_TEST))[0], "pass"),
        LDX.W(R7, R2, 14)]


def _build_sample(at):
    """The 16 fixed bytes at ``at`` (a register) from the seq in R7; R8 is clobbered."""
    return [STX.W(at, 0, R7), JMP.CALL("get_smp_processor_id"), STX.W(at, 4, R0),
            ALU64.MOV.reg(R8, R7), ALU.XOR.imm(R8, -1), STX.W(at, 8, R8), ST.W(at, 12, MARK)]


def _count_result(counters):
    """counters[LAST_RET] = R0 (saved in R7); counters[FAILS] += 1 if R0 != 0."""
    return [ALU64.MOV.reg(R7, R0)] + _counter_addr(counters, LAST_RET, R8) + [
        STX.DW(R8, 0, R7), JMP.JEQ.imm(R7, 0, "out")] + _counter_addr(counters, FAILS, R8) + [
        ALU64.MOV.imm(R1, 1), ATOMIC.ADD.DW(R8, 0, R1)]


def _fill_stack():
    """The sample's fixed part at fp-32, then 16 bytes of 0xa5."""
    return [ALU64.MOV.reg(R9, R10), ALU64.ADD.imm(R9, -STACK)] + _build_sample(R9) + [
        LD.imm64(R1, 0xa5a5a5a5a5a5a5a5), STX.DW(R10, -16, R1), STX.DW(R10, -8, R1)]


def _start(counters, from_frame):
    return [ALU64.MOV.reg(R6, R1)] + (_seq_from_frame() if from_frame else _seq_from_counter(counters))


def _end(action, from_frame=False):
    """The exits: "out" returns ``action``, "pass" (frames without a seq) XDP_PASS."""
    passing = [label("pass"), ALU64.MOV.imm(R0, XDP_PASS), JMP.EXIT()] if from_frame else []
    return [label("out"), ALU64.MOV.imm(R0, action), JMP.EXIT()] + passing


def perf_output(events, counters, from_frame=False, with_frame=False, action=XDP_DROP):
    """bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU [| frame length
    << 32 with ``with_frame``], fp-32, 16)."""
    flags = [LD.imm64(R3, k.BPF_F_CURRENT_CPU)]
    if with_frame:
        flags = [LDX.W(R2, R6, XDP_MD_DATA), LDX.W(R3, R6, XDP_MD_DATA_END), ALU64.SUB.reg(R3, R2),
                 ALU64.LSH.imm(R3, 32), LD.imm64(R2, k.BPF_F_CURRENT_CPU), ALU64.OR.reg(R3, R2)]
    return Program(_start(counters, from_frame) + _fill_stack() + flags + [
        ALU64.MOV.reg(R1, R6), LD.map_fd(R2, events),
        ALU64.MOV.reg(R4, R10), ALU64.ADD.imm(R4, -STACK), ALU64.MOV.imm(R5, HEAD),
        JMP.CALL("perf_event_output")] + _count_result(counters) + _end(action, from_frame))


def ringbuf_output(ring, counters, from_frame=False, varying=False, flags=0, action=XDP_DROP):
    """bpf_ringbuf_output(&ring, fp-32, size, flags): size 16, or with
    ``varying`` 8 * (seq % 4) + 8 (so 8 to 32 bytes, cut from the 32 built)."""
    size = [ALU64.MOV.imm(R3, HEAD)]
    if varying:
        size = [ALU64.MOV.reg(R3, R7), ALU64.AND.imm(R3, 3), ALU64.LSH.imm(R3, 3), ALU64.ADD.imm(R3, 8)]
    return Program(_start(counters, from_frame) + _fill_stack() + [
        LD.map_fd(R1, ring), ALU64.MOV.reg(R2, R10), ALU64.ADD.imm(R2, -STACK)] + size + [
        ALU64.MOV.imm(R4, flags), JMP.CALL("ringbuf_output")] + _count_result(counters)
        + _end(action, from_frame))


def ringbuf_reserve(ring, counters, discard_every=3, action=XDP_DROP):
    """bpf_ringbuf_reserve(&ring, 16, 0), the sample written into the record,
    then bpf_ringbuf_discard() when seq % ``discard_every`` == 0, else
    bpf_ringbuf_submit().  A NULL reservation counts as a failure."""
    return Program(_start(counters, False) + [
        LD.map_fd(R1, ring), ALU64.MOV.imm(R2, HEAD), ALU64.MOV.imm(R3, 0),
        JMP.CALL("ringbuf_reserve"),
        JMP.JNE.imm(R0, 0, "reserved"),
        ALU64.MOV.imm(R0, -1)] + _count_result(counters) + [
        JMP.JA("out"),
        label("reserved"), ALU64.MOV.reg(R6, R0)] + _build_sample(R6) + [
        ALU64.MOV.reg(R1, R6), ALU64.MOV.imm(R2, 0),
        ALU64.MOV.reg(R3, R7), ALU64.MOD.imm(R3, discard_every),
        JMP.JEQ.imm(R3, 0, "discard"),
        JMP.CALL("ringbuf_submit"), JMP.JA("out"),
        label("discard"), JMP.CALL("ringbuf_discard")] + _end(action))
