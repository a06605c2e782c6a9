"""include/uapi/linux/veth.h: the one veth-specific link attribute.

A veth NEWLINK request puts, inside IFLA_LINKINFO / IFLA_INFO_DATA, a
VETH_INFO_PEER attribute whose payload is a ``struct ifinfomsg`` followed by
the peer's own IFLA_* attributes (name, queues, IFLA_NET_NS_FD, ...).
"""

from __future__ import annotations

VETH_INFO_UNSPEC = 0
VETH_INFO_PEER = 1
VETH_INFO_MAX = VETH_INFO_PEER
