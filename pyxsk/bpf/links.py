"""XDP through BPF links (BPF_LINK_CREATE, Linux 5.9): an attachment the
kernel removes when the link's last fd closes -- also when the process
dies."""

from __future__ import annotations

import errno
from typing import Dict, NamedTuple, Optional, Union

from .. import _libc
from ..errors import ConfigError
from ..uapi import bpf as k
from ..uapi import if_link as _ifla
from .syscall import FdLike, _FdObject, _fd_of, _info, _sys_bpf


class LinkInfo(NamedTuple):
    """BPF_OBJ_GET_INFO_BY_FD's answer for a link (``ifindex`` None unless it is an XDP link)."""
    id: int
    type: int
    prog_id: int
    ifindex: Optional[int]


def _ifindex(interface: Union[str, int]) -> int:
    if isinstance(interface, str):
        return _libc.if_nametoindex(interface)
    if isinstance(interface, bool) or not isinstance(interface, int) or interface <= 0:
        raise ConfigError("interface must be a name or a positive ifindex, not %r" % (interface,))
    return interface


_MODE_NAMES: Dict[int, str] = {_ifla.XDP_FLAGS_SKB_MODE: "skb", _ifla.XDP_FLAGS_DRV_MODE: "drv",
                               _ifla.XDP_FLAGS_HW_MODE: "hw", 0: "auto"}


def link_xdp(prog: FdLike, interface: Union[str, int], flags: int) -> Link:
    """BPF_LINK_CREATE with attach_type BPF_XDP: attach ``prog`` to
    ``interface`` (name or ifindex) and return the :class:`Link` that holds it.

    ``flags`` is one mode: XDP_FLAGS_SKB_MODE (generic), XDP_FLAGS_DRV_MODE
    (native) or XDP_FLAGS_HW_MODE, or 0 to let the kernel choose (veth then
    picks native).  Closing the link detaches the program; a link cannot
    replace a program attached through netlink (EBUSY/EEXIST).
    """
    if flags & ~_ifla.XDP_FLAGS_MODES or flags not in _MODE_NAMES:
        raise ConfigError("XDP link flags must be one of XDP_FLAGS_SKB_MODE, XDP_FLAGS_DRV_MODE, "
                          "XDP_FLAGS_HW_MODE or 0, not %#x" % flags)
    ifindex = _ifindex(interface)
    prog_fd = _fd_of(prog, "prog")
    attr = k.bpf_attr_link_create(prog_fd=prog_fd, target_ifindex=ifindex, attach_type=k.BPF_XDP,
                                  flags=flags)
    call = "bpf(BPF_LINK_CREATE, BPF_XDP, ifindex %d, %s mode)" % (ifindex, _MODE_NAMES[flags])
    hints = {
        errno.EBUSY: "an XDP program is already attached to this interface (by netlink or "
                     "another link) in this mode; detach it first",
        errno.EEXIST: "an XDP program is attached in the other mode (native and generic "
                      "cannot be active at the same time)",
        errno.EINVAL: "no interface has this index, or the program is not an XDP program",
        errno.ENODEV: "no interface has this index in this network namespace",
        errno.EOPNOTSUPP: "the driver does not support this XDP mode",
        errno.ENOSPC: "veth: native XDP needs the peer's tx queues <= this end's rx queues",
        errno.ERANGE: "the MTU is too large for native XDP on this device",
    }
    fd = _sys_bpf(k.BPF_LINK_CREATE, attr, call, hints)
    return Link(fd, ifindex, _MODE_NAMES[flags])


class Link(_FdObject):
    """A BPF link holding an XDP program on an interface.

    ``close()`` drops the link's fd and with it the attachment (unless the
    link was pinned); ``detach()`` detaches while keeping the fd;
    ``update(prog)`` swaps the program atomically.  ``info()``, ``ifindex``
    and ``prog_id`` ask the kernel (ifindex is 0 once detached).
    """

    _what = "XDP link"
    mode: Optional[str]

    def __init__(self, fd: int, ifindex: Optional[int] = None, mode: Optional[str] = None) -> None:
        super().__init__(fd)
        self._requested_ifindex = ifindex
        self.mode = mode     # "skb", "drv", "hw", or "auto" (the kernel chose)

    def info(self) -> LinkInfo:
        raw = _info(self.fileno(), k.bpf_link_info(), "bpf(BPF_OBJ_GET_INFO_BY_FD, %s)" % self._what)
        ifindex = raw.xdp.ifindex if raw.type == k.BPF_LINK_TYPE_XDP else None
        return LinkInfo(raw.id, raw.type, raw.prog_id, ifindex)

    @property
    def id(self) -> int:
        return self.info().id

    @property
    def ifindex(self) -> Optional[int]:
        return self.info().ifindex

    @property
    def prog_id(self) -> int:
        return self.info().prog_id

    def update(self, prog: FdLike) -> None:
        """BPF_LINK_UPDATE: run ``prog`` instead, without a gap."""
        attr = k.bpf_attr_link_update(link_fd=self.fileno(), new_prog_fd=_fd_of(prog, "prog"))
        _sys_bpf(k.BPF_LINK_UPDATE, attr, "bpf(BPF_LINK_UPDATE, %s)" % self._what,
                 {errno.ENOLINK: "the link was detached", errno.EINVAL: "not an XDP program"})

    def detach(self) -> None:
        """BPF_LINK_DETACH: take the program off the interface; the fd stays open."""
        attr = k.bpf_attr_link_detach(link_fd=self.fileno())
        _sys_bpf(k.BPF_LINK_DETACH, attr, "bpf(BPF_LINK_DETACH, %s)" % self._what)

    def _state(self) -> str:
        try:
            info = self.info()
        except OSError:
            return ""
        return " id=%d prog_id=%d ifindex=%d" % (info.id, info.prog_id, info.ifindex or 0)
