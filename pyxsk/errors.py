"""The exceptions pyxsk raises.

Two families, as the standard library does it:

* ``ValueError`` subclasses for bad input, raised *before* the kernel is
  asked anything (a ring size that is not a power of two, a frame longer than
  its chunk, an unknown label in an eBPF program).
* ``OSError`` subclasses for kernel refusals.  They are built from the errno,
  so a refused call that failed with EPERM is also a ``PermissionError``, one
  that failed with EAGAIN a ``BlockingIOError`` and so on; on top of that they
  carry the call that failed and, where pyxsk knows it, the likely cause.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import Any, Dict, Optional, Tuple, Type, TypeVar, cast, overload

__all__ = [
    "ConfigError", "AsmError", "ObjectError", "NetlinkDecodeError", "PcapError", "LedgerError",
    "UnsupportedPlatformError", "InheritedSocketError",
    "SyscallError", "VerifierError", "NetlinkError", "InterfaceGoneError", "syscall_error",
]


class ConfigError(ValueError):
    """A setting pyxsk can reject without asking the kernel."""


class AsmError(ValueError):
    """An eBPF program that cannot be assembled as written."""


class ObjectError(ConfigError):
    """A BPF object file (ELF, BTF) that is malformed, or holds something
    pyxsk does not support; the message names the section or record."""


class NetlinkDecodeError(ValueError):
    """Bytes that are not a well-formed netlink message."""


class PcapError(ValueError):
    """A file that is not a pcap capture pyxsk can read."""


class LedgerError(RuntimeError):
    """The UMEM ownership ledger found a chunk lost or in two places."""


class UnsupportedPlatformError(RuntimeError):
    """pyxsk cannot run safely on this machine (see ``pyxsk.ring``)."""


class InheritedSocketError(RuntimeError):
    """An AF_XDP socket used in a child process it was inherited by through
    fork(): its rings, UMEM and map slot belong to the parent, which goes on
    using them.  The child may only close it (that releases the child's
    copies of the fds and mappings, nothing of the parent's)."""


class SyscallError(OSError):
    """A system call the kernel refused.

    ``errno`` and ``strerror`` are those of ``OSError``; ``call`` names what
    pyxsk asked for (``"bind(AF_XDP veth0 queue 0)"``) and ``hint`` says what
    usually causes this errno for this call, or is None.
    """

    errno: int              # always set: every constructor takes the errno first
    call: str
    hint: Optional[str]

    def __init__(self, err: int, strerror: Optional[str] = None, call: str = "",
                 hint: Optional[str] = None) -> None:
        super().__init__(err, strerror if strerror is not None else os.strerror(err))
        self.call = call
        self.hint = hint

    def __str__(self) -> str:
        text = "%s failed: [Errno %d %s] %s" % (
            self.call or "system call", self.errno,
            _errno.errorcode.get(self.errno, "?"), self.strerror)
        if self.hint:
            text += " (%s)" % self.hint
        return text


class VerifierError(SyscallError):
    """BPF_PROG_LOAD refused a program; ``log`` holds the verifier's words."""

    log: str

    def __init__(self, err: int, strerror: Optional[str] = None, call: str = "",
                 hint: Optional[str] = None, log: str = "") -> None:
        super().__init__(err, strerror, call, hint)
        self.log = log

    def __str__(self) -> str:
        text = super().__str__()
        if self.log:
            text += "\nverifier log:\n" + self.log.rstrip()
        return text


class NetlinkError(SyscallError):
    """The kernel answered a netlink request with an error.

    ``message`` is the extended-ack text (NLMSGERR_ATTR_MSG) and ``offset`` the
    byte offset of the offending attribute (NLMSGERR_ATTR_OFFS), when the
    kernel sent them; otherwise None.
    """

    message: Optional[str]
    offset: Optional[int]

    def __init__(self, err: int, strerror: Optional[str] = None, call: str = "",
                 hint: Optional[str] = None, message: Optional[str] = None,
                 offset: Optional[int] = None) -> None:
        super().__init__(err, strerror, call, hint)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        text = super().__str__()
        if self.message:
            text += ": kernel says %r" % self.message
        if self.offset is not None:
            text += " (at byte %d)" % self.offset
        return text


class InterfaceGoneError(SyscallError):
    """The interface an AF_XDP socket was bound to has been deleted.

    The kernel's netdev notifier unbinds every socket of a vanishing device
    and sets its ``SO_ERROR`` to ENETDOWN, but AF_XDP's poll reports no event
    for it: pyxsk notices it while waiting and raises this (errno ENETDOWN)
    from every blocking or looping call.  ``interface`` names the device.
    """

    interface: Optional[str]

    def __init__(self, err: int, strerror: Optional[str] = None, call: str = "",
                 hint: Optional[str] = None, interface: Optional[str] = None) -> None:
        super().__init__(err, strerror, call, hint)
        self.interface = interface

    def __str__(self) -> str:
        text = "interface %s is gone: it was deleted under the socket" % (
            self.interface if self.interface is not None else "?")
        if self.call:
            text += " (noticed in %s)" % self.call
        return text


_E = TypeVar("_E", bound=SyscallError)

_mixed_classes: Dict[Tuple[Type[SyscallError], Type[OSError]], Type[SyscallError]] = {}


def _with_builtin(base: Type[_E], err: int) -> Type[_E]:
    """``base`` mixed with the OSError subclass Python picks for ``err``."""
    builtin = type(OSError(err, ""))
    if builtin is OSError:
        return base
    key = (base, builtin)
    cls = _mixed_classes.get(key)
    if cls is None:
        name = "%s(%s)" % (base.__name__, builtin.__name__)
        cls = type(name, (base, builtin), {"__module__": __name__, "__qualname__": name})
        _mixed_classes[key] = cls
    # cast: the class stored under (base, ...) is a subclass of base
    return cast(Type[_E], cls)


@overload
def syscall_error(err: int, call: str, hint: Optional[str] = None) -> SyscallError: ...
@overload
def syscall_error(err: int, call: str, hint: Optional[str] = None, *,
                  cls: Type[VerifierError], log: str = ...) -> VerifierError: ...
@overload
def syscall_error(err: int, call: str, hint: Optional[str] = None, *,
                  cls: Type[NetlinkError], message: Optional[str] = ...,
                  offset: Optional[int] = ...) -> NetlinkError: ...
@overload
def syscall_error(err: int, call: str, hint: Optional[str] = None, *,
                  cls: Type[InterfaceGoneError], interface: Optional[str] = ...
                  ) -> InterfaceGoneError: ...
@overload
def syscall_error(err: int, call: str, hint: Optional[str] = None, *, cls: Type[_E]) -> _E: ...


def syscall_error(err: int, call: str, hint: Optional[str] = None,
                  cls: Type[SyscallError] = SyscallError, **extra: Any) -> SyscallError:
    """Build the exception for a failed call: ``cls`` plus the builtin subclass.

    ``syscall_error(errno.EPERM, "bpf(BPF_PROG_LOAD)")`` is both a
    ``SyscallError`` and a ``PermissionError``.
    """
    return _with_builtin(cls, err)(err, os.strerror(err), call, hint, **extra)
