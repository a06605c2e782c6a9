"""XskSocket: an AF_XDP socket with everything it needs to receive.

The chain the seed article describes, in one constructor: UMEM and rings
(:class:`pyxsk.xsk.Socket`), an XSKMAP, an XDP program that redirects into it
(redirect-all by default, a filter, or the caller's own), the program attached
to the interface (native XDP if the driver has it, else generic), the
socket's fd in the map slot of its queue, and the fill ring filled.

Sockets on several queues of one interface share one program and one map
(and usually one UMEM): the later ones are made with ``share=`` the first.
The hook -- program, map, attachment -- is counted; the last socket to close
takes the program off the interface, and only if it is still the one pyxsk
attached (the detach uses XDP_FLAGS_REPLACE with the program's fd, so a
program someone attached since stays).
"""

from __future__ import annotations

import errno
import os
from typing import Any, Dict, Optional, Tuple, Union

from . import bpf
from .net import link
from .bpf import xdp
from .net import netns as _netns
from .bpf.asm import Program
from .errors import ConfigError, SyscallError
from .uapi import bpf as _bpf_uapi
from .xsk import Socket, resolve_ifindex

XDP_MODES = ("auto", "drv", "skb")

# What ``program=`` takes: None (pyxsk builds one), a Program to load, a
# loaded Prog or a program fd.
ProgramLike = Union[Program, bpf.Prog, int, None]
# What ``filter=`` takes: text for :func:`pyxsk.bpf.xdp.parse_filter`, or a Filter.
FilterLike = Union[str, xdp.Filter]


class XdpHook:
    """The program on one interface and the XSKMAP it redirects into,
    shared by the sockets of that interface; closed by the last of them."""

    ifindex: int
    ifname: str
    netns_fd: int
    xskmap: bpf.XskMap
    prog: bpf.Prog
    counters: Optional[xdp.ActionCounters]
    mode: Optional[str]
    bpf_link: Optional[bpf.Link]
    users: int

    def __init__(self, ifindex: int, ifname: str, netns_fd: int, xskmap: bpf.XskMap,
                 own_map: bool, prog: bpf.Prog, own_prog: bool,
                 counters: Optional[xdp.ActionCounters]) -> None:
        self.ifindex = ifindex
        self.ifname = ifname
        self.netns_fd = netns_fd            # the namespace the interface lives in
        self.xskmap = xskmap
        self.prog = prog
        self.counters = counters
        self.mode = None                    # "drv" or "skb" once attached by us
        self.bpf_link = None
        self.users = 0
        self._own_map, self._own_prog = own_map, own_prog

    def attach(self, mode: str, use_bpf_link: bool) -> None:
        """Attach, refusing to displace a program someone else attached."""
        if use_bpf_link:
            self.bpf_link = bpf_link = link.attach_xdp(self.ifindex, self.prog.fd, mode=mode,
                                                       netns=self.netns_fd, bpf_link=True)
            self.mode = bpf_link.mode
            return
        try:
            self.mode = link.attach_xdp(self.ifindex, self.prog.fd, mode=mode,
                                        update_if_noexist=True, netns=self.netns_fd)
        except SyscallError as e:
            if e.errno in (errno.EBUSY, errno.EEXIST):
                e.hint = "%s; pyxsk does not replace another XDP program: detach it first " \
                         "(pyxsk prog detach %s), or hand XskSocket that program (program=)" % (
                             e.hint or "an XDP program is already attached", self.ifname)
            raise

    def is_interface(self, interface: Union[int, str, bytes]) -> bool:
        """True if ``interface`` (name or index, looked up in the calling
        thread's namespace) is this hook's: ifindexes repeat across
        namespaces, so the namespace must match too."""
        if not _netns.is_current(self.netns_fd):
            return False
        return resolve_ifindex(interface)[0] == self.ifindex

    def close(self) -> None:
        """Detach (if we attached and it is still ours), close map and program."""
        try:
            if self.bpf_link is not None:
                self.bpf_link.close()
            elif self.mode is not None:
                self._detach_if_ours()
        finally:
            self.mode = self.bpf_link = None
            if self._own_prog:
                self.prog.close()
            if self.counters is not None:
                self.counters.close()
            if self._own_map:
                self.xskmap.close()
            os.close(self.netns_fd)

    def release_inherited(self) -> None:
        """close() in a child that inherited the hook through fork(): close
        the child's copies of the fds (program, maps, BPF link, namespace)
        and nothing else.  The attachment and the map slots are the
        parent's; closing a copy of a BPF link's fd leaves the link up, as
        the parent still holds it."""
        self.mode = None
        self.close()

    def _detach_if_ours(self) -> None:
        try:
            link.detach_xdp(self.ifindex, mode=self.mode, expected_fd=self.prog.fd,
                            netns=self.netns_fd)
        except OSError as e:
            # EEXIST: another program replaced ours; ENOENT: it sits in the other
            # mode now; ENODEV: the interface is gone.  Nothing of ours is left.
            if e.errno not in (errno.EEXIST, errno.ENOENT, errno.ENODEV):
                raise


class XskSocket(Socket):
    """An AF_XDP socket on ``queue`` of ``interface`` that receives.

    ``program``: None for the redirect-all program (frames of queues without
    a socket go to the kernel: XDP_PASS); an :class:`pyxsk.bpf.asm.Program` to
    load (it must redirect into ``xskmap``, which you then pass); or a loaded
    :class:`pyxsk.bpf.Prog` or program fd, used as it is.  ``filter``: only
    matching frames are redirected, the others reach the kernel stack (text
    such as ``"udp dst port 9"``, or a :class:`pyxsk.bpf.xdp.Filter`).
    ``xdp_mode``: "auto" (native, else generic -- ``xdp_mode`` then says which
    one it got), "drv" or "skb".  ``bpf_link=True`` attaches through a BPF
    link, which the kernel removes if the process dies.  ``counters=True``
    counts frames per XDP action (:meth:`counts`).  ``attach=False`` leaves
    attaching to you.  ``share``: another XskSocket on the same interface
    whose UMEM, map and program this one uses.  Everything else is as for
    :class:`pyxsk.xsk.Socket`.
    """

    def __init__(self, interface: Union[int, str, bytes], queue: int = 0, *,
                 program: ProgramLike = None, filter: Optional[FilterLike] = None,
                 xskmap: Optional[bpf.XskMap] = None, xdp_mode: str = "auto",
                 bpf_link: bool = False, counters: bool = False, attach: bool = True,
                 share: Optional[XskSocket] = None,
                 **socket_options: Any) -> None:
        self._hook: Optional[XdpHook] = None
        _check_hook_options(program, filter, xskmap, xdp_mode, counters, share, socket_options)
        shared_hook = None if share is None else share._hook     # not None: checked above
        if share is not None and shared_hook is not None:
            if not shared_hook.is_interface(interface):
                raise ConfigError("share= is for sockets on the same interface; "
                                  "to share only memory pass umem=")
            socket_options["umem"] = share.umem
        super().__init__(interface, queue, **socket_options)
        try:
            if shared_hook is None:
                hook = self._new_hook(program, filter, xskmap, counters)
            else:
                hook = shared_hook
            hook.users += 1
            self._hook = hook           # from here on close() lets go of it
            if share is None and attach:
                hook.attach(xdp_mode, bpf_link)
            hook.xskmap[queue] = self
        except BaseException:
            self.close()
            raise

    def _new_hook(self, program: ProgramLike, filter: Optional[FilterLike],
                  xskmap: Optional[bpf.XskMap], counters: bool) -> XdpHook:
        own_map = xskmap is None
        if xskmap is None:
            rx_queues = link.get_link(self.ifindex).num_rx_queues or 1
            xskmap = bpf.XskMap(max(rx_queues, self.queue + 1), name="pyxsk_xsks")
        counter_map = None
        netns_fd = _netns.open_current()
        try:
            counter_map = xdp.ActionCounters(name="pyxsk_actions") if counters else None
            prog, own_prog = _load_program(program, filter, xskmap, counter_map)
        except BaseException:
            for obj in (counter_map, xskmap if own_map else None):
                if obj is not None:
                    obj.close()
            os.close(netns_fd)
            raise
        return XdpHook(self.ifindex, self.ifname, netns_fd, xskmap, own_map, prog, own_prog,
                       counter_map)

    # -- what the hook offers -------------------------------------------------

    @property
    def xskmap(self) -> Optional[bpf.XskMap]:
        return self._hook.xskmap if self._hook else None

    @property
    def program(self) -> Optional[bpf.Prog]:
        return self._hook.prog if self._hook else None

    @property
    def xdp_mode(self) -> Optional[str]:
        """"drv" (native) or "skb" (generic) as attached, None if pyxsk did not attach."""
        return self._hook.mode if self._hook else None

    def counts(self) -> Dict[bpf.XdpAction, int]:
        """Frames per XDP action so far ({XdpAction: n}); needs counters=True."""
        self._require_open()
        counters = None if self._hook is None else self._hook.counters
        if counters is None:
            raise ValueError("this socket was made without counters=True")
        return counters.counts()

    # -- teardown -------------------------------------------------------------

    def close(self) -> None:
        """Empty the map slot, let the hook go (the last socket detaches the
        program if it is still ours), then close the socket as
        :meth:`Socket.close` does, reclaiming every chunk.  Idempotent.
        In a child that inherited the socket through fork(), only the
        child's copies of fds and mappings go: the map slot and the program
        stay the parent's."""
        hook, self._hook = self._hook, None
        if self._inherited:
            if hook is not None:
                hook.users -= 1
                if hook.users <= 0:
                    hook.release_inherited()
            super().close()
            return
        try:
            if hook is not None:
                try:
                    if self.queue in hook.xskmap:
                        del hook.xskmap[self.queue]
                finally:
                    hook.users -= 1
                    if hook.users <= 0:
                        hook.close()
        finally:
            super().close()

    def __repr__(self) -> str:
        text = super().__repr__()
        if self._hook is not None and self._hook.mode:
            text = text[:-1] + " xdp=%s prog=%d>" % (self._hook.mode, self._hook.prog.id)
        return text.replace("pyxsk.Socket", "pyxsk.XskSocket", 1)


def _check_hook_options(program: ProgramLike, filter: Optional[FilterLike],
                        xskmap: Optional[bpf.XskMap], xdp_mode: str, counters: bool,
                        share: Optional[XskSocket],
                        socket_options: Dict[str, Any]) -> None:
    """Reject contradictory options before anything is created."""
    if xdp_mode not in XDP_MODES:
        raise ConfigError("xdp_mode must be one of %s, not %r" % (", ".join(XDP_MODES), xdp_mode))
    if socket_options.get("rx_size", 1) == 0:
        raise ConfigError("an XskSocket receives: it needs an RX ring (use Socket to only send)")
    if share is not None:
        if not isinstance(share, XskSocket) or share._hook is None:
            raise ConfigError("share= takes an open XskSocket")
        given = [n for n, v in (("program", program), ("filter", filter), ("xskmap", xskmap),
                                ("umem", socket_options.get("umem"))) if v is not None]
        if given or counters:
            raise ConfigError("a socket made with share= uses the first socket's UMEM, map and "
                              "program: do not pass %s" % ", ".join(given + ["counters"] * counters))
        return
    if program is not None and filter is not None:
        raise ConfigError("give a filter or a program, not both")
    if isinstance(program, Program) and xskmap is None:
        raise ConfigError("a Program of your own redirects into a map of your own: pass it as xskmap=")
    if program is not None and not isinstance(program, (Program, bpf.Prog, int)):
        raise TypeError("program must be an asm.Program, a loaded bpf.Prog or an fd, not %r"
                        % (program,))
    if isinstance(program, (bpf.Prog, int)) and counters:
        raise ConfigError("counters=True needs pyxsk to build the program")
    if filter is not None:
        xdp.parse_filter(filter) if isinstance(filter, str) else xdp.Filter(*filter)


def _load_program(program: ProgramLike, filter: Optional[FilterLike], xskmap: bpf.XskMap,
                  counters: Optional[xdp.ActionCounters]) -> Tuple[bpf.Prog, bool]:
    """(Prog, owned?) for the program options."""
    if isinstance(program, bpf.Prog):
        return program, False
    if isinstance(program, int):     # the caller keeps its fd; the hook holds a duplicate
        return bpf.Prog(os.dup(program), _bpf_uapi.BPF_PROG_TYPE_XDP), True
    if program is None:
        program = (xdp.redirect_all(xskmap, counters) if filter is None else
                   xdp.redirect_matching(xskmap, filter, counters))
    return bpf.load(program, name="pyxsk_xsk"), True
