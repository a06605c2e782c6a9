"""Network namespaces, the iproute2 way, without iproute2.

A named namespace is a bind mount of a namespace file on /run/netns/NAME, so
``ip netns`` and ``ip -n NAME`` see the ones pyxsk makes and pyxsk can enter the
ones ``ip netns add`` made.  Entering one changes only the calling thread
(setns(2) on a network namespace is per thread); sockets keep the namespace
they were created in, so the usual pattern is: enter, create the socket,
leave (:class:`pyxsk.net.netlink.NetlinkSocket` takes ``netns=`` and does that).
setns(2) needs CAP_SYS_ADMIN, also to "enter" the namespace a thread is
already in, so pyxsk skips it there: with only CAP_NET_ADMIN, CAP_NET_RAW and
CAP_BPF, passing one's own namespace (as an fd, a path or a name) works.

Wherever a namespace is expected, pyxsk accepts its name (under
/run/netns), a path to a namespace file (``/proc/PID/ns/net``) or an open
file descriptor of one.  An anonymous namespace (:func:`create_anonymous`)
has no name: it lives as long as its fd (or something inside it) does.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from typing import Any, Callable, Iterator, List, Optional, Tuple, TypeVar, Union, cast

from .. import _libc, capabilities
from ..errors import SyscallError, syscall_error

_T = TypeVar("_T")

# a namespace name (under /run/netns), a path to a namespace file, or an open fd of one
Netns = Union[str, int]

NETNS_RUN_DIR = "/run/netns"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")

_SELF_NS = "/proc/thread-self/ns/net"

# unshare(2), mount(2), umount2(2) and setns(2) want CAP_SYS_ADMIN; an EPERM
# from them says what was being done and whether the process lacks it.
_CREATING = "creating a network namespace"
_MOUNTING = "a named namespace is a mount on %s, and mounting" % NETNS_RUN_DIR
_ENTERING = "entering another network namespace"
_ENTER_INSTEAD = ("; without it, start the process inside the namespace "
                  "(ip netns exec NAME ...) and leave netns= out")
_RUN_DIR_HINT = "%s belongs to root: writing there needs root or CAP_DAC_OVERRIDE" % NETNS_RUN_DIR


def _path(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name in (".", ".."):
        raise ValueError("%r is not a valid namespace name (letters, digits, '_', '.', '-')" % (name,))
    return os.path.join(NETNS_RUN_DIR, name)


def _as_admin(what: str, func: Callable[..., _T], *args: object, advice: str = "",
              **kwargs: object) -> _T:
    """``func(*args, **kwargs)``, a _libc call the kernel allows only with
    CAP_SYS_ADMIN: its EPERM names that capability (and ``advice``)."""
    try:
        return func(*args, **kwargs)
    except SyscallError as e:
        if e.errno == errno.EPERM:
            e.hint = capabilities.hint(what, ("CAP_SYS_ADMIN",)) + advice
        raise


def _in_run_dir(func: Callable[..., _T], *args: object, call: str) -> _T:
    """``func(*args)`` on a file of /run/netns; a refusal (EACCES, EPERM)
    says whose directory it is."""
    try:
        return func(*args)
    except PermissionError as e:
        # cast: the os functions always set errno on what they raise
        raise syscall_error(cast(int, e.errno), call, _RUN_DIR_HINT) from None


def _ensure_run_dir() -> None:
    """/run/netns as a shared mount point, as ``ip netns add`` leaves it."""
    _in_run_dir(os.makedirs, NETNS_RUN_DIR, 0o755, True, call="mkdir(%s)" % NETNS_RUN_DIR)
    try:
        _as_admin(_MOUNTING, _libc.mount, "", NETNS_RUN_DIR, "none", _libc.MS_SHARED | _libc.MS_REC,
                  call="mount(--make-rshared /run/netns)")
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
        # not a mount point yet: bind it onto itself, then make it shared
        _as_admin(_MOUNTING, _libc.mount, NETNS_RUN_DIR, NETNS_RUN_DIR, "none",
                  _libc.MS_BIND | _libc.MS_REC, call="mount(--bind /run/netns)")
        _as_admin(_MOUNTING, _libc.mount, "", NETNS_RUN_DIR, "none", _libc.MS_SHARED | _libc.MS_REC,
                  call="mount(--make-rshared /run/netns)")


def _target_path(netns: Netns) -> Optional[str]:
    """The file to open for ``netns``: a name, a path, or None for an fd."""
    if isinstance(netns, int) and not isinstance(netns, bool):
        return None
    if isinstance(netns, str) and netns.startswith("/"):
        return netns
    return _path(netns)


def open_current() -> int:
    """An fd of the calling thread's network namespace (close it when done):
    what a socket keeps to talk to its interface's namespace later, from
    any thread."""
    return os.open(_SELF_NS, os.O_RDONLY | os.O_CLOEXEC)


def open_fd(netns: Netns) -> int:
    """A new O_CLOEXEC file descriptor of namespace ``netns`` (name, path or
    fd); the caller closes it.  The kernel wants such an fd in IFLA_NET_NS_FD
    to move a link, and in setns(2)."""
    path = _target_path(netns)
    if path is None:
        return os.dup(cast(int, netns))      # cast: only an fd has no path
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "no network namespace %r" % (netns,), path) from None


def exists(name: str) -> bool:
    return os.path.exists(_path(name))


def names() -> List[str]:
    """The named namespaces under /run/netns."""
    try:
        return sorted(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return []


def create(name: str) -> None:
    """Create the named namespace ``name``; FileExistsError if it is taken."""
    path = _path(name)
    _ensure_run_dir()
    fd = _in_run_dir(os.open, path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444,
                     call="open(%s, O_CREAT)" % path)
    os.close(fd)
    own = open_current()
    try:
        try:
            _as_admin(_CREATING, _libc.unshare, _libc.CLONE_NEWNET, call="unshare(CLONE_NEWNET)")
            try:
                _as_admin(_MOUNTING, _libc.mount, _SELF_NS, path, "none", _libc.MS_BIND,
                          call="mount(--bind %s)" % path)
            finally:
                _libc.setns(own, _libc.CLONE_NEWNET, call="setns(back to the original namespace)")
        except BaseException:
            os.unlink(path)
            raise
    finally:
        os.close(own)


def create_anonymous() -> int:
    """A new network namespace with no name; returns an fd of it (close it
    when done: the namespace dies with its last reference).  Only the calling
    thread passes through it, and only for the duration of this call."""
    own = open_current()
    try:
        _as_admin(_CREATING, _libc.unshare, _libc.CLONE_NEWNET, call="unshare(CLONE_NEWNET)")
        try:
            return open_current()
        finally:
            _libc.setns(own, _libc.CLONE_NEWNET, call="setns(back to the original namespace)")
    finally:
        os.close(own)


def delete(name: str) -> None:
    """Remove the named namespace (it dies with its last user)."""
    path = _path(name)
    _as_admin(_MOUNTING, _libc.umount2, path, _libc.MNT_DETACH, call="umount2(%s)" % path,
              hints={errno.EINVAL: "not a namespace mount"})
    _in_run_dir(os.unlink, path, call="unlink(%s)" % path)


def _identity(stat_result: os.stat_result) -> Tuple[int, int]:
    """(st_dev, st_ino): nsfs gives each namespace one inode, so two fds or
    paths name the same namespace exactly when these are equal (what
    ``ip netns identify`` compares)."""
    return stat_result.st_dev, stat_result.st_ino


def is_current(fd: int) -> bool:
    """True if namespace fd ``fd`` is the calling thread's network namespace."""
    return _identity(os.fstat(fd)) == _identity(os.stat(_SELF_NS))


@contextlib.contextmanager
def entered(netns: Netns) -> Iterator[None]:
    """Run the ``with`` body in network namespace ``netns`` (this thread only).

    ``netns`` may be a namespace name, a path to a namespace file
    (``/proc/PID/ns/net``) or an open namespace fd (which stays open).  The
    original namespace is restored on exit, also when the body raises.

    setns(2) wants CAP_SYS_ADMIN even for the namespace the thread is
    already in, so that case skips it: code holding only CAP_NET_ADMIN,
    CAP_NET_RAW and CAP_BPF can still pass its own namespace here.
    """
    target = open_fd(netns)
    try:
        if is_current(target):
            yield
        else:
            with _switched_to(target, netns):
                yield
    finally:
        os.close(target)


@contextlib.contextmanager
def _switched_to(target: int, netns: Netns) -> Iterator[None]:
    """setns(2) into namespace fd ``target`` and back on exit."""
    own = open_current()
    try:
        what = "fd %d" % netns if isinstance(netns, int) else netns
        _as_admin(_ENTERING, _libc.setns, target, _libc.CLONE_NEWNET, call="setns(%s)" % (what,),
                  hints={errno.EINVAL: "%s is not a network namespace" % (what,)},
                  advice=_ENTER_INSTEAD)
        try:
            yield
        finally:
            _as_admin(_ENTERING, _libc.setns, own, _libc.CLONE_NEWNET,
                      call="setns(back to the original namespace)")
    finally:
        os.close(own)


def run_in(netns: Netns, func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``func(*args, **kwargs)`` called inside ``netns`` (this thread), its
    result returned.  Sockets it creates stay in that namespace."""
    with entered(netns):
        return func(*args, **kwargs)
