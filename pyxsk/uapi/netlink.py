"""include/uapi/linux/netlink.h: the netlink message and attribute framing.

Every netlink datagram is a run of messages, each a ``nlmsghdr`` followed by
a payload padded to ``NLMSG_ALIGNTO``; rtnetlink payloads are a family header
(``ifinfomsg``, ``ifaddrmsg``, ...) followed by ``nlattr`` type-length-value
attributes, each padded to ``NLA_ALIGNTO``.  Names are the kernel's; the
tests compare every value and layout with gcc on the installed headers and
with the running kernel's BTF.
"""

from __future__ import annotations

import ctypes
import typing

if typing.TYPE_CHECKING:
    from . import Field

_u8, _u16, _u32, _s32 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_int32

# include/linux/socket.h (not UAPI, fixed since 2.6.14): setsockopt level
SOL_NETLINK = 270

# protocols (the third argument of socket(AF_NETLINK, SOCK_RAW, ...))
NETLINK_ROUTE = 0
NETLINK_GENERIC = 16

# nlmsg_flags of every request
NLM_F_REQUEST = 0x01        # a request, not a notification
NLM_F_MULTI = 0x02          # part of a multipart answer ended by NLMSG_DONE
NLM_F_ACK = 0x04            # answer with an NLMSG_ERROR (error 0 on success)
NLM_F_ECHO = 0x08
NLM_F_DUMP_INTR = 0x10      # the dump changed under us: it may be inconsistent
NLM_F_DUMP_FILTERED = 0x20

# ... of GET requests
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_ATOMIC = 0x400
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH

# ... of NEW requests
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_APPEND = 0x800

# ... of DELETE requests
NLM_F_NONREC = 0x100
NLM_F_BULK = 0x200

# ... of NLMSG_ERROR answers
NLM_F_CAPPED = 0x100        # the request was not echoed back, only its header
NLM_F_ACK_TLVS = 0x200      # extended-ack attributes follow

# control message types (below NLMSG_MIN_TYPE)
NLMSG_NOOP = 0x1
NLMSG_ERROR = 0x2
NLMSG_DONE = 0x3
NLMSG_OVERRUN = 0x4
NLMSG_MIN_TYPE = 0x10

NLMSG_ALIGNTO = 4

# socket options (level SOL_NETLINK)
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_DROP_MEMBERSHIP = 2
NETLINK_PKTINFO = 3
NETLINK_BROADCAST_ERROR = 4
NETLINK_NO_ENOBUFS = 5
NETLINK_LISTEN_ALL_NSID = 8
NETLINK_LIST_MEMBERSHIPS = 9
NETLINK_CAP_ACK = 10        # do not echo the request back in errors
NETLINK_EXT_ACK = 11        # add the NLMSGERR_ATTR_* attributes to errors (4.12)
NETLINK_GET_STRICT_CHK = 12  # strict checking of GET requests (4.20)

# enum nlmsgerr_attrs: the extended-ack attributes after an NLMSG_ERROR
NLMSGERR_ATTR_UNUSED = 0
NLMSGERR_ATTR_MSG = 1        # string: what the kernel objects to
NLMSGERR_ATTR_OFFS = 2       # u32: byte offset of the offending attribute
NLMSGERR_ATTR_COOKIE = 3
NLMSGERR_ATTR_POLICY = 4
NLMSGERR_ATTR_MISS_TYPE = 5  # u32: type of a missing required attribute
NLMSGERR_ATTR_MISS_NEST = 6  # u32: offset of the nest it was missing from
NLMSGERR_ATTR_MAX = NLMSGERR_ATTR_MISS_NEST

# nla_type bits
NLA_F_NESTED = 1 << 15
NLA_F_NET_BYTEORDER = 1 << 14
NLA_TYPE_MASK = 0xFFFF & ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER)

NLA_ALIGNTO = 4


class sockaddr_nl(ctypes.Structure):
    _fields_ = [
        ("nl_family", ctypes.c_ushort),   # AF_NETLINK
        ("nl_pad", ctypes.c_ushort),
        ("nl_pid", _u32),                  # port id; 0 is the kernel
        ("nl_groups", _u32),               # multicast groups mask
    ]
    nl_family: Field[ctypes.c_ushort, int]
    nl_pad: Field[ctypes.c_ushort, int]
    nl_pid: Field[ctypes.c_uint32, int]
    nl_groups: Field[ctypes.c_uint32, int]


class nlmsghdr(ctypes.Structure):
    _fields_ = [
        ("nlmsg_len", _u32),     # length of the message including this header
        ("nlmsg_type", _u16),
        ("nlmsg_flags", _u16),
        ("nlmsg_seq", _u32),
        ("nlmsg_pid", _u32),     # sending port id
    ]
    nlmsg_len: Field[ctypes.c_uint32, int]
    nlmsg_type: Field[ctypes.c_uint16, int]
    nlmsg_flags: Field[ctypes.c_uint16, int]
    nlmsg_seq: Field[ctypes.c_uint32, int]
    nlmsg_pid: Field[ctypes.c_uint32, int]


class nlmsgerr(ctypes.Structure):
    """The payload of NLMSG_ERROR: a negative errno (0 for an ack) and the
    header of the request it answers; then, unless NLM_F_CAPPED, the rest of
    the request; then, with NLM_F_ACK_TLVS, the NLMSGERR_ATTR_* attributes."""
    _fields_ = [("error", ctypes.c_int), ("msg", nlmsghdr)]
    error: Field[ctypes.c_int, int]
    msg: Field[nlmsghdr, nlmsghdr]


class nlattr(ctypes.Structure):
    _fields_ = [("nla_len", _u16), ("nla_type", _u16)]
    nla_len: Field[ctypes.c_uint16, int]
    nla_type: Field[ctypes.c_uint16, int]


NLMSG_HDRLEN = ctypes.sizeof(nlmsghdr)   # already a multiple of NLMSG_ALIGNTO
NLA_HDRLEN = ctypes.sizeof(nlattr)       # already a multiple of NLA_ALIGNTO
