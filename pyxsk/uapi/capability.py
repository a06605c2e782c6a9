"""include/uapi/linux/capability.h: capability numbers and the capget(2) structures.

A capability set is a bit mask, bit N for capability N.  capget(2) with
version 3 fills two ``__user_cap_data_struct``: the first holds bits 0-31 of
each set, the second bits 32-63 (CAP_BPF, 39, is in the second).
"""

from __future__ import annotations

import ctypes
import typing

if typing.TYPE_CHECKING:
    from . import Field

_u32 = ctypes.c_uint32

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_LINUX_CAPABILITY_U32S_3 = 2

# the capabilities pyxsk's calls are checked against
CAP_DAC_OVERRIDE = 1
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAP_IPC_LOCK = 14
CAP_SYS_ADMIN = 21
CAP_SYS_RESOURCE = 24
CAP_PERFMON = 38       # 5.8
CAP_BPF = 39           # 5.8


class user_cap_header(ctypes.Structure):
    """struct __user_cap_header_struct: ``pid`` 0 is the calling thread."""
    _fields_ = [("version", _u32), ("pid", ctypes.c_int)]
    version: Field[ctypes.c_uint32, int]
    pid: Field[ctypes.c_int, int]


class user_cap_data(ctypes.Structure):
    """struct __user_cap_data_struct: 32 bits of each set."""
    _fields_ = [("effective", _u32), ("permitted", _u32), ("inheritable", _u32)]
    effective: Field[ctypes.c_uint32, int]
    permitted: Field[ctypes.c_uint32, int]
    inheritable: Field[ctypes.c_uint32, int]
