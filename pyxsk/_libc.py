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

import ctypes
import errno
import os
import platform
import time

from .errors import syscall_error

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


class rlimit(ctypes.Structure):
    _fields_ = [("rlim_cur", ctypes.c_ulong), ("rlim_max", ctypes.c_ulong)]


class sched_param(ctypes.Structure):
    _fields_ = [("sched_priority", ctypes.c_int)]


class iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


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


def _load_libc():
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not glibc: the running program's own symbols include libc
        return ctypes.CDLL(None, use_errno=True)


libc = _load_libc()


def _proto(name, restype, *argtypes):
    fn = getattr(libc, name)
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


_c_int, _c_uint, _c_long, _c_ulong = ctypes.c_int, ctypes.c_uint, ctypes.c_long, ctypes.c_ulong
_c_void_p, _c_size_t, _c_ssize_t, _c_char_p = (
    ctypes.c_void_p, ctypes.c_size_t, ctypes.c_ssize_t, ctypes.c_char_p)

_socket = _proto("socket", _c_int, _c_int, _c_int, _c_int)
_setsockopt = _proto("setsockopt", _c_int, _c_int, _c_int, _c_int, _c_void_p, socklen_t)
_getsockopt = _proto("getsockopt", _c_int, _c_int, _c_int, _c_int, _c_void_p,
                     ctypes.POINTER(socklen_t))
_bind = _proto("bind", _c_int, _c_int, _c_void_p, socklen_t)
_close = _proto("close", _c_int, _c_int)
_mmap = _proto("mmap64" if hasattr(libc, "mmap64") else "mmap", _c_void_p,
               _c_void_p, _c_size_t, _c_int, _c_int, _c_int, off64_t)
_munmap = _proto("munmap", _c_int, _c_void_p, _c_size_t)
_sendto = _proto("sendto", _c_ssize_t, _c_int, _c_void_p, _c_size_t, _c_int, _c_void_p, socklen_t)
_recvfrom = _proto("recvfrom", _c_ssize_t, _c_int, _c_void_p, _c_size_t, _c_int, _c_void_p,
                   ctypes.POINTER(socklen_t))
_recvmsg = _proto("recvmsg", _c_ssize_t, _c_int, ctypes.POINTER(msghdr), _c_int)
_poll = _proto("poll", _c_int, ctypes.POINTER(pollfd), _c_ulong, _c_int)
_syscall = _proto("syscall", _c_long, _c_long, _c_long, _c_void_p, _c_ulong)
_getrlimit = _proto("getrlimit", _c_int, _c_int, ctypes.POINTER(rlimit))
_setrlimit = _proto("setrlimit", _c_int, _c_int, ctypes.POINTER(rlimit))
_prlimit = _proto("prlimit", _c_int, _c_int, _c_int, ctypes.POINTER(rlimit),
                  ctypes.POINTER(rlimit))
_if_nametoindex = _proto("if_nametoindex", _c_uint, _c_char_p)
_if_indextoname = _proto("if_indextoname", _c_char_p, _c_uint, _c_char_p)
_sysconf = _proto("sysconf", _c_long, _c_int)
_setns = _proto("setns", _c_int, _c_int, _c_int)
_unshare = _proto("unshare", _c_int, _c_int)
_mount = _proto("mount", _c_int, _c_char_p, _c_char_p, _c_char_p, _c_ulong, _c_void_p)
_umount2 = _proto("umount2", _c_int, _c_char_p, _c_int)
_sched_getscheduler = _proto("sched_getscheduler", _c_int, _c_int)
_sched_getparam = _proto("sched_getparam", _c_int, _c_int, ctypes.POINTER(sched_param))
_sched_setscheduler = _proto("sched_setscheduler", _c_int, _c_int, _c_int,
                             ctypes.POINTER(sched_param))
_capget = _proto("capget", _c_int, _c_void_p, _c_void_p)

MAP_FAILED = ctypes.c_void_p(-1).value


def _fail(call, hints, err=None):
    err = ctypes.get_errno() if err is None else err
    raise syscall_error(err, call, hints.get(err) if hints else None)


def _ptr(obj):
    """Address of a ctypes object, or None (NULL) for None."""
    return None if obj is None else ctypes.addressof(obj)


def sys_bpf_number(machine=None):
    """The bpf(2) system call number on this (or the named) architecture."""
    machine = (machine or platform.machine()).lower()
    try:
        return SYS_BPF_BY_MACHINE[machine]
    except KeyError:
        raise OSError(errno.ENOSYS, "pyxsk does not know the bpf(2) number on %s" % machine)


# -- sockets ------------------------------------------------------------------

def socket(family, type_, protocol=0, call="socket", hints=None):
    fd = _socket(family, type_ | SOCK_CLOEXEC, protocol)
    if fd < 0:
        _fail(call, hints)
    return fd


def close(fd, call="close"):
    if _close(fd) < 0:
        err = ctypes.get_errno()
        if err != errno.EINTR:  # Linux has released the fd even then
            _fail(call, None, err)


def setsockopt(fd, level, optname, value, size=None, call="setsockopt", hints=None):
    """Set an option from a ctypes object (``size`` defaults to its sizeof)."""
    size = ctypes.sizeof(value) if size is None else size
    if _setsockopt(fd, level, optname, ctypes.addressof(value), size) < 0:
        _fail(call, hints)


def setsockopt_int(fd, level, optname, value, call="setsockopt", hints=None):
    setsockopt(fd, level, optname, ctypes.c_int(value), call=call, hints=hints)


def getsockopt(fd, level, optname, buf, call="getsockopt", hints=None):
    """Fill ``buf`` (a ctypes object); return how many bytes the kernel wrote."""
    size = socklen_t(ctypes.sizeof(buf))
    if _getsockopt(fd, level, optname, ctypes.addressof(buf), ctypes.byref(size)) < 0:
        _fail(call, hints)
    return size.value


def bind(fd, addr, call="bind", hints=None):
    if _bind(fd, ctypes.addressof(addr), ctypes.sizeof(addr)) < 0:
        _fail(call, hints)


def sendto(fd, buf, length, flags, addr=None, call="sendto", hints=None):
    """Send ``length`` bytes from address ``buf`` (an int, or None for NULL)."""
    n = _sendto(fd, buf, length, flags, _ptr(addr), ctypes.sizeof(addr) if addr is not None else 0)
    if n < 0:
        _fail(call, hints)
    return n


def raw_sendto(fd, buf, length, flags):
    """sendto without raising: (result, errno) — for the TX kick, where
    EAGAIN and EBUSY are normal answers, not failures."""
    n = _sendto(fd, buf, length, flags, None, 0)
    return n, (ctypes.get_errno() if n < 0 else 0)


def recvfrom(fd, buf, length, flags, call="recvfrom", hints=None):
    n = _recvfrom(fd, buf, length, flags, None, None)
    if n < 0:
        _fail(call, hints)
    return n


def recvmsg(fd, msg, flags, call="recvmsg", hints=None):
    n = _recvmsg(fd, ctypes.byref(msg), flags)
    if n < 0:
        _fail(call, hints)
    return n


def poll(fds, timeout, call="poll"):
    """poll(2) over a ctypes ``pollfd`` array; ``timeout`` in seconds, None
    blocks.  Retries EINTR with the remaining time (signal handlers run in
    between, so Ctrl-C still interrupts).  Returns the number of ready fds."""
    ms = -1 if timeout is None else max(0, -int(-timeout * 1000 // 1))
    deadline = time.monotonic() + timeout if ms > 0 else None
    n = _poll(fds, len(fds), ms)
    if n >= 0:
        return n
    return _poll_after_eintr(fds, deadline, ms, call)


def _poll_after_eintr(fds, deadline, ms, call):
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

def mmap(length, prot, flags, fd=-1, offset=0, call="mmap", hints=None):
    addr = _mmap(None, length, prot, flags, fd, offset)
    if addr in (None, MAP_FAILED):
        _fail(call, hints)
    return addr


def munmap(addr, length, call="munmap"):
    if _munmap(addr, length) < 0:
        _fail(call, None)


def page_size():
    return _sysconf(_SC_PAGESIZE)


# -- bpf(2) -------------------------------------------------------------------

def bpf(cmd, attr, size=None, call="bpf", hints=None):
    """bpf(cmd, &attr, size); ``attr`` is a ctypes structure, zero-filled
    beyond the fields the command uses (the kernel refuses stray bytes)."""
    size = ctypes.sizeof(attr) if size is None else size
    ret = _syscall(sys_bpf_number(), cmd, ctypes.addressof(attr), size)
    if ret < 0:
        _fail(call, hints)
    return ret


def raw_bpf(cmd, attr, size=None):
    """bpf(2) without raising: (result, errno)."""
    size = ctypes.sizeof(attr) if size is None else size
    ret = _syscall(sys_bpf_number(), cmd, ctypes.addressof(attr), size)
    return ret, (ctypes.get_errno() if ret < 0 else 0)


# -- resource limits ----------------------------------------------------------

def getrlimit(resource, call="getrlimit"):
    lim = rlimit()
    if _getrlimit(resource, ctypes.byref(lim)) < 0:
        _fail(call, None)
    return lim.rlim_cur, lim.rlim_max


def setrlimit(resource, soft, hard, call="setrlimit", hints=None):
    lim = rlimit(soft, hard)
    if _setrlimit(resource, ctypes.byref(lim)) < 0:
        _fail(call, hints)


def prlimit(pid, resource, new=None, call="prlimit", hints=None):
    """Read (and with ``new=(soft, hard)`` set) a process's limit; returns the old one."""
    old = rlimit()
    new_lim = None if new is None else ctypes.byref(rlimit(*new))
    if _prlimit(pid, resource, new_lim, ctypes.byref(old)) < 0:
        _fail(call, hints)
    return old.rlim_cur, old.rlim_max


# -- scheduling ---------------------------------------------------------------
# On Linux these act on one thread: pid 0 is the calling thread, not the process.

def sched_getscheduler(pid=0, call="sched_getscheduler"):
    """(policy, priority) of thread ``pid``."""
    policy = _sched_getscheduler(pid)
    param = sched_param()
    if policy < 0 or _sched_getparam(pid, ctypes.byref(param)) < 0:
        _fail(call, None)
    return policy, param.sched_priority


def sched_setscheduler(pid, policy, priority=0, call="sched_setscheduler", hints=None):
    if _sched_setscheduler(pid, policy, ctypes.byref(sched_param(priority))) < 0:
        _fail(call, hints)


# -- interfaces ---------------------------------------------------------------

def if_nametoindex(name, call=None):
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


def if_indextoname(index, call=None):
    buf = ctypes.create_string_buffer(IF_NAMESIZE)
    if _if_indextoname(index, buf) is None:
        _fail(call or "if_indextoname(%d)" % index, {errno.ENXIO: "no interface has that index in this network namespace"})
    return buf.value.decode()


# -- namespaces ---------------------------------------------------------------

def setns(fd, nstype, call="setns", hints=None):
    if _setns(fd, nstype) < 0:
        _fail(call, hints)


def unshare(flags, call="unshare", hints=None):
    if _unshare(flags) < 0:
        _fail(call, hints)


def mount(source, target, fstype, flags, call="mount", hints=None):
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
    if _mount(enc(source), enc(target), enc(fstype), flags, None) < 0:
        _fail(call, hints)


def umount2(target, flags, call="umount2", hints=None):
    if _umount2(os.fsencode(target), flags) < 0:
        _fail(call, hints)


# -- capabilities -------------------------------------------------------------

def capget(header, data, call="capget"):
    """capget(&header, data): ``data`` is an array of as many
    ``__user_cap_data_struct`` as ``header.version`` asks for."""
    if _capget(ctypes.addressof(header), ctypes.addressof(data)) < 0:
        _fail(call, None)
