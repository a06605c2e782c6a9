"""A minimal XDP program (``r0 = XDP_PASS; exit``) loaded with bpf(2), for the
link tests, until pyxsk.bpf replaces this after the merge.

Only the few bpf_attr fields these two commands use are declared; the rest of
the union stays zero, as the kernel demands (include/uapi/linux/bpf.h).
"""

import contextlib
import ctypes
import os

from pyxsk import _libc

BPF_PROG_LOAD = 5
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_PROG_TYPE_XDP = 6
BPF_OBJ_NAME_LEN = 16
XDP_PASS = 2

# instruction classes and fields (include/uapi/linux/bpf_common.h, bpf.h)
BPF_ALU64, BPF_JMP = 0x07, 0x05
BPF_MOV, BPF_EXIT = 0xB0, 0x90
BPF_K = 0x00
BPF_REG_0 = 0


class bpf_insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("regs", ctypes.c_uint8),   # dst_reg:4, src_reg:4
                ("off", ctypes.c_int16), ("imm", ctypes.c_int32)]


class prog_load_attr(ctypes.Structure):
    _fields_ = [
        ("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64), ("license", ctypes.c_uint64),
        ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32), ("log_buf", ctypes.c_uint64),
        ("kern_version", ctypes.c_uint32), ("prog_flags", ctypes.c_uint32),
        ("prog_name", ctypes.c_char * BPF_OBJ_NAME_LEN),
    ]


class info_attr(ctypes.Structure):
    _fields_ = [("bpf_fd", ctypes.c_uint32), ("info_len", ctypes.c_uint32), ("info", ctypes.c_uint64)]


class prog_info_head(ctypes.Structure):
    """The first members of struct bpf_prog_info; the kernel fills only as
    many bytes as info_len allows."""
    _fields_ = [("type", ctypes.c_uint32), ("id", ctypes.c_uint32)]


def load_xdp_pass(name=b"pyxsk_pass"):
    """Load the program; returns its fd (the caller closes it)."""
    insns = (bpf_insn * 2)(
        bpf_insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, XDP_PASS),
        bpf_insn(BPF_JMP | BPF_EXIT, 0, 0, 0),
    )
    license_ = ctypes.create_string_buffer(b"GPL")
    attr = prog_load_attr(prog_type=BPF_PROG_TYPE_XDP, insn_cnt=len(insns),
                          insns=ctypes.addressof(insns), license=ctypes.addressof(license_),
                          prog_name=name)
    return _libc.bpf(BPF_PROG_LOAD, attr, call="bpf(BPF_PROG_LOAD, XDP_PASS)")


def prog_id(fd):
    """The kernel's id of the program behind ``fd`` (what IFLA_XDP_PROG_ID reports)."""
    info = prog_info_head()
    attr = info_attr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    _libc.bpf(BPF_OBJ_GET_INFO_BY_FD, attr, call="bpf(BPF_OBJ_GET_INFO_BY_FD)")
    return info.id


@contextlib.contextmanager
def xdp_pass_program():
    """(fd, id) of a freshly loaded XDP_PASS program, closed on exit."""
    fd = load_xdp_pass()
    try:
        yield fd, prog_id(fd)
    finally:
        os.close(fd)
