"""include/uapi/linux/rtnetlink.h: rtnetlink message types and ``ifinfomsg``.

rtnetlink (protocol NETLINK_ROUTE) manages links, addresses, routes and
neighbours.  Message types come in NEW/DEL/GET/SET groups of four starting at
RTM_BASE; a link message carries a ``struct ifinfomsg`` then IFLA_*
attributes (:mod:`pyxsk.uapi.if_link`), a route message a ``struct rtmsg``
then RTA_* attributes.
"""

from __future__ import annotations

import ctypes
import typing

if typing.TYPE_CHECKING:
    from . import Field

RTM_BASE = 16
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_SETLINK = 19
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RTM_NEWNEIGH = 28
RTM_DELNEIGH = 29
RTM_GETNEIGH = 30

# IFLA_EXT_MASK values: what a link dump should add or leave out
RTEXT_FILTER_VF = 1 << 0
RTEXT_FILTER_BRVLAN = 1 << 1
RTEXT_FILTER_BRVLAN_COMPRESSED = 1 << 2
RTEXT_FILTER_SKIP_STATS = 1 << 3

# rtm_type
RTN_UNSPEC = 0
RTN_UNICAST = 1         # a gateway or direct route
RTN_LOCAL = 2           # an address of this host: packets to it are received
RTN_BROADCAST = 3
RTN_ANYCAST = 4
RTN_MULTICAST = 5
RTN_BLACKHOLE = 6
RTN_UNREACHABLE = 7
RTN_PROHIBIT = 8
RTN_THROW = 9
RTN_NAT = 10
RTN_XRESOLVE = 11

# rtm_table
RT_TABLE_UNSPEC = 0
RT_TABLE_MAIN = 254
RT_TABLE_LOCAL = 255

# route attributes
RTA_UNSPEC = 0
RTA_DST = 1
RTA_SRC = 2
RTA_IIF = 3
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_PREFSRC = 7
RTA_METRICS = 8
RTA_MULTIPATH = 9
RTA_FLOW = 11
RTA_CACHEINFO = 12
RTA_TABLE = 15
RTA_MARK = 16
RTA_PREF = 20
RTA_UID = 25

# rtm_scope / ifa_scope
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_SITE = 200
RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254
RT_SCOPE_NOWHERE = 255


class ifinfomsg(ctypes.Structure):
    _fields_ = [
        ("ifi_family", ctypes.c_ubyte),
        ("__ifi_pad", ctypes.c_ubyte),
        ("ifi_type", ctypes.c_ushort),    # ARPHRD_*
        ("ifi_index", ctypes.c_int),      # 0 in a NEWLINK request: the kernel picks
        ("ifi_flags", ctypes.c_uint),     # IFF_*
        ("ifi_change", ctypes.c_uint),    # which IFF_* bits a SETLINK changes
    ]
    ifi_family: Field[ctypes.c_ubyte, int]
    ifi_type: Field[ctypes.c_ushort, int]
    ifi_index: Field[ctypes.c_int, int]
    ifi_flags: Field[ctypes.c_uint, int]
    ifi_change: Field[ctypes.c_uint, int]


class rtmsg(ctypes.Structure):
    _fields_ = [
        ("rtm_family", ctypes.c_ubyte),
        ("rtm_dst_len", ctypes.c_ubyte),
        ("rtm_src_len", ctypes.c_ubyte),
        ("rtm_tos", ctypes.c_ubyte),
        ("rtm_table", ctypes.c_ubyte),     # RT_TABLE_*; RTA_TABLE holds ids above 255
        ("rtm_protocol", ctypes.c_ubyte),
        ("rtm_scope", ctypes.c_ubyte),
        ("rtm_type", ctypes.c_ubyte),      # RTN_*
        ("rtm_flags", ctypes.c_uint),
    ]
    rtm_family: Field[ctypes.c_ubyte, int]
    rtm_dst_len: Field[ctypes.c_ubyte, int]
    rtm_src_len: Field[ctypes.c_ubyte, int]
    rtm_tos: Field[ctypes.c_ubyte, int]
    rtm_table: Field[ctypes.c_ubyte, int]
    rtm_protocol: Field[ctypes.c_ubyte, int]
    rtm_scope: Field[ctypes.c_ubyte, int]
    rtm_type: Field[ctypes.c_ubyte, int]
    rtm_flags: Field[ctypes.c_uint, int]
