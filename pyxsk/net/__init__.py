"""rtnetlink without iproute2: links, XDP attach, veth pairs, addresses, namespaces.

The modules: :mod:`~pyxsk.net.netlink` (the socket, and plain functions that
encode and decode messages), :mod:`~pyxsk.net.link` (look up links, attach
and detach XDP, create veth pairs, add addresses, neighbours, routes) and
:mod:`~pyxsk.net.netns` (named and anonymous network namespaces, entering
them)::

    from pyxsk.net import link, netns

    netns.create("blue")
    a, b = link.add_veth("veth0", "veth1", peer_netns="blue")
    mode = link.attach_xdp("veth0", prog.fileno(), mode="auto")

Kernel refusals raise :class:`~pyxsk.errors.NetlinkError` (also the builtin
``OSError`` subclass for its errno) carrying the kernel's extended-ack text.
"""

from __future__ import annotations
