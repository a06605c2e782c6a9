"""pyxsk: Linux AF_XDP sockets from pure Python.

Everything goes through ctypes into libc: the AF_XDP socket and its rings
(:mod:`pyxsk.xsk`, :mod:`pyxsk.umem`, :mod:`pyxsk.ring`), eBPF assembly and
bpf(2) (:mod:`pyxsk.asm`, :mod:`pyxsk.bpf`, :mod:`pyxsk.programs`) and
rtnetlink (:mod:`pyxsk.netlink`, :mod:`pyxsk.link`).  Importing pyxsk loads
libc and nothing else happens until you ask.

    with pyxsk.XskSocket("veth1", queue=0) as xsk:   # program, map, attach, rings
        for frame in xsk.recv(64, timeout=1.0):       # memoryviews into UMEM
            ...
        xsk.send([frame1, frame2])
"""

__version__ = "0.1.0"

from .errors import (AsmError, ConfigError, InheritedSocketError, InterfaceGoneError,  # noqa: E402
                     LedgerError, NetlinkDecodeError, NetlinkError, PcapError, SyscallError,
                     UnsupportedPlatformError, VerifierError)
from .frames import Batch  # noqa: E402
from .umem import Umem  # noqa: E402
from .xsk import Socket, XdpOptions, XdpStatistics  # noqa: E402
from .xsksocket import XskSocket  # noqa: E402

__all__ = [
    "XskSocket", "Socket", "Umem", "Batch", "XdpStatistics", "XdpOptions",
    "ConfigError", "AsmError", "NetlinkDecodeError", "PcapError", "LedgerError",
    "UnsupportedPlatformError", "SyscallError", "VerifierError", "NetlinkError",
    "InterfaceGoneError", "InheritedSocketError",
]
