"""include/uapi/linux/neighbour.h: neighbour (ARP / NDP) table entries.

A neighbour message is a ``struct ndmsg`` followed by NDA_* attributes.  A
NUD_PERMANENT entry maps an IP address to a MAC address for good, so traffic
flows without ARP or neighbour discovery.
"""

from __future__ import annotations

import ctypes
import typing

if typing.TYPE_CHECKING:
    from . import Field

NDA_UNSPEC = 0
NDA_DST = 1
NDA_LLADDR = 2
NDA_CACHEINFO = 3
NDA_PROBES = 4
NDA_VLAN = 5
NDA_PORT = 6
NDA_VNI = 7
NDA_IFINDEX = 8
NDA_MASTER = 9
NDA_LINK_NETNSID = 10
NDA_SRC_VNI = 11
NDA_PROTOCOL = 12

# ndm_state
NUD_NONE = 0x00
NUD_INCOMPLETE = 0x01
NUD_REACHABLE = 0x02
NUD_STALE = 0x04
NUD_DELAY = 0x08
NUD_PROBE = 0x10
NUD_FAILED = 0x20
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80

# ndm_flags
NTF_USE = 1 << 0
NTF_SELF = 1 << 1
NTF_MASTER = 1 << 2
NTF_PROXY = 1 << 3
NTF_EXT_LEARNED = 1 << 4
NTF_OFFLOADED = 1 << 5
NTF_STICKY = 1 << 6
NTF_ROUTER = 1 << 7


class ndmsg(ctypes.Structure):
    _fields_ = [
        ("ndm_family", ctypes.c_uint8),
        ("ndm_pad1", ctypes.c_uint8),
        ("ndm_pad2", ctypes.c_uint16),
        ("ndm_ifindex", ctypes.c_int32),
        ("ndm_state", ctypes.c_uint16),   # NUD_*
        ("ndm_flags", ctypes.c_uint8),    # NTF_*
        ("ndm_type", ctypes.c_uint8),
    ]
    ndm_family: Field[ctypes.c_uint8, int]
    ndm_pad1: Field[ctypes.c_uint8, int]
    ndm_pad2: Field[ctypes.c_uint16, int]
    ndm_ifindex: Field[ctypes.c_int32, int]
    ndm_state: Field[ctypes.c_uint16, int]
    ndm_flags: Field[ctypes.c_uint8, int]
    ndm_type: Field[ctypes.c_uint8, int]
