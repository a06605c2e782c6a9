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
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple, TypeVar, Union

from . import bpf
from .net import link
from .bpf import xdp
from .net import netns as _netns
from .bpf.asm import Program
from .errors import ConfigError, SyscallError
from .uapi import bpf as _bpf_uapi
from .bpf.maps import type_name
from .xsk import Socket, resolve_ifindex

XDP_MODES = ("auto", "drv", "skb")

# What ``program=`` takes: None (pyxsk builds one), a Program to load, a
# loaded Prog or a program fd.
ProgramLike = Union[Program, bpf.Prog, int, None]
# What ``filter=`` takes: text for :func:`pyxsk.bpf.xdp.parse_filter`, or a Filter.
FilterLike = Union[str, xdp.Filter]
_MAPS_OF_MAPS = (_bpf_uapi.BPF_MAP_TYPE_ARRAY_OF_MAPS, _bpf_uapi.BPF_MAP_TYPE_HASH_OF_MAPS)


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
    :class:`pyxsk.bpf.Prog` or program fd, used as it is.  Without ``xskmap``,
    pyxsk finds the XSKMAP a loaded program uses (its map ids) and puts the
    socket in it; a program with none or several is a ConfigError saying
    what to pass (finding it needs CAP_SYS_ADMIN, as looking maps up by id
    does).  A program of yours that neither uses ``xskmap`` nor a map of
    maps that might hold it cannot reach the socket: ConfigError, before
    anything is attached.  ``filter``: only
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
        netns_fd = _netns.open_current()
        made: List[_Closable] = []          # what to close if anything fails
        try:
            own_map = xskmap is None
            counter_map = None
            if isinstance(program, (bpf.Prog, int)):
                prog, xskmap = _loaded_program(program, xskmap, made)
            else:
                if xskmap is None:
                    rx_queues = link.get_link(self.ifindex).num_rx_queues or 1
                    xskmap = _made(made, bpf.XskMap(max(rx_queues, self.queue + 1), name="pyxsk_xsks"))
                if counters:
                    counter_map = _made(made, xdp.ActionCounters(name="pyxsk_actions"))
                prog = _made(made, _load_program(program, filter, xskmap, counter_map))
                if program is not None:
                    _check_reaches(prog, xskmap)
        except BaseException:
            for obj in reversed(made):
                obj.close()
            os.close(netns_fd)
            raise
        own_prog = prog in made
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


class _Closable(Protocol):
    def close(self) -> None: ...


_C = TypeVar("_C", bound=_Closable)


def _made(made: List[_Closable], obj: _C) -> _C:
    """``obj``, noted in ``made`` to be closed if the hook cannot be built."""
    made.append(obj)
    return obj


def _loaded_program(program: Union[bpf.Prog, int], xskmap: Optional[bpf.XskMap],
                    made: List[_Closable]) -> Tuple[bpf.Prog, bpf.XskMap]:
    """(Prog, XSKMAP) for a loaded program: a Prog stays the caller's, an fd
    is duplicated for the hook; the XSKMAP is ``xskmap`` if the program can
    reach it, else the one the program uses."""
    if isinstance(program, bpf.Prog):
        prog = program
    else:
        prog = _made(made, bpf.Prog(os.dup(program), _bpf_uapi.BPF_PROG_TYPE_XDP))
    if xskmap is None:
        return prog, _made(made, _find_xskmap(prog))
    _check_reaches(prog, xskmap)
    return prog, xskmap


def _load_program(program: Union[Program, None], filter: Optional[FilterLike], xskmap: bpf.XskMap,
                  counters: Optional[xdp.ActionCounters]) -> bpf.Prog:
    """Load the caller's Program, or build and load pyxsk's own."""
    if program is None:
        program = (xdp.redirect_all(xskmap, counters) if filter is None else
                   xdp.redirect_matching(xskmap, filter, counters))
    return bpf.load(program, name="pyxsk_xsk")


def _describe(maps: Sequence[bpf.Map[Any, Any]]) -> str:
    return ", ".join("id %d %s%s" % (m.id, type_name(m.map_type), " %r" % m.name if m.name else "")
                     for m in maps) or "none"


def _program_what(prog: bpf.Prog) -> str:
    return "program %s(id %d)" % ("%r " % prog.name if prog.name else "", prog.id)


def _program_maps(prog: bpf.Prog, why: str) -> List[bpf.Map[Any, Any]]:
    """The maps ``prog`` uses, each adopted through its id (the caller closes
    them).  Looking maps up by id needs CAP_SYS_ADMIN; without it, a
    ConfigError says why pyxsk looked and to pass xskmap=."""
    maps: List[bpf.Map[Any, Any]] = []
    try:
        for map_id in prog.map_ids():
            maps.append(bpf.map_by_id(map_id))
    except BaseException as e:
        for m in maps:
            m.close()
        if isinstance(e, PermissionError):
            raise ConfigError("%s: pyxsk looks at the maps of %s by id, which needs CAP_SYS_ADMIN "
                              "(%s); pass its XSKMAP as xskmap=" % (why, _program_what(prog), e)) from e
        raise
    return maps


def _find_xskmap(prog: bpf.Prog) -> bpf.XskMap:
    """The one XSKMAP ``prog`` uses (its map ids, then each map by id), as an
    XskMap holding an fd of its own; ConfigError for none or several."""
    what = _program_what(prog)
    maps = _program_maps(prog, "finding the XSKMAP of " + what)
    xskmaps = [m for m in maps if isinstance(m, bpf.XskMap)]
    chosen = xskmaps[0] if len(xskmaps) == 1 else None
    try:
        if chosen is not None:
            return chosen
        if not xskmaps:
            raise ConfigError("%s uses no XSKMAP (its maps: %s), so it cannot redirect frames to "
                              "this socket; if it reaches one through a map of maps, pass that "
                              "XSKMAP as xskmap=" % (what, _describe(maps)))
        raise ConfigError("%s uses %d XSKMAPs (%s): pass the one for this socket as xskmap= "
                          "(bpf.map_by_id(id) gives it)" % (what, len(xskmaps), _describe(xskmaps)))
    finally:
        for m in maps:
            if m is not chosen:
                m.close()


def _check_reaches(prog: bpf.Prog, xskmap: bpf.XskMap) -> None:
    """Refuse a program that cannot redirect into ``xskmap``: one that
    neither uses it nor uses a map of maps (which may hold it)."""
    if xskmap.id in prog.map_ids():
        return
    what = _program_what(prog)
    mine = "xskmap= (id %d)" % xskmap.id
    maps = _program_maps(prog, "%s is not among the maps of %s" % (mine, what))
    try:
        if any(m.map_type in _MAPS_OF_MAPS for m in maps):
            return
        raise ConfigError("%s does not use %s (its maps: %s), so it cannot redirect frames to this "
                          "socket: pass the XSKMAP it uses, or leave xskmap= out and pyxsk finds "
                          "it" % (what, mine, _describe(maps)))
    finally:
        for m in maps:
            m.close()
