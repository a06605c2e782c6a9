"""What this kernel (and an interface) offers AF_XDP, asked the kernel itself.

``pyxsk doctor`` prints these findings.  Each probe makes the smallest
object that shows a feature -- an unbound AF_XDP socket, a UMEM
registration, a copy-mode bind, a program attached for a moment -- reads the
kernel's answer, removes what it made, and says what pyxsk does without the
feature.

On an interface that carries traffic the probes stay harmless unless asked:
a copy-mode bind involves no driver (the kernel only notes the socket at the
queue), but a zero-copy bind makes the driver rebuild the queue, and
attaching a program in native mode restarts many NICs.  So on a given
interface the zero-copy bind needs ``zerocopy=True`` and attaching needs
``attach=True``, and a program already attached is never touched.
"""

from __future__ import annotations

import errno
import os
import platform
from typing import Any, Dict, List, NamedTuple, Optional, Union

from .. import _libc, bpf, xsk
from ..net import link
from ..bpf.asm import ALU64, JMP, R0, XDP_PASS, Program
from ..errors import SyscallError
from ..uapi import if_xdp
from ..umem import Umem
from ..xsk import MIN_TX_SKB_BUDGET, Socket, read_mmap_offsets
from ..xsksocket import XskSocket

OK, NO, SKIP = "ok", "no", "skip"

PROBE_RING = 64                 # entries: the smallest rings do
PROBE_FRAMES = 64
PROBE_FRAME_SIZE = 2048
UNALIGNED_FRAME_SIZE = 3000     # not a power of two: only unaligned mode takes it
BIND_RETRY_SECONDS = 1.0        # a queue stays busy ~20 ms after a socket on it closed, longer under load
PROG_NAME = "pyxsk_probe"
# BPF_LINK_CREATE for XDP refused this way means the kernel has no XDP links
# (Linux < 5.7: no such command; 5.7-5.8: no BPF_XDP attach type): netlink then
NO_XDP_LINK_ERRNOS = frozenset((errno.EINVAL, errno.EOPNOTSUPP))
LINK_CREATE = "BPF_LINK_CREATE"        # in the ``call`` of the SyscallError it raises


class Finding(NamedTuple):
    """One line of ``pyxsk doctor``: ``status`` is "ok", "no" or
    "skip"; ``fallback`` says what pyxsk does without the feature (or None)."""
    feature: str
    status: str
    detail: str
    fallback: Optional[str]


FALLBACKS = {
    "AF_XDP sockets": "none: pyxsk cannot work without them (CONFIG_XDP_SOCKETS, CAP_NET_RAW)",
    "eBPF XDP programs": "only pyxsk.Socket works (sending); XskSocket needs a program to receive",
    "mmap offsets layout": "pyxsk converts the v1 layout; need_wakeup is then off",
    "bind (copy mode)": "none: a socket that cannot bind cannot move frames",
    "need_wakeup": "pyxsk makes a syscall for every TX batch and polls RX",
    "XDP_OPTIONS": "pyxsk cannot tell copy from zero-copy (options().zerocopy is None)",
    "zero-copy": "pyxsk binds in copy mode (zerocopy=None lets the kernel choose)",
    "shared UMEM": "one UMEM per queue: give the sockets of other queues their own",
    "unaligned chunks": "chunk sizes must be powers of two (Umem(unaligned=False))",
    "multi-buffer (XDP_USE_SG)": "pyxsk does not use multi-buffer: a frame must fit one chunk "
                                 "(frame_size - 256 - headroom bytes); longer ones are dropped",
    "native XDP": "xdp_mode='auto' uses generic XDP: slower, every frame becomes an skb first",
    "generic XDP": "only native mode (xdp_mode='drv')",
    "bpf_link": "pyxsk attaches through netlink (bpf_link=False, the default)",
    "XDP_MAX_TX_SKB_BUDGET": "the kernel sends at most 32 frames per kick; "
                             "Socket(tx_budget=) raises",
}


def _finding(feature: str, status: str, detail: str) -> Finding:
    fallback: Dict[str, Optional[str]] = {OK: None, NO: FALLBACKS[feature],
                                          SKIP: "if missing: " + FALLBACKS[feature]}
    return Finding(feature, status, detail, fallback[status])


def _errname(e: OSError) -> str:
    """"ENOBUFS (No buffer space available: the hint)" for an OSError."""
    hint = getattr(e, "hint", None)
    code = e.errno
    name = "errno None" if code is None else errno.errorcode.get(code, "errno %s" % code)
    return "%s (%s%s)" % (name, e.strerror, ": " + hint if hint else "")


class _XskFd:
    """A bare AF_XDP socket fd, closed on exit."""

    def __init__(self) -> None:
        self.fd: int = _libc.socket(if_xdp.AF_XDP, _libc.SOCK_RAW, 0, call="socket(AF_XDP)")

    def __enter__(self) -> int:
        return self.fd

    def __exit__(self, *exc: object) -> None:
        _libc.close(self.fd, call="close(AF_XDP probe)")


def _set_ring(fd: int, option: int, size: int = PROBE_RING) -> None:
    _libc.setsockopt_int(fd, if_xdp.SOL_XDP, option, size, call="setsockopt(ring size)")


def _bind(fd: int, ifindex: int, queue: int, flags: int) -> None:
    sa = if_xdp.sockaddr_xdp(sxdp_family=if_xdp.AF_XDP, sxdp_flags=flags, sxdp_ifindex=ifindex,
                             sxdp_queue_id=queue)
    xsk.bind(fd, sa, retry=BIND_RETRY_SECONDS)


# -- the kernel ---------------------------------------------------------------------

def af_xdp() -> Finding:
    try:
        with _XskFd():
            return _finding("AF_XDP sockets", OK, "socket(AF_XDP) works")
    except OSError as e:
        return _finding("AF_XDP sockets", NO, "socket(AF_XDP): %s" % _errname(e))


def ebpf() -> Finding:
    try:
        with bpf.load(Program([ALU64.MOV.imm(R0, XDP_PASS), JMP.EXIT()]), name=PROG_NAME):
            return _finding("eBPF XDP programs", OK, "BPF_PROG_LOAD of an XDP program works")
    except OSError as e:
        return _finding("eBPF XDP programs", NO, "BPF_PROG_LOAD: %s" % _errname(e))


def mmap_offsets() -> Finding:
    with _XskFd() as fd:
        _, has_flags = read_mmap_offsets(fd)
    if has_flags:
        return _finding("mmap offsets layout", OK, "v2: every ring has a flags word (Linux 5.4+)")
    return _finding("mmap offsets layout", NO, "v1: no ring flags (Linux 4.18-5.3)")


def unaligned_chunks() -> Finding:
    with _XskFd() as fd, Umem(PROBE_FRAMES, UNALIGNED_FRAME_SIZE, unaligned=True) as umem:
        try:
            umem.register(fd)
        except OSError as e:
            return _finding("unaligned chunks", NO, "XDP_UMEM_REG with "
                            "XDP_UMEM_UNALIGNED_CHUNK_FLAG: %s (Linux < 5.4)" % _errname(e))
    return _finding("unaligned chunks", OK, "XDP_UMEM_UNALIGNED_CHUNK_FLAG accepted "
                    "(%d-byte chunks)" % UNALIGNED_FRAME_SIZE)


def tx_skb_budget() -> Finding:
    with _XskFd() as fd:
        _set_ring(fd, if_xdp.XDP_TX_RING, MIN_TX_SKB_BUDGET * 2)
        try:
            _libc.setsockopt_int(fd, if_xdp.SOL_XDP, if_xdp.XDP_MAX_TX_SKB_BUDGET,
                                 MIN_TX_SKB_BUDGET * 2, call="setsockopt(XDP_MAX_TX_SKB_BUDGET)")
        except OSError as e:
            if e.errno != errno.ENOPROTOOPT:
                raise
            return _finding("XDP_MAX_TX_SKB_BUDGET", NO, "unknown option (Linux < 6.17)")
    return _finding("XDP_MAX_TX_SKB_BUDGET", OK, "settable (Linux 6.17+): Socket(tx_budget=) "
                    "lets one kick send more than 32 frames")


def kernel() -> List[Finding]:
    """The findings that need no interface; stops after AF_XDP if there is none."""
    first = af_xdp()
    if first.status != OK:
        return [first]
    return [first, ebpf(), mmap_offsets(), unaligned_chunks(), tx_skb_budget()]


# -- an interface ----------------------------------------------------------------

class InterfaceProbe:
    """Probes on ``queue`` of ``ifname`` (in the calling thread's namespace).

    ``own``: the interface is pyxsk's own scratch veth, so anything goes.
    Otherwise the zero-copy bind needs ``zerocopy`` and attaching needs
    ``attach`` (see the module docstring)."""

    def __init__(self, ifname: str, queue: int = 0, own: bool = False, zerocopy: bool = False,
                 attach: bool = False) -> None:
        self.ifname, self.queue, self.own = ifname, queue, own
        self.allow_zerocopy = own or zerocopy
        self.allow_attach = own or attach
        self.link = link.get_link(ifname)
        self.where = "%s queue %d" % (ifname, queue)

    def missing_queue(self) -> Optional[str]:
        """Why nothing can bind to ``queue`` if the interface has no such
        queue, in words; None when it has (or when the bind fails for another
        reason, which the probes then report).

        The kernel refuses a bind with EINVAL when the queue id is not below
        the device's real_num_rx_queues (and real_num_tx_queues for a TX
        ring).  Netlink reports only the queues allocated (a veth made by
        ``ip link`` has 2, one in use), so the count comes from the binds
        themselves: queues in use are numbered from 0, so a binary search of
        a few copy-mode binds finds how many there are."""
        if self._queue_binds(self.queue) is not False:
            return None
        count = self._queues_in_use(self.queue)
        if not count:
            return None                     # not even queue 0 binds: not about the queue
        numbers = "queue 0" if count == 1 else "queues 0-%d" % (count - 1)
        return "%s has no queue %d: it has %d in use (%s)" % (self.ifname, self.queue, count,
                                                               numbers)

    def _queue_binds(self, queue: int) -> Optional[bool]:
        """True if a copy-mode socket binds to ``queue`` (or another socket
        holds it: it exists), False if the kernel says there is no such
        queue (EINVAL), None for any other refusal."""
        try:
            with self._socket(zerocopy=False, queue=queue):
                return True
        except OSError as e:
            if e.errno == errno.EBUSY:
                return True
            if e.errno == errno.EINVAL:
                return False
            return None

    def _queues_in_use(self, absent: int) -> int:
        """How many queues bind, knowing that queue ``absent`` does not.  No
        queue in use lies beyond those netlink reports allocated: that bounds
        the search too."""
        allocated = max(self.link.num_rx_queues, self.link.num_tx_queues)
        low, high = 0, min(absent, allocated) if allocated else absent
        # invariant: every queue below ``low`` binds, queue ``high`` does not
        while low < high:
            middle = (low + high) // 2
            if self._queue_binds(middle):
                low = middle + 1
            else:
                high = middle
        return low

    SOCKET_FEATURES = ("need_wakeup", "XDP_OPTIONS", "zero-copy", "shared UMEM",
                       "multi-buffer (XDP_USE_SG)")

    def run(self) -> List[Finding]:
        bound = self.bind_copy()
        if bound.status == OK:
            findings = [bound, self.need_wakeup(), self.xdp_options(), self.zerocopy(),
                        self.shared_umem(), self.multi_buffer()]
        else:
            findings = [bound] + [_finding(f, SKIP, "needs a socket bound to %s" % self.where)
                                  for f in self.SOCKET_FEATURES]
        return findings + self.xdp_attach()

    def _socket(self, queue: Optional[int] = None, zerocopy: Optional[bool] = None,
                need_wakeup: Optional[bool] = None) -> Socket:
        return Socket(self.ifname, self.queue if queue is None else queue, rx_size=PROBE_RING,
                      tx_size=PROBE_RING, num_frames=PROBE_FRAMES * 2,
                      frame_size=PROBE_FRAME_SIZE, zerocopy=zerocopy, need_wakeup=need_wakeup)

    def bind_copy(self) -> Finding:
        try:
            with self._socket(zerocopy=False):
                return _finding("bind (copy mode)", OK, self.where)
        except OSError as e:
            if e.errno == errno.EBUSY:
                return _finding("bind (copy mode)", SKIP, "%s is in use by another AF_XDP "
                                "socket: not touched" % self.where)
            return _finding("bind (copy mode)", NO, "%s: %s" % (self.where, _errname(e)))

    def need_wakeup(self) -> Finding:
        with self._socket(zerocopy=False, need_wakeup=True) as sock:
            if sock.need_wakeup:
                return _finding("need_wakeup", OK, "XDP_USE_NEED_WAKEUP honoured: the kernel "
                                "says when it needs a syscall")
        return _finding("need_wakeup", NO, "the kernel has no ring flags")

    def xdp_options(self) -> Finding:
        with self._socket(zerocopy=False) as sock:
            answer = sock.options().zerocopy
        if answer is None:
            return _finding("XDP_OPTIONS", NO, "getsockopt(XDP_OPTIONS) unknown (Linux < 5.3)")
        return _finding("XDP_OPTIONS", OK, "answers: zero-copy %s after a copy-mode bind" % answer)

    def zerocopy(self) -> Finding:
        if not self.allow_zerocopy:
            return _finding("zero-copy", SKIP, "a zero-copy bind makes the driver rebuild %s "
                            "(a short outage on most NICs): ask with --zerocopy" % self.where)
        try:
            with self._socket(zerocopy=True) as sock:
                return _finding("zero-copy", OK, "XDP_ZEROCOPY bind on %s; XDP_OPTIONS says "
                                "zero-copy %s" % (self.where, sock.options().zerocopy))
        except OSError as e:
            if e.errno != errno.EOPNOTSUPP:
                raise
            kind = " (veth has none)" if self.link.kind == "veth" else ""
            return _finding("zero-copy", NO, "the driver of %s has no AF_XDP zero-copy%s"
                            % (self.ifname, kind))

    def shared_umem(self) -> Finding:
        with self._socket(zerocopy=False) as first:
            with Socket(self.ifname, self.queue, umem=first.umem, rx_size=PROBE_RING,
                        tx_size=PROBE_RING):
                pass
            other = self._other_queue()
            if isinstance(other, str):
                return _finding("shared UMEM", OK, "on one queue; across queues not probed: "
                                + other)
            try:
                with Socket(self.ifname, other, umem=first.umem, rx_size=PROBE_RING,
                            tx_size=PROBE_RING):
                    pass
            except OSError as e:
                return _finding("shared UMEM", NO, "on one queue ok; across queues %s "
                                "(Linux < 5.10)" % _errname(e))
        return _finding("shared UMEM", OK, "on one queue and across queues (Linux 5.10+)")

    def _other_queue(self) -> Union[int, str]:
        """Another queue a socket of its own binds to, or why there is none.
        (IFLA_NUM_RX_QUEUES counts the queues allocated, not those in use: a
        veth made by ``ip link`` reports 2 and binds only queue 0.)"""
        for other in range(self.link.num_rx_queues):
            if other == self.queue:
                continue
            try:
                with self._socket(zerocopy=False, queue=other):
                    return other
            except OSError as e:
                if e.errno == errno.EBUSY:
                    continue        # another application's queue: leave it alone
                if e.errno != errno.EINVAL:
                    raise
                return "%s has no queue %d in use" % (self.ifname, other)
        return "%s has no other free queue" % self.ifname

    def multi_buffer(self) -> Finding:
        with _XskFd() as fd, Umem(PROBE_FRAMES, PROBE_FRAME_SIZE) as umem:
            umem.register(fd)
            for option in (if_xdp.XDP_UMEM_FILL_RING, if_xdp.XDP_UMEM_COMPLETION_RING,
                           if_xdp.XDP_RX_RING):
                _set_ring(fd, option)
            try:
                _bind(fd, self.link.index, self.queue, if_xdp.XDP_COPY | if_xdp.XDP_USE_SG)
            except OSError as e:
                if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                return _finding("multi-buffer (XDP_USE_SG)", NO, "bind with XDP_USE_SG: %s "
                                "(Linux < 6.6)" % _errname(e))
        return Finding("multi-buffer (XDP_USE_SG)", OK, "bind with XDP_USE_SG accepted (copy mode)",
                       FALLBACKS["multi-buffer (XDP_USE_SG)"])

    # -- attaching ------------------------------------------------------------

    def xdp_attach(self) -> List[Finding]:
        """native, generic and bpf_link findings."""
        attached = self.link.xdp.prog_ids()
        if attached:
            return self._judge_by_attached(attached)
        if not self.allow_attach:
            why = ("attaching a program to %s may restart its queues: ask with --attach"
                   % self.ifname)
            return [_finding(f, SKIP, why) for f in ("native XDP", "generic XDP", "bpf_link")]
        with bpf.load(Program([ALU64.MOV.imm(R0, XDP_PASS), JMP.EXIT()]), name=PROG_NAME) as prog:
            native = self._attach_once(prog, "drv")
            generic = self._attach_once(prog, "skb")
            linked = self._link_once(prog, "drv" if native.status == OK else "skb")
        return [native, generic, linked]

    def _judge_by_attached(self, attached: Dict[str, int]) -> List[Finding]:
        modes = ", ".join("program %d in %s mode" % (prog, mode) for mode, prog in attached.items())
        skip = "%s has %s: not touched" % (self.ifname, modes)
        native = (_finding("native XDP", OK, "%s has a program in drv mode" % self.ifname)
                  if "drv" in attached else _finding("native XDP", SKIP, skip))
        generic = (_finding("generic XDP", OK, "%s has a program in skb mode" % self.ifname)
                   if "skb" in attached else _finding("generic XDP", SKIP, skip))
        return [native, generic, _finding("bpf_link", SKIP, skip)]

    def _attach_once(self, prog: bpf.Prog, mode: str) -> Finding:
        feature = "native XDP" if mode == "drv" else "generic XDP"
        try:
            link.attach_xdp(self.link.index, prog.fd, mode=mode, update_if_noexist=True)
        except OSError as e:
            return _finding(feature, NO, "%s mode on %s: %s" % (mode, self.ifname, _errname(e)))
        link.detach_xdp(self.link.index, mode=mode, expected_fd=prog.fd)
        return _finding(feature, OK, "%s mode attaches on %s" % (mode, self.ifname))

    def _link_once(self, prog: bpf.Prog, mode: str) -> Finding:
        try:
            xdp_link = link.attach_xdp(self.link.index, prog.fd, mode=mode, bpf_link=True)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            return _finding("bpf_link", NO, "BPF_LINK_CREATE for XDP: %s (Linux < 5.9)"
                            % _errname(e))
        xdp_link.close()
        return _finding("bpf_link", OK, "BPF_LINK_CREATE attaches XDP in %s mode (Linux 5.9+)"
                        % mode)


# -- what the commands use --------------------------------------------------------

def xsk_with_link(interface: str, queue: int = 0, **options: Any) -> XskSocket:
    """An :class:`~pyxsk.XskSocket` whose program is attached through a BPF
    link where this kernel has them (Linux 5.9+), else through netlink.

    The kernel holds a link's program on the interface only while the link's
    fd is open, so a command killed with SIGKILL leaves nothing attached; a
    program attached by netlink stays until someone detaches it.  An older
    kernel refuses BPF_LINK_CREATE for XDP with EINVAL (or EOPNOTSUPP), and
    the socket is then made again with a netlink attachment, whose own error
    is the one raised if that fails too (it carries the kernel's extended
    ack).  Only that refusal costs a second socket; any other error (an
    EINVAL from bind for a queue the interface lacks...) is raised as it is."""
    try:
        return XskSocket(interface, queue, bpf_link=True, **options)
    except SyscallError as e:
        if e.errno not in NO_XDP_LINK_ERRNOS or LINK_CREATE not in e.call:
            raise
    return XskSocket(interface, queue, bpf_link=False, **options)


def platform_line() -> str:
    """Kernel release, machine and Python, for the report's head."""
    uname = os.uname()
    return "Linux %s %s, Python %s" % (uname.release, uname.machine, platform.python_version())
