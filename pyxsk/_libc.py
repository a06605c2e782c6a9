"""libc through ctypes: every system call pyxsk makes, with its C prototype.

Each wrapper declares ``argtypes``/``restype`` once (a missing ``restype``
would truncate the 64-bit pointer ``mmap`` returns), calls libc, and either
returns the result or raises a :class:`~pyxsk.errors.SyscallError` built from
errno.  Callers pass ``call`` (what to name in the message, e.g.
``"bind(AF_XDP veth0 queue 0)"``) and ``hints`` (errno -> likely cause).

The constants here are those of the C library's own headers (sys/socket.h,
sys/mman.h, poll.h, sys/resource.h, sched.h, sys/mount.h) on Linux; the
kernel-interface constants live in :mod:`pyxsk.uapi`.

This is the only module that touches ``ctypes.CDLL``.  Tests replace these
functions to play an older kernel, so the rest of pyxsk calls them as
``_libc.name(...)``, never through ``from ._libc import name``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import time
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Tuple, Type, Union

from .errors import syscall_error

if TYPE_CHECKING:
    from typing import NoReturn

    # Any ctypes instance (structure, union, array, simple value): what
    # addressof/sizeof/byref take.  typeshed's name for their common base;
    # it exists only for the type checker.
    from ctypes import _CData as CData
    # What byref() returns: a light pointer to pass where C wants ``T *``.
    from ctypes import _CArgObject as CArg

    from .uapi import Field

# errno -> the likely cause of that refusal, for this call
Hints = Mapping[int, str]
# a path for os.fsencode
FsPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

# sys/socket.h
SOL_SOCKET = 1
SO_RCVBUF = 8
SO_SNDBUF = 7
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32
SOCK_RAW = 3
SOCK_CLOEXEC = 0o2000000
SOCK_NONBLOCK = 0o4000
MSG_PEEK = 0x2
MSG_TRUNC = 0x20
MSG_DONTWAIT = 0x40
AF_UNSPEC = 0
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16
AF_PACKET = 17

# sys/mman.h
PROT_NONE = 0x0
PROT_READ = 0x1
PROT_WRITE = 0x2
MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_ANONYMOUS = 0x20
MAP_POPULATE = 0x8000
MAP_HUGETLB = 0x40000

# poll.h
POLLIN = 0x001
POLLOUT = 0x004
POLLERR = 0x008
POLLHUP = 0x010
POLLNVAL = 0x020

# sys/resource.h
RLIMIT_MEMLOCK = 8
RLIM_INFINITY = (1 << 64) - 1

# unistd.h
_SC_PAGESIZE = 30

# sched.h
CLONE_NEWNET = 0x40000000
SCHED_OTHER = 0
SCHED_FIFO = 1
SCHED_RR = 2
SCHED_BATCH = 3
SCHED_IDLE = 5

# sys/mount.h
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SHARED = 1 << 20
MNT_DETACH = 0x2

# net/if.h
IF_NAMESIZE = 16

socklen_t = ctypes.c_uint32
off64_t = ctypes.c_int64


class pollfd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]
    fd: Field[ctypes.c_int, int]
    events: Field[ctypes.c_short, int]
    revents: Field[ctypes.c_short, int]


class rlimit(ctypes.Structure):
    _fields_ = [("rlim_cur", ctypes.c_ulong), ("rlim_max", ctypes.c_ulong)]
    rlim_cur: Field[ctypes.c_ulong, int]
    rlim_max: Field[ctypes.c_ulong, int]


class sched_param(ctypes.Structure):
    _fields_ = [("sched_priority", ctypes.c_int)]
    sched_priority: Field[ctypes.c_int, int]


class iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]
    iov_base: Field[ctypes.c_void_p, Optional[int]]
    iov_len: Field[ctypes.c_size_t, int]


class msghdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", socklen_t),
        ("msg_iov", ctypes.POINTER(iovec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]
    msg_name: Field[ctypes.c_void_p, Optional[int]]
    msg_namelen: Field[ctypes.c_uint32, int]
    msg_iov: Field[ctypes._Pointer[iovec], ctypes._Pointer[iovec]]
    msg_iovlen: Field[ctypes.c_size_t, int]
    msg_control: Field[ctypes.c_void_p, Optional[int]]
    msg_controllen: Field[ctypes.c_size_t, int]
    msg_flags: Field[ctypes.c_int, int]


# The bpf(2) system call has no libc wrapper; it goes through syscall(2).
SYS_BPF_BY_MACHINE = {
    "x86_64": 321, "amd64": 321,
    "i386": 357, "i486": 357, "i586": 357, "i686": 357,
    "aarch64": 280, "arm64": 280, "riscv64": 280, "loongarch64": 280,
    "armv6l": 386, "armv7l": 386, "armv8l": 386,
    "ppc64": 361, "ppc64le": 361, "ppc": 361,
    "s390x": 351,
    "mips64": 5315,
}

# Nor has perf_event_open(2).
SYS_PERF_EVENT_OPEN_BY_MACHINE = {
    "x86_64": 298, "amd64": 298,
    "i386": 336, "i486": 336, "i586": 336, "i686": 336,
    "aarch64": 241, "arm64": 241, "riscv64": 241, "loongarch64": 241,
    "armv6l": 364, "armv7l": 364, "armv8l": 364,
    "ppc64": 319, "ppc64le": 319, "ppc": 319,
    "s390x": 331,
    "mips64": 5292,
}


def _load_libc() -> ctypes.CDLL:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not glibc: the running program's own symbols include libc
        return ctypes.CDLL(None, use_errno=True)


libc = _load_libc()


def _proto(name: str, restype: Optional[Type[ctypes._CDataType]],
           *argtypes: Type[ctypes._CDataType], own: bool = False) -> ctypes._NamedFuncPointer:
    """libc's ``name`` with this prototype; ``own``: as a function object of
    its own (``libc[name]`` is new each time, ``libc.name`` is shared)."""
    fn: ctypes._NamedFuncPointer = libc[name] if own else getattr(libc, name)
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


_c_int, _c_uint, _c_long, _c_ulong = ctypes.c_int, ctypes.c_uint, ctypes.c_long, ctypes.c_ulong
_c_void_p, _c_size_t, _c_ssize_t, _c_char_p = (
    ctypes.c_void_p, ctypes.c_size_t, ctypes.c_ssize_t, ctypes.c_char_p)

# Each prototype is declared with the Python types ctypes converts to and from
# (c_void_p: int or None for NULL; c_char_p: bytes or None; ``T *``: byref()
# or an array), so the wrappers below are checked without any cost per call.
_socket: Callable[[int, int, int], int] = _proto(
    "socket", _c_int, _c_int, _c_int, _c_int)
_setsockopt: Callable[[int, int, int, int, int], int] = _proto(
    "setsockopt", _c_int, _c_int, _c_int, _c_int, _c_void_p, socklen_t)
_getsockopt: Callable[[int, int, int, int, CArg], int] = _proto(
    "getsockopt", _c_int, _c_int, _c_int, _c_int, _c_void_p, ctypes.POINTER(socklen_t))
_bind: Callable[[int, int, int], int] = _proto(
    "bind", _c_int, _c_int, _c_void_p, socklen_t)
_close: Callable[[int], int] = _proto(
    "close", _c_int, _c_int)
_mmap: Callable[[None, int, int, int, int, int], Optional[int]] = _proto(
    "mmap64" if hasattr(libc, "mmap64") else "mmap", _c_void_p,
    _c_void_p, _c_size_t, _c_int, _c_int, _c_int, off64_t)
_munmap: Callable[[int, int], int] = _proto(
    "munmap", _c_int, _c_void_p, _c_size_t)
_sendto: Callable[[int, Optional[int], int, int, Optional[int], int], int] = _proto(
    "sendto", _c_ssize_t, _c_int, _c_void_p, _c_size_t, _c_int, _c_void_p, socklen_t)
_recvfrom: Callable[[int, Optional[int], int, int, None, None], int] = _proto(
    "recvfrom", _c_ssize_t, _c_int, _c_void_p, _c_size_t, _c_int, _c_void_p,
    ctypes.POINTER(socklen_t))
_recvmsg: Callable[[int, CArg, int], int] = _proto(
    "recvmsg", _c_ssize_t, _c_int, ctypes.POINTER(msghdr), _c_int)
_poll: Callable[[ctypes.Array[pollfd], int, int], int] = _proto(
    "poll", _c_int, ctypes.POINTER(pollfd), _c_ulong, _c_int)
_syscall: Callable[[int, int, int, int], int] = _proto(
    "syscall", _c_long, _c_long, _c_long, _c_void_p, _c_ulong)
# syscall(2) again, as a function object of its own, for perf_event_open's six arguments
_syscall6: Callable[[int, int, int, int, int, int], int] = _proto(
    "syscall", _c_long, _c_long, _c_void_p, _c_int, _c_int, _c_int, _c_ulong, own=True)
_ioctl: Callable[[int, int, int], int] = _proto(
    "ioctl", _c_int, _c_int, _c_ulong, _c_ulong)
_getrlimit: Callable[[int, CArg], int] = _proto(
    "getrlimit", _c_int, _c_int, ctypes.POINTER(rlimit))
_setrlimit: Callable[[int, CArg], int] = _proto(
    "setrlimit", _c_int, _c_int, ctypes.POINTER(rlimit))
_prlimit: Callable[[int, int, Optional[CArg], CArg], int] = _proto(
    "prlimit", _c_int, _c_int, _c_int, ctypes.POINTER(rlimit), ctypes.POINTER(rlimit))
_if_nametoindex: Callable[[bytes], int] = _proto(
    "if_nametoindex", _c_uint, _c_char_p)
_if_indextoname: Callable[[int, ctypes.Array[ctypes.c_char]], Optional[bytes]] = _proto(
    "if_indextoname", _c_char_p, _c_uint, _c_char_p)
_sysconf: Callable[[int], int] = _proto(
    "sysconf", _c_long, _c_int)
_setns: Callable[[int, int], int] = _proto(
    "setns", _c_int, _c_int, _c_int)
_unshare: Callable[[int], int] = _proto(
    "unshare", _c_int, _c_int)
_mount: Callable[[Optional[bytes], Optional[bytes], Optional[bytes], int, None], int] = _proto(
    "mount", _c_int, _c_char_p, _c_char_p, _c_char_p, _c_ulong, _c_void_p)
_umount2: Callable[[bytes, int], int] = _proto(
    "umount2", _c_int, _c_char_p, _c_int)
_sched_getscheduler: Callable[[int], int] = _proto(
    "sched_getscheduler", _c_int, _c_int)
_sched_getparam: Callable[[int, CArg], int] = _proto(
    "sched_getparam", _c_int, _c_int, ctypes.POINTER(sched_param))
_sched_setscheduler: Callable[[int, int, CArg], int] = _proto(
    "sched_setscheduler", _c_int, _c_int, _c_int, ctypes.POINTER(sched_param))
_capget: Callable[[int, int], int] = _proto(
    "capget", _c_int, _c_void_p, _c_void_p)

MAP_FAILED = ctypes.c_void_p(-1).value


def _fail(call: str, hints: Optional[Hints], err: Optional[int] = None) -> NoReturn:
    err = ctypes.get_errno() if err is None else err
    raise syscall_error(err, call, hints.get(err) if hints else None)


def _ptr(obj: Optional[CData]) -> Optional[int]:
    """Address of a ctypes object, or None (NULL) for None."""
    return None if obj is None else ctypes.addressof(obj)


def sys_bpf_number(machine: Optional[str] = None) -> int:
    """The bpf(2) system call number on this (or the named) architecture."""
    return _syscall_number(SYS_BPF_BY_MACHINE, "bpf", machine)


def sys_perf_event_open_number(machine: Optional[str] = None) -> int:
    """The perf_event_open(2) system call number on this (or the named) architecture."""
    return _syscall_number(SYS_PERF_EVENT_OPEN_BY_MACHINE, "perf_event_open", machine)


def _syscall_number(table: Mapping[str, int], name: str, machine: Optional[str]) -> int:
    machine = (machine or platform.machine()).lower()
    try:
        return table[machine]
    except KeyError:
        raise OSError(errno.ENOSYS, "pyxsk does not know the %s(2) number on %s" % (name, machine))


# -- sockets ------------------------------------------------------------------

def socket(family: int, type_: int, protocol: int = 0, call: str = "socket",
           hints: Optional[Hints] = None) -> int:
    fd = _socket(family, type_ | SOCK_CLOEXEC, protocol)
    if fd < 0:
        _fail(call, hints)
    return fd


def close(fd: int, call: str = "close") -> None:
    if _close(fd) < 0:
        err = ctypes.get_errno()
        if err != errno.EINTR:  # Linux has released the fd even then
            _fail(call, None, err)


def setsockopt(fd: int, level: int, optname: int, value: CData, size: Optional[int] = None,
               call: str = "setsockopt", hints: Optional[Hints] = None) -> None:
    """Set an option from a ctypes object (``size`` defaults to its sizeof)."""
    size = ctypes.sizeof(value) if size is None else size
    if _setsockopt(fd, level, optname, ctypes.addressof(value), size) < 0:
        _fail(call, hints)


def setsockopt_int(fd: int, level: int, optname: int, value: int, call: str = "setsockopt",
                   hints: Optional[Hints] = None) -> None:
    setsockopt(fd, level, optname, ctypes.c_int(value), call=call, hints=hints)


def getsockopt(fd: int, level: int, optname: int, buf: CData, call: str = "getsockopt",
               hints: Optional[Hints] = None) -> int:
    """Fill ``buf`` (a ctypes object); return how many bytes the kernel wrote."""
    size = socklen_t(ctypes.sizeof(buf))
    if _getsockopt(fd, level, optname, ctypes.addressof(buf), ctypes.byref(size)) < 0:
        _fail(call, hints)
    return size.value


def bind(fd: int, addr: CData, call: str = "bind", hints: Optional[Hints] = None) -> None:
    if _bind(fd, ctypes.addressof(addr), ctypes.sizeof(addr)) < 0:
        _fail(call, hints)


def sendto(fd: int, buf: Optional[int], length: int, flags: int, addr: Optional[CData] = None,
           call: str = "sendto", hints: Optional[Hints] = None) -> int:
    """Send ``length`` bytes from address ``buf`` (an int, or None for NULL)."""
    n = _sendto(fd, buf, length, flags, _ptr(addr), ctypes.sizeof(addr) if addr is not None else 0)
    if n < 0:
        _fail(call, hints)
    return n


def raw_sendto(fd: int, buf: Optional[int], length: int, flags: int) -> Tuple[int, int]:
    """sendto without raising: (result, errno) — for the TX kick, where
    EAGAIN and EBUSY are normal answers, not failures."""
    n = _sendto(fd, buf, length, flags, None, 0)
    return n, (ctypes.get_errno() if n < 0 else 0)


def recvfrom(fd: int, buf: Optional[int], length: int, flags: int, call: str = "recvfrom",
             hints: Optional[Hints] = None) -> int:
    n = _recvfrom(fd, buf, length, flags, None, None)
    if n < 0:
        _fail(call, hints)
    return n


def recvmsg(fd: int, msg: msghdr, flags: int, call: str = "recvmsg",
            hints: Optional[Hints] = None) -> int:
    n = _recvmsg(fd, ctypes.byref(msg), flags)
    if n < 0:
        _fail(call, hints)
    return n


def poll(fds: ctypes.Array[pollfd], timeout: Optional[float], call: str = "poll") -> int:
    """poll(2) over a ctypes ``pollfd`` array; ``timeout`` in seconds, None
    blocks.  Retries EINTR with the remaining time (signal handlers run in
    between, so Ctrl-C still interrupts).  Returns the number of ready fds."""
    deadline: Optional[float]
    if timeout is None:
        ms, deadline = -1, None
    else:
        ms = max(0, -int(-timeout * 1000 // 1))
        deadline = time.monotonic() + timeout if ms > 0 else None
    n = _poll(fds, len(fds), ms)
    if n >= 0:
        return n
    return _poll_after_eintr(fds, deadline, ms, call)


def _poll_after_eintr(fds: ctypes.Array[pollfd], deadline: Optional[float], ms: int,
                      call: str) -> int:
    while True:
        err = ctypes.get_errno()
        if err != errno.EINTR:
            _fail(call, None, err)
        if deadline is not None:
            ms = max(0, -int(-(deadline - time.monotonic()) * 1000 // 1))
        n = _poll(fds, len(fds), ms)
        if n >= 0:
            return n


# -- memory -------------------------------------------------------------------

def mmap(length: int, prot: int, flags: int, fd: int = -1, offset: int = 0, call: str = "mmap",
         hints: Optional[Hints] = None) -> int:
    addr = _mmap(None, length, prot, flags, fd, offset)
    if addr is None or addr == MAP_FAILED:
        _fail(call, hints)
    return addr


def munmap(addr: int, length: int, call: str = "munmap") -> None:
    if _munmap(addr, length) < 0:
        _fail(call, None)


def page_size() -> int:
    return _sysconf(_SC_PAGESIZE)


# -- bpf(2) -------------------------------------------------------------------

def bpf(cmd: int, attr: CData, size: Optional[int] = None, call: str = "bpf",
        hints: Optional[Hints] = None) -> int:
    """bpf(cmd, &attr, size); ``attr`` is a ctypes structure, zero-filled
    beyond the fields the command uses (the kernel refuses stray bytes)."""
    size = ctypes.sizeof(attr) if size is None else size
    ret = _syscall(sys_bpf_number(), cmd, ctypes.addressof(attr), size)
    if ret < 0:
        _fail(call, hints)
    return ret


def raw_bpf(cmd: int, attr: CData, size: Optional[int] = None) -> Tuple[int, int]:
    """bpf(2) without raising: (result, errno)."""
    size = ctypes.sizeof(attr) if size is None else size
    ret = _syscall(sys_bpf_number(), cmd, ctypes.addressof(attr), size)
    return ret, (ctypes.get_errno() if ret < 0 else 0)


# -- perf events ----------------------------------------------------------------

def perf_event_open(attr: CData, pid: int, cpu: int, group_fd: int, flags: int,
                    call: str = "perf_event_open", hints: Optional[Hints] = None) -> int:
    """perf_event_open(&attr, pid, cpu, group_fd, flags) -> a new fd."""
    fd = _syscall6(sys_perf_event_open_number(), ctypes.addressof(attr), pid, cpu, group_fd, flags)
    if fd < 0:
        _fail(call, hints)
    return fd


def ioctl(fd: int, request: int, arg: int = 0, call: str = "ioctl",
          hints: Optional[Hints] = None) -> int:
    """ioctl(fd, request, arg) with an integer argument."""
    ret = _ioctl(fd, request, arg)
    if ret < 0:
        _fail(call, hints)
    return ret


# -- resource limits ----------------------------------------------------------

def getrlimit(resource: int, call: str = "getrlimit") -> Tuple[int, int]:
    lim = rlimit()
    if _getrlimit(resource, ctypes.byref(lim)) < 0:
        _fail(call, None)
    return lim.rlim_cur, lim.rlim_max


def setrlimit(resource: int, soft: int, hard: int, call: str = "setrlimit",
              hints: Optional[Hints] = None) -> None:
    lim = rlimit(soft, hard)
    if _setrlimit(resource, ctypes.byref(lim)) < 0:
        _fail(call, hints)


def prlimit(pid: int, resource: int, new: Optional[Tuple[int, int]] = None,
            call: str = "prlimit", hints: Optional[Hints] = None) -> Tuple[int, int]:
    """Read (and with ``new=(soft, hard)`` set) a process's limit; returns the old one."""
    old = rlimit()
    new_lim = None if new is None else ctypes.byref(rlimit(*new))
    if _prlimit(pid, resource, new_lim, ctypes.byref(old)) < 0:
        _fail(call, hints)
    return old.rlim_cur, old.rlim_max


# -- scheduling ---------------------------------------------------------------
# On Linux these act on one thread: pid 0 is the calling thread, not the process.

def sched_getscheduler(pid: int = 0, call: str = "sched_getscheduler") -> Tuple[int, int]:
    """(policy, priority) of thread ``pid``."""
    policy = _sched_getscheduler(pid)
    param = sched_param()
    if policy < 0 or _sched_getparam(pid, ctypes.byref(param)) < 0:
        _fail(call, None)
    return policy, param.sched_priority


def sched_setscheduler(pid: int, policy: int, priority: int = 0, call: str = "sched_setscheduler",
                       hints: Optional[Hints] = None) -> None:
    if _sched_setscheduler(pid, policy, ctypes.byref(sched_param(priority))) < 0:
        _fail(call, hints)


# -- interfaces ---------------------------------------------------------------

def if_nametoindex(name: Union[str, bytes], call: Optional[str] = None) -> int:
    """Index of interface ``name``; FileNotFoundError-like ENODEV if absent."""
    if not isinstance(name, (str, bytes)):
        raise TypeError("interface name must be str, not %s" % type(name).__name__)
    raw = name.encode() if isinstance(name, str) else name
    if not raw or len(raw) >= IF_NAMESIZE or b"\0" in raw or b"/" in raw:
        raise ValueError("%r is not a valid interface name (1-15 bytes, no '/' or NUL)" % (name,))
    index = _if_nametoindex(raw)
    if index == 0:
        _fail(call or "if_nametoindex(%r)" % name, {errno.ENODEV: "no such interface in this network namespace"})
    return index


def if_indextoname(index: int, call: Optional[str] = None) -> str:
    buf = ctypes.create_string_buffer(IF_NAMESIZE)
    if _if_indextoname(index, buf) is None:
        _fail(call or "if_indextoname(%d)" % index, {errno.ENXIO: "no interface has that index in this network namespace"})
    return buf.value.decode()


# -- namespaces ---------------------------------------------------------------

def setns(fd: int, nstype: int, call: str = "setns", hints: Optional[Hints] = None) -> None:
    if _setns(fd, nstype) < 0:
        _fail(call, hints)


def unshare(flags: int, call: str = "unshare", hints: Optional[Hints] = None) -> None:
    if _unshare(flags) < 0:
        _fail(call, hints)


def _fsencode_or_none(path: Optional[FsPath]) -> Optional[bytes]:
    return None if path is None else os.fsencode(path)


def mount(source: Optional[FsPath], target: Optional[FsPath], fstype: Optional[FsPath],
          flags: int, call: str = "mount", hints: Optional[Hints] = None) -> None:
    enc = _fsencode_or_none
    if _mount(enc(source), enc(target), enc(fstype), flags, None) < 0:
        _fail(call, hints)


def umount2(target: FsPath, flags: int, call: str = "umount2",
            hints: Optional[Hints] = None) -> None:
    if _umount2(os.fsencode(target), flags) < 0:
        _fail(call, hints)


# -- capabilities -------------------------------------------------------------

def capget(header: CData, data: CData, call: str = "capget") -> None:
    """capget(&header, data): ``data`` is an array of as many
    ``__user_cap_data_struct`` as ``header.version`` asks for."""
    if _capget(ctypes.addressof(header), ctypes.addressof(data)) < 0:
        _fail(call, None)
