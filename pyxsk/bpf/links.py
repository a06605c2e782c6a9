"""XDP through BPF links (BPF_LINK_CREATE, Linux 5.9): an attachment the
kernel removes when the link's last fd closes -- also when the process
dies -- unless the link is pinned on a bpffs, which keeps it until the pin
is unlinked (:meth:`Link.from_pinned` opens it again)."""

from __future__ import annotations

import errno
import os
from typing import Dict, NamedTuple, Optional, Union

from .. import _libc
from ..errors import ConfigError
from ..uapi import bpf as k
from ..uapi import if_link as _ifla
from .syscall import FdLike, _FdObject, _fd_of, _info, _sys_bpf, obj_get_kind


class LinkInfo(NamedTuple):
    """BPF_OBJ_GET_INFO_BY_FD's answer for a link (``ifindex`` None unless it is an XDP link)."""
    id: int
    type: int
    prog_id: int
    ifindex: Optional[int]


# enum bpf_link_type -> the word bpftool prints
LINK_TYPE_NAMES: Dict[int, str] = {
    k.BPF_LINK_TYPE_RAW_TRACEPOINT: "raw_tracepoint", k.BPF_LINK_TYPE_TRACING: "tracing",
    k.BPF_LINK_TYPE_CGROUP: "cgroup", k.BPF_LINK_TYPE_ITER: "iter",
    k.BPF_LINK_TYPE_NETNS: "netns", k.BPF_LINK_TYPE_XDP: "xdp",
    k.BPF_LINK_TYPE_PERF_EVENT: "perf_event", k.BPF_LINK_TYPE_KPROBE_MULTI: "kprobe_multi",
    k.BPF_LINK_TYPE_STRUCT_OPS: "struct_ops", k.BPF_LINK_TYPE_NETFILTER: "netfilter",
    k.BPF_LINK_TYPE_TCX: "tcx", k.BPF_LINK_TYPE_UPROBE_MULTI: "uprobe_multi",
    k.BPF_LINK_TYPE_NETKIT: "netkit", k.BPF_LINK_TYPE_SOCKMAP: "sockmap",
}
_U32_MAX = (1 << 32) - 1


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

    @classmethod
    def from_pinned(cls, path: Union[str, "os.PathLike[str]"]) -> Link:
        """The link pinned at ``path`` on a bpffs (BPF_OBJ_GET), holding a new
        fd of its own.  Closing it leaves the attachment alone while the pin
        exists; unlink the pin first and the close detaches (or
        :meth:`detach` at once).  ``mode`` is None: the kernel does not say
        which mode an XDP link got (the interface's IFLA_XDP does).  A map or
        program pinned at ``path`` is a ConfigError; nothing there is
        FileNotFoundError."""
        fd = obj_get_kind(path, "link")
        return cls._from_fd(fd, "pinned link %r" % os.fsdecode(path))

    @classmethod
    def _from_fd(cls, fd: int, what: str) -> Link:
        """A Link owning ``fd`` (a link made elsewhere), named for its type."""
        link = cls(fd)
        link._what = what
        try:
            info = link.info()
        except BaseException:
            link.close()
            raise
        link._what = "XDP link"
        link._requested_ifindex = info.ifindex
        if info.type != k.BPF_LINK_TYPE_XDP:
            link._what = "%s link" % LINK_TYPE_NAMES.get(info.type, "type %d" % info.type)
        return link

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


def link_by_id(link_id: int) -> Link:
    """The BPF link with id ``link_id`` (BPF_LINK_GET_FD_BY_ID), as a
    :class:`Link` holding a new fd of its own (as ``bpftool link show id``
    finds it).  Needs CAP_SYS_ADMIN; an id no link has is FileNotFoundError."""
    if isinstance(link_id, bool) or not isinstance(link_id, int) or not 0 < link_id <= _U32_MAX:
        raise ConfigError("a link id is an int from 1 to %d, not %r" % (_U32_MAX, link_id))
    fd = _sys_bpf(k.BPF_LINK_GET_FD_BY_ID, k.bpf_attr_get_id(link_id=link_id),
                  "bpf(BPF_LINK_GET_FD_BY_ID, %d)" % link_id,
                  {errno.ENOENT: "no BPF link has id %d" % link_id},
                  ("looking links up by id", ("CAP_SYS_ADMIN",), None))
    return Link._from_fd(fd, "link id %d" % link_id)
