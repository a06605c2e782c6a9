"""pyxsk: Linux AF_XDP sockets from pure Python.

Everything goes through ctypes into libc: the AF_XDP socket and its rings
(:mod:`pyxsk.xsk`, :mod:`pyxsk.umem`, :mod:`pyxsk.ring`), eBPF assembly and
bpf(2) (:mod:`pyxsk.bpf.asm`, :mod:`pyxsk.bpf`, :mod:`pyxsk.bpf.xdp`) and
rtnetlink (:mod:`pyxsk.net.netlink`, :mod:`pyxsk.net.link`).  Importing pyxsk loads
nothing else: the names below are imported on first use (so that the
command line can take over Ctrl-C before anything heavy is imported).

    with pyxsk.XskSocket("veth1", queue=0) as xsk:   # program, map, attach, rings
        for frame in xsk.recv(64, timeout=1.0):       # memoryviews into UMEM
            ...
        xsk.send([frame1, frame2])
"""

from __future__ import annotations

__version__ = "0.1.0"

TYPE_CHECKING = False        # mypy takes it as True; typing is not imported at run time

if TYPE_CHECKING:
    from typing import List

    from .errors import (AsmError, ConfigError, InheritedSocketError, InterfaceGoneError, LedgerError,
                         NetlinkDecodeError, NetlinkError, ObjectError, PcapError, SyscallError,
                         UnsupportedPlatformError, VerifierError)
    from .frames import Batch
    from .umem import Umem
    from .xsk import Socket, XdpOptions, XdpStatistics
    from .xsksocket import XskSocket

_WHERE = {
    "XskSocket": "xsksocket", "Socket": "xsk", "XdpOptions": "xsk", "XdpStatistics": "xsk",
    "Umem": "umem", "Batch": "frames",
    "ConfigError": "errors", "AsmError": "errors", "NetlinkDecodeError": "errors",
    "PcapError": "errors", "LedgerError": "errors", "UnsupportedPlatformError": "errors",
    "SyscallError": "errors", "VerifierError": "errors", "NetlinkError": "errors",
    "InterfaceGoneError": "errors", "InheritedSocketError": "errors", "ObjectError": "errors",
}

__all__ = [
    "XskSocket", "Socket", "Umem", "Batch", "XdpStatistics", "XdpOptions",
    "ConfigError", "AsmError", "NetlinkDecodeError", "PcapError", "LedgerError",
    "UnsupportedPlatformError", "SyscallError", "VerifierError", "NetlinkError",
    "InterfaceGoneError", "InheritedSocketError", "ObjectError",
]


def __getattr__(name: str) -> object:
    """``pyxsk.XskSocket`` and the other public names, imported on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    import importlib
    value = getattr(importlib.import_module("." + module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_WHERE))
