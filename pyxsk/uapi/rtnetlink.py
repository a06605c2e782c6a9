"""include/uapi/linux/rtnetlink.h: rtnetlink message types and ``ifinfomsg``.

rtnetlink (protocol NETLINK_ROUTE) manages links, addresses, routes and
neighbours.  Message types come in NEW/DEL/GET/SET groups of four starting at
RTM_BASE; a link message carries a ``struct ifinfomsg`` then IFLA_*
attributes (:mod:`pyxsk.uapi.if_link`).
"""

import ctypes

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
