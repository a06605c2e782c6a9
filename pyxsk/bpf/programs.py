"""Programs: BPF_PROG_LOAD with the verifier's log on refusal
(:class:`~pyxsk.errors.VerifierError`), loaded programs as :class:`Prog`
objects, BPF_PROG_TEST_RUN on a frame, and programs looked up by id."""

from __future__ import annotations

import ctypes
import enum
import errno
import os
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Type, TypeVar, Union

from . import asm, btf as _btf
from .btf import FuncInfo, LineInfo
from .. import _libc
from ..errors import ConfigError, VerifierError, syscall_error
from ..uapi import bpf as k
from .syscall import (FdLike, _FdObject, _NET_ADMIN_PROGS, _fd_of, _info, _needs_bpf, _obj_name,
                      _sys_bpf, obj_get_kind)

DEFAULT_LICENSE = "Dual MIT/GPL"   # pyxsk's programs; GPL-compatible, so every helper is allowed
LOG_START_SIZE = 64 * 1024
LOG_MAX_SIZE = ((1 << 32) - 1) >> 8  # kernels before 5.2 refuse log_size above UINT_MAX >> 8
ETH_HLEN = 14                        # BPF_PROG_TEST_RUN refuses shorter XDP frames
_DEFAULT_FUNC_NAME = "pyxsk_prog"    # the BTF function of an unnamed assembled program
# the context structure each program type's entry takes (its BTF argument)
_CONTEXTS: Dict[int, str] = {
    k.BPF_PROG_TYPE_XDP: "xdp_md", k.BPF_PROG_TYPE_SCHED_CLS: "__sk_buff",
    k.BPF_PROG_TYPE_SCHED_ACT: "__sk_buff", k.BPF_PROG_TYPE_SOCKET_FILTER: "__sk_buff",
}


class XdpAction(enum.IntEnum):
    """enum xdp_action: what an XDP program returns."""
    ABORTED = k.XDP_ABORTED
    DROP = k.XDP_DROP
    PASS = k.XDP_PASS
    TX = k.XDP_TX
    REDIRECT = k.XDP_REDIRECT


class TestRun(NamedTuple):
    """BPF_PROG_TEST_RUN's answer: ``action`` (an XdpAction for an
    XDP program whose return value is one), the output ``frame`` (bytes, after any
    head/tail adjustment), ``duration_ns`` (mean per run over ``repeat`` runs, as
    the kernel measures it) and the raw ``retval``."""
    action: Union[XdpAction, int]
    frame: bytes
    duration_ns: int
    retval: int


# not a pytest test class (setattr: a typed NamedTuple declares only its fields)
setattr(TestRun, "__test__", False)


class ProgInfo(NamedTuple):
    """BPF_OBJ_GET_INFO_BY_FD's answer for a program (``tag`` in hex)."""
    id: int
    type: int
    name: str
    tag: str
    run_count: int
    run_time_ns: int
    nr_map_ids: int


# what load() takes: an assembler program, its items, or assembled bytes
ProgramSource = Union[asm.Program, Iterable[Union[asm.Instruction, asm.Label]], bytes, bytearray,
                      memoryview]


def _instructions(program: ProgramSource) -> bytes:
    if isinstance(program, asm.Program):
        return program.assemble()
    if isinstance(program, (bytes, bytearray, memoryview)):
        raw = bytes(program)
        if raw[:4] == b"\x7fELF":
            raise ConfigError("these bytes are an ELF object file, not instructions: load it with "
                              "bpf.load_object(path), or bpf.ObjectFile(data).load()")
        return raw
    return asm.Program(program).assemble()


def _load_once(attr: k.bpf_attr_prog_load, log_size: int, log_level: int) -> Tuple[int, int, str, int]:
    """One BPF_PROG_LOAD: (fd or -1, errno, log text, log size the kernel wanted)."""
    log = ctypes.create_string_buffer(log_size) if log_size else None
    attr.log_level = log_level
    attr.log_size = log_size
    attr.log_buf = ctypes.addressof(log) if log is not None else 0
    attr.log_true_size = 0
    ret, err = _libc.raw_bpf(k.BPF_PROG_LOAD, attr)
    text = log.value.decode(errors="replace") if log is not None else ""
    return ret, err, text, attr.log_true_size


def load(program: ProgramSource, name: Optional[str] = None, prog_type: int = k.BPF_PROG_TYPE_XDP,
         license: str = DEFAULT_LICENSE, log_level: int = 0, flags: int = 0,
         expected_attach_type: Optional[int] = None, *, btf: Union[FdLike, None, bool] = True,
         func_info: Sequence[FuncInfo] = (), line_info: Sequence[LineInfo] = (),
         kern_version: int = 0) -> Prog:
    """BPF_PROG_LOAD: load ``program`` (an asm.Program, a list of
    instructions, or assembled bytes) and return a :class:`Prog`.

    With ``log_level`` 0 the first try asks for no log (fast, and no ENOSPC
    for a long one); if the verifier refuses, pyxsk loads again with
    BPF_LOG_LEVEL1 to get its reasons, growing the buffer while the kernel
    answers ENOSPC, and raises VerifierError carrying the log.  With
    ``log_level`` > 0 the log of a successful load is kept as ``prog.log``.

    ``expected_attach_type`` defaults to BPF_XDP for XDP programs, as libbpf
    loads them (since 6.18 a prog array refuses a program whose attach type
    differs from its owner's).  ``btf``: the loaded BTF object (or fd) that
    ``func_info`` and ``line_info`` refer to; by default (True) an assembled
    program of a type with a known context gets BTF of its own, a function
    ``int <name>(struct <context> *ctx)``, so bpftool and xdpdump see a named,
    typed function; False or None loads without BTF.
    """
    insns = _instructions(program)      # AsmError here, before the kernel sees anything
    if expected_attach_type is None:
        expected_attach_type = k.BPF_XDP if prog_type == k.BPF_PROG_TYPE_XDP else 0
    lic = ctypes.create_string_buffer(license.encode())
    insn_buf = ctypes.create_string_buffer(insns, len(insns))
    attr = k.bpf_attr_prog_load(
        prog_type=prog_type, insn_cnt=len(insns) // asm.INSN_SIZE, insns=ctypes.addressof(insn_buf),
        license=ctypes.addressof(lic), prog_flags=flags, prog_name=_obj_name(name, "program"),
        expected_attach_type=expected_attach_type, kern_version=kern_version)
    call = "bpf(BPF_PROG_LOAD, %r, %d instructions)" % (name or "", attr.insn_cnt)
    own_btf = None
    if btf is True:
        own_btf, func_info, line_info = _own_btf(name, prog_type)
        btf = own_btf
    try:
        keep = _attach_btf(attr, None if btf is False or btf is None else btf, func_info, line_info)
        return _load_attr(attr, call, prog_type, log_level, keep)
    finally:
        if own_btf is not None:
            own_btf.close()


def _own_btf(name: Optional[str], prog_type: int) -> Tuple[Optional[_btf.BtfObject], Sequence[FuncInfo],
                                                             Sequence[LineInfo]]:
    """BTF for an assembled program: one FUNC for its entry, as clang would write."""
    context = _CONTEXTS.get(prog_type)
    if context is None:
        return None, (), ()
    blob, func_id = _btf.program_btf(name or _DEFAULT_FUNC_NAME, context)
    return _btf.BtfObject(blob.encode(), "program %s" % (name or "")), (FuncInfo(0, func_id),), ()


def _attach_btf(attr: k.bpf_attr_prog_load, btf: Optional[FdLike], func_info: Sequence[FuncInfo],
                line_info: Sequence[LineInfo]) -> List[object]:
    """Point ``attr`` at the BTF fd and records; returns the buffers to keep alive."""
    if btf is None:
        if func_info or line_info:
            raise ConfigError("func_info and line_info refer to BTF: pass btf= as well")
        return []
    attr.prog_btf_fd = _fd_of(btf, "btf")
    keep: List[object] = []
    for records, rec_type, what in ((func_info, k.bpf_func_info, "func_info"),
                                    (line_info, k.bpf_line_info, "line_info")):
        if not records:
            continue
        array = (rec_type * len(records))()
        for i, r in enumerate(records):
            array[i] = rec_type(*r)
        keep.append(array)
        setattr(attr, what, ctypes.addressof(array))
        setattr(attr, what + "_cnt", len(records))
        setattr(attr, what + "_rec_size", ctypes.sizeof(rec_type))
    return keep


def _load_attr(attr: k.bpf_attr_prog_load, call: str, prog_type: int, log_level: int,
               keep: List[object]) -> Prog:
    """BPF_PROG_LOAD with ``attr`` ready: the log on refusal, the memlock retry."""
    log_size = LOG_START_SIZE if log_level else 0
    ret, err, log, wanted = _load_once(attr, log_size, log_level)
    if ret < 0 and err == errno.EPERM:
        ret = _sys_bpf_prog_load_eperm(attr, call)
        err, log = 0, ""
    if ret < 0:
        ret, err, log = _load_with_log(attr, err, log, log_level or k.BPF_LOG_LEVEL1, wanted)
    if ret < 0:
        raise syscall_error(err, call, _load_hint(err, log), cls=VerifierError, log=log)
    return Prog(ret, prog_type, log if log_level else "")


def _sys_bpf_prog_load_eperm(attr: k.bpf_attr_prog_load, call: str) -> int:
    """The memlock/capability path of a load refused with EPERM."""
    attr.log_level, attr.log_size, attr.log_buf = 0, 0, 0
    kind = "an XDP program" if attr.prog_type == k.BPF_PROG_TYPE_XDP else \
        "a BPF program (type %d)" % attr.prog_type
    return _sys_bpf(k.BPF_PROG_LOAD, attr, call,
                    needs=_needs_bpf("loading " + kind, attr.prog_type in _NET_ADMIN_PROGS))


def _load_with_log(attr: k.bpf_attr_prog_load, err: int, log: str, log_level: int,
                   wanted: int) -> Tuple[int, int, str]:
    """Load again with a log until the log fits; (fd or -1, errno, log)."""
    size = max(LOG_START_SIZE, wanted)
    ret = -1
    while True:
        ret, err, log, wanted = _load_once(attr, size, log_level)
        if ret >= 0 or err != errno.ENOSPC or size >= LOG_MAX_SIZE:
            return ret, err, log
        size = min(LOG_MAX_SIZE, max(size * 2, wanted))


def _load_hint(err: int, log: str) -> str:
    if err == errno.ENOSPC:
        return "the verifier log did not fit even in %d bytes" % LOG_MAX_SIZE
    if err == errno.E2BIG:
        return "too many instructions"
    if log:
        last = [line for line in log.strip().splitlines() if line.strip()]
        # the verifier's last words before its statistics are the reason
        reasons = [line for line in last if not line.startswith(("processed ", "verification time"))]
        return "verifier: %s" % (reasons[-1] if reasons else last[-1])
    return "the verifier refused the program"


_P = TypeVar("_P", bound="Prog")


class Prog(_FdObject):
    """A loaded BPF program: ``fd``, ``id``, ``tag`` (hex), ``name``, ``type``
    (also as ``prog_type``), ``section``, ``test_run()``, and ``log`` (the
    verifier's, if a log level was asked for).

    ``name`` is what the loader gives (an ELF object's function name, which
    the kernel keeps only the first 15 characters of), else the kernel's
    name; ``section`` the ELF section it came from, "" for programs that
    did not come from an object file.
    """

    _what = "program"
    type: int
    log: str
    id: int
    tag: str
    name: str
    section: str

    def __init__(self, fd: int, prog_type: int, log: str = "", name: str = "",
                 section: str = "") -> None:
        super().__init__(fd)
        self.type = prog_type
        self.log = log
        self.section = section
        try:
            info = self.info()
        except BaseException:
            self.close()
            raise
        self.id, self.tag, self.name = info.id, info.tag, name or info.name
        self._what = "program %s" % (self.name or self.id)

    @property
    def prog_type(self) -> int:
        """BPF_PROG_TYPE_*: the same as ``type``."""
        return self.type

    @classmethod
    def from_pinned(cls: Type[_P], path: Union[str, "os.PathLike[str]"], flags: int = 0) -> _P:
        """The program pinned at ``path`` on a bpffs (BPF_OBJ_GET), as a
        :class:`Prog` holding a new fd of its own: close it when done; the
        pin stays until the file is unlinked.

        The kernel opens programs read-write only, so ``flags`` may not hold
        BPF_F_RDONLY or BPF_F_WRONLY (those are for maps).  A map or link
        pinned at ``path`` is a ConfigError; nothing there is
        FileNotFoundError; a directory, or a file outside a bpffs,
        PermissionError (EACCES)."""
        if isinstance(flags, bool) or not isinstance(flags, int) or flags < 0:
            raise ConfigError("flags must be an int >= 0, not %r" % (flags,))
        if flags & (k.BPF_F_RDONLY | k.BPF_F_WRONLY):
            raise ConfigError("BPF_F_RDONLY and BPF_F_WRONLY are for maps: the kernel opens a "
                              "pinned program read-write only")
        fd = obj_get_kind(path, "program", flags)
        return cls._from_fd(fd, "pinned program %r" % os.fsdecode(path))

    @classmethod
    def _from_fd(cls: Type[_P], fd: int, what: str) -> _P:
        """A Prog owning ``fd`` (of a program loaded elsewhere), typed by its info."""
        try:
            info = _info(fd, k.bpf_prog_info(), "bpf(BPF_OBJ_GET_INFO_BY_FD, %s)" % what)
        except BaseException:
            _libc.close(fd, call="close(%s)" % what)
            raise
        return cls(fd, info.type)

    def info(self) -> ProgInfo:
        """BPF_OBJ_GET_INFO_BY_FD: id, type, name, tag, run statistics, map ids."""
        raw = _info(self.fileno(), k.bpf_prog_info(), "bpf(BPF_OBJ_GET_INFO_BY_FD, %s)" % self._what)
        return ProgInfo(raw.id, raw.type, raw.name.decode(), bytes(raw.tag).hex(),
                        raw.run_cnt, raw.run_time_ns, raw.nr_map_ids)

    def map_ids(self) -> List[int]:
        """The ids of the maps the program uses (BPF_OBJ_GET_INFO_BY_FD with a
        map_ids buffer of nr_map_ids entries), in the kernel's order."""
        call = "bpf(BPF_OBJ_GET_INFO_BY_FD, %s, map_ids)" % self._what
        count = self.info().nr_map_ids
        while True:      # bpf_prog_bind_map() may add maps between the two calls
            ids = (ctypes.c_uint32 * count)()
            raw = k.bpf_prog_info(nr_map_ids=count, map_ids=ctypes.addressof(ids))
            raw = _info(self.fileno(), raw, call)
            if raw.nr_map_ids <= count:
                return list(ids[:raw.nr_map_ids])
            count = raw.nr_map_ids

    def _state(self) -> str:
        return " id=%d name=%r tag=%s" % (self.id, self.name, self.tag)

    def test_run(self, frame: Union[bytes, bytearray, memoryview], repeat: int = 1,
                 linear_size: Optional[int] = None) -> TestRun:
        """BPF_PROG_TEST_RUN: run the program ``repeat`` times on ``frame``.

        The kernel builds an xdp_buff around a copy of ``frame`` (at least
        ETH_HLEN = 14 bytes, at most about a page in the linear part) and
        returns the program's action, the frame as the program left it, and
        the mean duration.

        ``linear_size`` puts only the first ``linear_size`` bytes (0 or more)
        in the linear part the program reads through data/data_end and the
        rest in a fragment, as in a multi-buffer frame (6.18 does this for
        any XDP program; older kernels refuse, or want the program loaded
        with BPF_F_XDP_HAS_FRAGS).  That is how a program's bounds checks
        meet frames shorter than an Ethernet header, which the kernel
        otherwise never hands to XDP.
        """
        data = bytes(frame)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat < (1 << 32):
            raise ConfigError("repeat must be 1..2**32-1, not %r" % (repeat,))
        if self.type == k.BPF_PROG_TYPE_XDP and len(data) < ETH_HLEN:
            raise ConfigError("BPF_PROG_TEST_RUN needs an XDP frame of at least %d bytes "
                              "(an Ethernet header), not %d; see linear_size" % (ETH_HLEN, len(data)))
        ctx_in: Optional[k.xdp_md] = None
        ctx_out: Optional[k.xdp_md] = None
        if linear_size is not None:
            if isinstance(linear_size, bool) or not isinstance(linear_size, int) \
                    or not 0 <= linear_size <= len(data):
                raise ConfigError("linear_size must be 0..%d, not %r" % (len(data), linear_size))
            ctx_in, ctx_out = k.xdp_md(data=0, data_end=linear_size), k.xdp_md()
        in_buf = ctypes.create_string_buffer(data, len(data))
        out_size = len(data) + _libc.page_size()      # room for bpf_xdp_adjust_tail growth
        call = "bpf(BPF_PROG_TEST_RUN, %s, %d-byte frame)" % (self._what, len(data))
        hints = {errno.EINVAL: "frame too long for one page, or this kernel does not take "
                               "linear_size (or wants the program loaded with BPF_F_XDP_HAS_FRAGS)"}
        for _ in range(2):
            out_buf = ctypes.create_string_buffer(out_size)
            attr = k.bpf_attr_test(prog_fd=self.fileno(), data_size_in=len(data), data_size_out=out_size,
                                   data_in=ctypes.addressof(in_buf), data_out=ctypes.addressof(out_buf),
                                   repeat=repeat)
            if ctx_in is not None and ctx_out is not None:
                attr.ctx_in, attr.ctx_size_in = ctypes.addressof(ctx_in), ctypes.sizeof(ctx_in)
                attr.ctx_out, attr.ctx_size_out = ctypes.addressof(ctx_out), ctypes.sizeof(ctx_out)
            ret, err = _libc.raw_bpf(k.BPF_PROG_TEST_RUN, attr)
            if ret >= 0:
                break
            if err != errno.ENOSPC or attr.data_size_out <= out_size:
                raise syscall_error(err, call, hints.get(err))
            out_size = attr.data_size_out
        action: int = attr.retval
        if self.type == k.BPF_PROG_TYPE_XDP and action in XdpAction._value2member_map_:
            action = XdpAction(action)
        return TestRun(action, out_buf.raw[:attr.data_size_out], attr.duration, attr.retval)


_U32_MAX = (1 << 32) - 1


def prog_by_id(prog_id: int) -> Prog:
    """The loaded program with id ``prog_id`` (BPF_PROG_GET_FD_BY_ID, then
    BPF_OBJ_GET_INFO_BY_FD for its type), as a :class:`Prog` holding a new fd
    of its own: close it when done.  The kernel looks programs up by id only
    for CAP_SYS_ADMIN; an id no program has (any more) is FileNotFoundError."""
    if isinstance(prog_id, bool) or not isinstance(prog_id, int) or not 0 < prog_id <= _U32_MAX:
        raise ConfigError("a program id is an int from 1 to %d, not %r" % (_U32_MAX, prog_id))
    fd = _sys_bpf(k.BPF_PROG_GET_FD_BY_ID, k.bpf_attr_get_id(prog_id=prog_id),
                  "bpf(BPF_PROG_GET_FD_BY_ID, %d)" % prog_id,
                  {errno.ENOENT: "no loaded program has id %d" % prog_id},
                  ("looking programs up by id", ("CAP_SYS_ADMIN",), None))
    return Prog._from_fd(fd, "program id %d" % prog_id)
