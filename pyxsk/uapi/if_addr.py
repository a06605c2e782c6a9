"""include/uapi/linux/if_addr.h: interface addresses (RTM_NEWADDR and friends).

An address message is a ``struct ifaddrmsg`` followed by IFA_* attributes.
For IPv4, IFA_LOCAL is the interface's address and IFA_ADDRESS the peer's on
point-to-point links (the same otherwise); IPv6 uses only IFA_ADDRESS.
"""

from __future__ import annotations

import ctypes
import typing

if typing.TYPE_CHECKING:
    from . import Field

_u8, _u32 = ctypes.c_uint8, ctypes.c_uint32

IFA_UNSPEC = 0
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
IFA_BROADCAST = 4
IFA_ANYCAST = 5
IFA_CACHEINFO = 6
IFA_MULTICAST = 7
IFA_FLAGS = 8          # u32; when present it replaces ifaddrmsg.ifa_flags
IFA_RT_PRIORITY = 9
IFA_TARGET_NETNSID = 10
IFA_PROTO = 11

# ifa_flags
IFA_F_SECONDARY = 0x01
IFA_F_TEMPORARY = IFA_F_SECONDARY
IFA_F_NODAD = 0x02      # IPv6: skip duplicate address detection, usable at once
IFA_F_OPTIMISTIC = 0x04
IFA_F_DADFAILED = 0x08
IFA_F_HOMEADDRESS = 0x10
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40  # IPv6: DAD still running, the address cannot be used yet
IFA_F_PERMANENT = 0x80
IFA_F_MANAGETEMPADDR = 0x100
IFA_F_NOPREFIXROUTE = 0x200
IFA_F_MCAUTOJOIN = 0x400
IFA_F_STABLE_PRIVACY = 0x800


class ifaddrmsg(ctypes.Structure):
    _fields_ = [
        ("ifa_family", _u8),
        ("ifa_prefixlen", _u8),
        ("ifa_flags", _u8),
        ("ifa_scope", _u8),
        ("ifa_index", _u32),
    ]
    ifa_family: Field[ctypes.c_uint8, int]
    ifa_prefixlen: Field[ctypes.c_uint8, int]
    ifa_flags: Field[ctypes.c_uint8, int]
    ifa_scope: Field[ctypes.c_uint8, int]
    ifa_index: Field[ctypes.c_uint32, int]


class ifa_cacheinfo(ctypes.Structure):
    _fields_ = [
        ("ifa_prefered", _u32),
        ("ifa_valid", _u32),
        ("cstamp", _u32),   # hundredths of seconds since boot
        ("tstamp", _u32),
    ]
    ifa_prefered: Field[ctypes.c_uint32, int]
    ifa_valid: Field[ctypes.c_uint32, int]
    cstamp: Field[ctypes.c_uint32, int]
    tstamp: Field[ctypes.c_uint32, int]
