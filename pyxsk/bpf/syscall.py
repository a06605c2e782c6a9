"""The bpf(2) system call as the other modules of :mod:`pyxsk.bpf` make it:
command names in errors, the RLIMIT_MEMLOCK retry of kernels before 5.11,
object names, OBJ_GET_INFO, and the base class of every object that owns a
kernel fd (idempotent ``close()``, ``with``, ``fileno()``, ``repr``)."""

from __future__ import annotations

import ctypes
import errno
import os
import re
import warnings
from typing import Callable, Dict, Mapping, Optional, Protocol, Tuple, TypeVar, Union

from .. import _libc, capabilities
from ..errors import ConfigError, syscall_error
from ..uapi import bpf as k

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.]*$")   # what bpf_obj_name_cpy() accepts
MAX_NAME = k.BPF_OBJ_NAME_LEN - 1                 # room for the NUL
_U32_SIZE = ctypes.sizeof(ctypes.c_uint32)
# What bpf(2) checks (kernel/bpf/syscall.c: map_create, bpf_prog_load): CAP_BPF
# for every map and program (kernel.unprivileged_bpf_disabled leaves nothing
# to unprivileged users), CAP_NET_ADMIN as well for these kinds, and
# CAP_SYS_ADMIN accepted instead of either.
_NET_ADMIN_MAPS = frozenset((k.BPF_MAP_TYPE_DEVMAP, k.BPF_MAP_TYPE_DEVMAP_HASH,
                             k.BPF_MAP_TYPE_SOCKMAP, k.BPF_MAP_TYPE_SOCKHASH,
                             k.BPF_MAP_TYPE_XSKMAP))
_NET_ADMIN_PROGS = frozenset((k.BPF_PROG_TYPE_XDP, k.BPF_PROG_TYPE_SCHED_CLS,
                              k.BPF_PROG_TYPE_SCHED_ACT))
_BPF_ALTERNATIVE = "CAP_SYS_ADMIN"

# errno -> the likely cause of that refusal, for this call
_Hints = Mapping[int, str]
# (what the call does, the capabilities it needs, one that stands in for all of them)
_Needs = Tuple[str, Tuple[str, ...], Optional[str]]
# a ctypes structure bpf(2) reads or fills
_Attr = TypeVar("_Attr", bound=ctypes.Structure)


class HasFileno(Protocol):
    """An object that owns an fd: a socket, a map, a program..."""

    def fileno(self) -> int: ...


# an fd, or an object that has one
FdLike = Union[int, HasFileno]


def _needs_bpf(what: str, net_admin: bool) -> _Needs:
    """``needs`` for :func:`_sys_bpf`: CAP_BPF, and CAP_NET_ADMIN for the networking kinds."""
    needed = ("CAP_BPF", "CAP_NET_ADMIN") if net_admin else ("CAP_BPF",)
    return what, needed, _BPF_ALTERNATIVE


_CMD_NAMES: Dict[int, str] = {
    k.BPF_MAP_LOOKUP_ELEM: "BPF_MAP_LOOKUP_ELEM", k.BPF_MAP_UPDATE_ELEM: "BPF_MAP_UPDATE_ELEM",
    k.BPF_MAP_DELETE_ELEM: "BPF_MAP_DELETE_ELEM", k.BPF_MAP_GET_NEXT_KEY: "BPF_MAP_GET_NEXT_KEY",
}
_MEMLOCK_CHARGED = (k.BPF_MAP_CREATE, k.BPF_PROG_LOAD)


class _Memlock:
    """What was done about RLIMIT_MEMLOCK (once per process)."""
    tried = False
    before: Optional[Tuple[int, int]] = None    # (soft, hard) before raising
    after: Optional[Tuple[int, int]] = None     # (soft, hard) after, or None if setrlimit failed
    error: Optional[OSError] = None


def _fmt_limit(value: int) -> str:
    return "unlimited" if value == _libc.RLIM_INFINITY else "%d bytes" % value


def _raise_memlock() -> bool:
    """Raise RLIMIT_MEMLOCK as far as allowed; True if it changed."""
    if _Memlock.tried:
        return False
    _Memlock.tried = True
    soft, hard = _Memlock.before = _libc.getrlimit(_libc.RLIMIT_MEMLOCK)
    if soft == _libc.RLIM_INFINITY:
        return False
    for new in ((_libc.RLIM_INFINITY, _libc.RLIM_INFINITY), (hard, hard)):
        try:
            _libc.setrlimit(_libc.RLIMIT_MEMLOCK, *new, call="setrlimit(RLIMIT_MEMLOCK)")
        except OSError as e:
            _Memlock.error = e
            continue
        _Memlock.after = new
        return new[0] != soft
    return False


def _memlock_hint() -> Optional[Tuple[str, bool]]:
    """(what RLIMIT_MEMLOCK is and what raising it did, whether it may be
    the cause), or None if pyxsk never looked (no EPERM yet from a call that
    old kernels charge to it)."""
    if _Memlock.before is None:
        return None
    soft, hard = _Memlock.before
    if soft == _libc.RLIM_INFINITY:
        return "RLIMIT_MEMLOCK is unlimited, so the memory limit is not the cause", False
    if _Memlock.after is not None and _Memlock.after[0] != soft:
        return ("RLIMIT_MEMLOCK was raised from %s to %s and the kernel still refused, so the "
                "memory limit is not the cause" % (_fmt_limit(soft), _fmt_limit(_Memlock.after[0])),
                False)
    if _Memlock.after is None:
        why = str(_Memlock.error)
    else:
        why = "it is the hard limit too, and going above that needs CAP_SYS_RESOURCE"
    return ("RLIMIT_MEMLOCK is %s and pyxsk could not raise it (%s); kernels before 5.11 "
            "charge BPF maps and programs to it: raise `ulimit -l`" % (_fmt_limit(soft), why), True)


def _eperm_hint(needs: _Needs) -> str:
    """The hint for EPERM from a call that needs ``needs`` = (what, names,
    alternative): the capability missing if one is; else what the memlock
    limit is, the other cause on kernels before 5.11."""
    what, needed, alternative = needs
    if capabilities.missing(needed, alternative):
        return capabilities.hint(what, needed, alternative)
    memlock = _memlock_hint()
    if memlock is None:
        return capabilities.hint(what, needed, alternative)
    text, suspect = memlock
    held = ", which this process holds" if suspect else capabilities.ELSEWHERE
    return "%s; %s" % (text, capabilities.hint(what, needed, alternative, held))


def _sys_bpf(cmd: int, attr: ctypes.Structure, call: str, hints: Optional[_Hints] = None,
             needs: Optional[_Needs] = None) -> int:
    """bpf(cmd, &attr, sizeof attr) -> result, raising SyscallError.

    EPERM from a command old kernels charge to RLIMIT_MEMLOCK raises the
    limit once and retries (see the module docstring).  ``needs`` is
    (what the call does, the capabilities it needs, one that stands in for
    all of them) for commands the kernel checks capabilities for; an EPERM
    then names the one missing."""
    ret, err = _libc.raw_bpf(cmd, attr)
    if ret < 0 and err == errno.EPERM and cmd in _MEMLOCK_CHARGED and _raise_memlock():
        ret, err = _libc.raw_bpf(cmd, attr)
    if ret >= 0:
        return ret
    if err == errno.EPERM and needs is not None:
        raise syscall_error(err, call, _eperm_hint(needs))
    raise syscall_error(err, call, (hints or {}).get(err))


def _obj_name(name: Optional[str], what: str) -> bytes:
    """The kernel's object name: up to 15 of [A-Za-z0-9_.] (else EINVAL)."""
    if name is None:
        return b""
    if not isinstance(name, str) or len(name) > MAX_NAME or not NAME_PATTERN.match(name):
        raise ConfigError("%s name %r: up to %d letters, digits, '_' or '.'" % (what, name, MAX_NAME))
    return name.encode()


def _info(fd: int, info: _Attr, call: str) -> _Attr:
    attr = k.bpf_attr_info(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    _sys_bpf(k.BPF_OBJ_GET_INFO_BY_FD, attr, call)
    return info


def _fd_of(obj: object, what: str) -> int:
    """The fd of ``obj`` (an fd or an object with fileno()); TypeError otherwise."""
    if isinstance(obj, int) and not isinstance(obj, bool):
        return obj
    fileno: Optional[Callable[[], int]] = getattr(obj, "fileno", None)
    if fileno is None:
        raise TypeError("%s must be an fd or have fileno(), not %s" % (what, type(obj).__name__))
    return fileno()


def _bpffs_path(path: Union[str, "os.PathLike[str]"], what: str) -> bytes:
    """A pin path as bytes: a str or path-like naming a file on a bpffs."""
    raw = os.fsencode(path)
    if not raw or b"\0" in raw:
        raise ConfigError("%s: a pin path is a non-empty path without NUL bytes, not %r" % (what, path))
    return raw


def obj_pin(fd: int, path: Union[str, "os.PathLike[str]"], what: str) -> None:
    """BPF_OBJ_PIN: make ``path`` (a new file on a bpffs mount) hold the map,
    program or link behind ``fd``; it lives until the file is unlinked."""
    raw = _bpffs_path(path, what)
    buf = ctypes.create_string_buffer(raw)
    attr = k.bpf_attr_obj(pathname=ctypes.addressof(buf), bpf_fd=fd)
    _sys_bpf(k.BPF_OBJ_PIN, attr, "bpf(BPF_OBJ_PIN, %s, %r)" % (what, os.fsdecode(raw)), {
        errno.EEXIST: "the path exists already: unlink it or pin elsewhere",
        errno.EPERM: "the directory is not on a bpffs mount (mount -t bpf bpf /sys/fs/bpf)",
        errno.ENOENT: "the directory does not exist",
    })


def obj_get(path: Union[str, "os.PathLike[str]"], flags: int = 0, what: str = "pinned object") -> int:
    """BPF_OBJ_GET: a new fd for what ``path`` (a bpffs file) holds."""
    raw = _bpffs_path(path, what)
    buf = ctypes.create_string_buffer(raw)
    attr = k.bpf_attr_obj(pathname=ctypes.addressof(buf), file_flags=flags)
    return _sys_bpf(k.BPF_OBJ_GET, attr, "bpf(BPF_OBJ_GET, %r)" % os.fsdecode(raw), {
        errno.ENOENT: "nothing is pinned at this path",
        errno.EACCES: "the path holds no pinned object: a directory, or a file outside a bpffs "
                      "mount (or its mode refuses this process)",
        errno.EINVAL: "flags the kernel does not take for what is pinned there (programs and "
                      "links open read-write only)",
        errno.EPERM: "bpf(2) is closed to this process (kernel.unprivileged_bpf_disabled: needs "
                     "CAP_BPF)",
    })


# What /proc/self/fd shows for the fds bpf(2) hands out (the anon inode
# names in kernel/bpf/syscall.c; bpftool tells them apart the same way).  A
# link is "bpf_link" as created, "bpf-link" from BPF_OBJ_GET or by id.
_FD_KINDS = {"anon_inode:bpf-map": "map", "anon_inode:bpf-prog": "program",
             "anon_inode:bpf_link": "link", "anon_inode:bpf-link": "link"}
_KINDS = ("map", "program", "link")


def fd_kind(fd: int) -> Optional[str]:
    """What ``fd`` holds: "map", "program", "link", or None for anything else."""
    return _FD_KINDS.get(os.readlink("/proc/self/fd/%d" % fd))


def obj_get_kind(path: Union[str, "os.PathLike[str]"], kind: str, flags: int = 0) -> int:
    """BPF_OBJ_GET of a pin that must hold a ``kind`` ("map", "program" or
    "link"): the kernel hands out an fd for whatever is pinned, so a map
    pinned where a program was meant raises ConfigError here (the fd closed)."""
    if kind not in _KINDS:
        raise ConfigError("kind must be one of %s, not %r" % (", ".join(_KINDS), kind))
    fd = obj_get(path, flags, "pinned " + kind)
    try:
        found = fd_kind(fd)
        if found != kind:
            raise ConfigError("%s holds %s, not a %s" % (os.fsdecode(path),
                              "a " + found if found else "no BPF object", kind))
    except BaseException:
        _libc.close(fd, call="close(pinned object %r)" % os.fsdecode(path))
        raise
    return fd


_Self = TypeVar("_Self", bound="_FdObject")


class _FdObject:
    """Owns one fd: idempotent close(), context manager, fileno(), [closed] repr."""

    _what = "bpf object"

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def fileno(self) -> int:
        if self._fd < 0:
            raise ValueError("%s is closed" % self._what)
        return self._fd

    @property
    def fd(self) -> int:
        return self.fileno()

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            _libc.close(fd, call="close(%s)" % self._what)

    def __enter__(self: _Self) -> _Self:
        self.fileno()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            warnings.warn("unclosed %r" % self, ResourceWarning, source=self)
            self.close()

    def pin(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """BPF_OBJ_PIN: keep this object alive at ``path`` on a bpffs mount
        after its fds close; remove the pin with ``os.unlink(path)``."""
        obj_pin(self.fileno(), path, self._what)

    def _state(self) -> str:
        return ""

    def __repr__(self) -> str:
        if self._fd < 0:
            return "<%s [closed]>" % type(self).__name__
        return "<%s fd=%d%s>" % (type(self).__name__, self._fd, self._state())
