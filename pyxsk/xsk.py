"""The AF_XDP socket: one queue of one interface, its rings, and batched I/O.

Set-up follows the kernel's order (and the seed article's): socket(AF_XDP),
XDP_UMEM_REG (first socket of a UMEM), ring sizes, XDP_MMAP_OFFSETS, mmap
of the rings, bind.  Nothing is sent to the kernel before every argument has
been checked.

This socket does not load or attach an XDP program: frames reach its RX ring
only once a program redirects them into an XSKMAP slot holding
:meth:`Socket.fileno` (see :class:`pyxsk.XskSocket`, which does all of it).
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import math
import os
import threading
import time
import warnings
import weakref
from array import array
from typing import (Dict, Iterable, Iterator, List, Literal, NamedTuple,
                    Optional, Sequence, SupportsBytes, Tuple, TypeVar, Union, cast, overload)

from . import _libc
from .net import link, netns
from .errors import (ConfigError, InheritedSocketError, InterfaceGoneError, LedgerError,
                     syscall_error)
from .frames import Batch
from .ring import (ADDR_ENTRY, DESC_ENTRY, ConsumerRing, ProducerRing, is_power_of_two,
                   require_total_store_order, transfer)
from .umem import Pool, Umem, validate_geometry
from .uapi import if_xdp

# What a frame's bytes may be held in: memoryview() and a slice assignment
# into UMEM take each of these.
BytesLike = Union[bytes, bytearray, memoryview, "array[int]"]
# A frame to send: bytes-like, or an object bytes() converts through its
# __bytes__ (a scapy packet).
FrameLike = Union[BytesLike, SupportsBytes]

_S = TypeVar("_S", bound="Socket")

DEFAULT_RING_SIZE = 2048
DEFAULT_FRAME_SIZE = 4096
MIN_TX_SKB_BUDGET = 32          # XDP_MAX_TX_SKB_BUDGET: allowed from 32 to the TX ring size
BIND_RETRY_SECONDS = 1.0        # a queue stays busy ~20 ms after its last socket closed, longer under load
CLOSE_FLUSH_SECONDS = 0.05
# AF_XDP's poll reports no event when the interface is deleted (PITFALLS.md):
# waits are cut in slices this long, the socket's binding checked after each.
GONE_CHECK_SECONDS = 0.5
DOWN_GRACE_SECONDS = 0.5       # between "link down" and "unbound" in a deletion (slower under load)
MTU_RECHECK_SECONDS = 1.0       # a lowered MTU is noticed by send() this soon
ETH_HLEN = 14                   # the shortest frame: an Ethernet header
VLAN_HLEN = 4                   # a tagged frame may exceed MTU + ETH_HLEN by one tag
_VLAN_TPIDS = (b"\x81\x00", b"\x88\xa8")      # 802.1Q, 802.1ad


class XdpStatistics(NamedTuple):
    """XDP_STATISTICS.  Kernels before 5.9 report only the
    first three counters; the others are then None."""
    rx_dropped: int
    rx_invalid_descs: int
    tx_invalid_descs: int
    rx_ring_full: Optional[int]
    rx_fill_ring_empty_descs: Optional[int]
    tx_ring_empty_descs: Optional[int]


class XdpOptions(NamedTuple):
    """XDP_OPTIONS: ``zerocopy`` is True when the driver
    works on UMEM directly, False in copy mode, None on kernels before 5.3."""
    zerocopy: Optional[bool]


class RingOffsets(NamedTuple):
    """Where the parts of one ring are in its mapping (XDP_MMAP_OFFSETS);
    ``flags`` is None on kernels before 5.4."""
    producer: int
    consumer: int
    desc: int
    flags: Optional[int]


SOCKET_HINTS = {
    errno.EAFNOSUPPORT: "this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)",
    errno.EPERM: "AF_XDP needs CAP_NET_RAW",
    errno.EACCES: "AF_XDP needs CAP_NET_RAW",
}
RING_HINTS = {
    errno.EINVAL: "ring sizes must be powers of two",
    errno.EBUSY: "the socket is already bound",
    errno.ENOMEM: "the kernel could not allocate the ring",
}
MMAP_HINTS = {
    errno.EINVAL: "ring size not set before mmap, or mapping longer than the ring",
    errno.ENOMEM: "the kernel could not map the ring",
}
BIND_HINTS = {
    errno.EBUSY: "queue already bound: another AF_XDP socket holds it, or one closed a "
                 "moment ago and the kernel has not released it yet",
    errno.EINVAL: "queue id beyond the interface's rx queues, fill or completion ring "
                  "missing, or conflicting bind flags",
    errno.EOPNOTSUPP: "the driver has no zero-copy support (veth has none): "
                      "use zerocopy=False, or None to let the kernel choose",
    errno.ENODEV: "the interface disappeared",
    errno.EBADF: "the socket to share the UMEM with is not bound",
    errno.EPERM: "AF_XDP needs CAP_NET_RAW",
}
TX_BUDGET_HINTS = {
    errno.ENOPROTOOPT: "XDP_MAX_TX_SKB_BUDGET needs Linux 6.17",
    errno.EACCES: "the budget must be between 32 and the TX ring size",
}
# sendto() answers that mean "try again later", not failure (PITFALLS.md):
# EAGAIN the per-call budget (32 frames) is used up or the completion ring is
# full; EBUSY the device dropped a frame (it still completes); ENOBUFS no skb.
_KICK_AGAIN = frozenset([errno.EAGAIN, errno.EBUSY, errno.ENOBUFS])
KICK_HINTS = {
    errno.ENETDOWN: "the interface is down",
    errno.ENXIO: "the socket is not bound",
    errno.EOPNOTSUPP: "sendto without MSG_DONTWAIT",
}

_MASK32 = 0xFFFFFFFF
_INTERFACE_GONE = frozenset([errno.ENETDOWN, errno.ENXIO, errno.ENODEV])
_monotonic = time.monotonic


# -- arguments ----------------------------------------------------------------

@overload
def check_count(value: object, what: str, none_ok: Literal[False] = ...) -> int: ...
@overload
def check_count(value: object, what: str, none_ok: bool) -> Optional[int]: ...


def check_count(value: object, what: str, none_ok: bool = False) -> Optional[int]:
    """``value`` if it is a positive int (or None, where ``none_ok``);
    TypeError or ValueError otherwise, before any ring is touched."""
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be a positive int%s, not %r"
                        % (what, " or None" if none_ok else "", value))
    if value < 1:
        raise ValueError("%s must be a positive int, got %d" % (what, value))
    return value


def check_timeout(timeout: Optional[float], what: str = "timeout") -> Optional[float]:
    """A wait in seconds as ``selectors`` takes it: None blocks, 0 only
    checks, a positive number waits that long; ``math.inf`` blocks too.
    Returns None (block) or a float; TypeError or ValueError for anything
    else (NaN, negative, not a number)."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError("%s must be a number of seconds or None (block), not %r"
                        % (what, timeout))
    if timeout != timeout:
        raise ValueError("%s is NaN: give seconds >= 0, or None to block" % what)
    if timeout < 0:
        raise ValueError("%s must be >= 0 seconds (or None to block), got %r" % (what, timeout))
    if timeout == math.inf:
        return None
    return float(timeout)


# -- sockets alive in this process: for fork() and interpreter exit ------------

_live: weakref.WeakSet[Socket] = weakref.WeakSet()
_process_hooks: List[bool] = []


def _track(sock: Socket) -> None:
    """Remember an open socket; on first use, install the fork and exit hooks
    (installed lazily: importing pyxsk has no side effects)."""
    if not _process_hooks:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        atexit.register(_close_at_exit)
        _process_hooks.append(True)
    _live.add(sock)


def _after_fork_in_child() -> None:
    """In a forked child every inherited socket is the parent's: rings,
    UMEM and map slot are shared memory and kernel state the parent still
    uses.  Mark them so that I/O refuses and close() releases only the
    child's copies; locks another thread may have held at fork are renewed."""
    socks = list(_live)
    for umem in {id(sock.umem): sock.umem for sock in socks}.values():
        umem.lock = threading.RLock()
    for sock in socks:
        sock._inherit()


def _close_at_exit() -> None:
    """Close what the program left open, as close() would (an XskSocket
    detaches its program only if it is still the one pyxsk attached).
    Every socket gets its close; the first failure is raised after."""
    failed: Optional[Exception] = None
    for sock in list(_live):
        try:
            sock.close()
        except Exception as e:  # noqa: BLE001 - the others still close; raised below
            failed = failed or e
    if failed is not None:
        raise failed


def read_mmap_offsets(fd: int) -> Tuple[Dict[str, RingOffsets], bool]:
    """XDP_MMAP_OFFSETS as {"rx"|"tx"|"fr"|"cr": RingOffsets}, and whether the
    kernel has ring flags.  Kernels before 5.4 answer with the shorter v1
    struct (no ``flags``); then ``flags`` is None and need_wakeup is off."""
    off = if_xdp.xdp_mmap_offsets()
    n = _libc.getsockopt(fd, if_xdp.SOL_XDP, if_xdp.XDP_MMAP_OFFSETS, off,
                         call="getsockopt(XDP_MMAP_OFFSETS)")
    if n == ctypes.sizeof(if_xdp.xdp_mmap_offsets):
        rings = {name: RingOffsets(r.producer, r.consumer, r.desc, r.flags)
                 for name, r in ((f, getattr(off, f)) for f in ("rx", "tx", "fr", "cr"))}
        return rings, True
    if n == ctypes.sizeof(if_xdp.xdp_mmap_offsets_v1):
        v1 = if_xdp.xdp_mmap_offsets_v1.from_buffer_copy(bytes(off)[:n])
        rings = {name: RingOffsets(r.producer, r.consumer, r.desc, None)
                 for name, r in ((f, getattr(v1, f)) for f in ("rx", "tx", "fr", "cr"))}
        return rings, False
    raise OSError(errno.EPROTO, "XDP_MMAP_OFFSETS answered with %d bytes; pyxsk knows "
                                "%d (Linux 5.4+) and %d (4.18-5.3)"
                  % (n, ctypes.sizeof(if_xdp.xdp_mmap_offsets),
                     ctypes.sizeof(if_xdp.xdp_mmap_offsets_v1)))


def bind(fd: int, sa: if_xdp.sockaddr_xdp, call: str = "bind(AF_XDP)",
         retry: float = BIND_RETRY_SECONDS) -> None:
    """bind(2) an AF_XDP socket to ``sa`` (a sockaddr_xdp).  The kernel frees
    a closed socket's buffer pool from a workqueue, so a queue stays busy for
    ~20 ms after its last socket closed: EBUSY is retried, with backoff, for
    ``retry`` seconds before it counts as "queue already bound"."""
    deadline = time.monotonic() + retry
    delay = 0.002
    while True:
        try:
            _libc.bind(fd, sa, call=call, hints=BIND_HINTS)
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(2 * delay, 0.02)


def resolve_ifindex(interface: Union[int, str, bytes]) -> Tuple[int, str]:
    """(ifindex, name) for an interface name or index, in this namespace."""
    if isinstance(interface, bool) or not isinstance(interface, (int, str, bytes)):
        raise TypeError("interface must be a name or an index, not %r" % (interface,))
    if isinstance(interface, int):
        if interface <= 0:
            raise ConfigError("interface index must be positive, got %d" % interface)
        return interface, _libc.if_indextoname(interface)
    name = interface.decode() if isinstance(interface, bytes) else interface
    return _libc.if_nametoindex(name), name


def _check_ring_size(what: str, n: int, allow_zero: bool = False) -> None:
    if allow_zero and n == 0:
        return
    if not is_power_of_two(n):
        raise ConfigError("%s must be a power of two, got %r" % (what, n))


def _bind_flags(zerocopy: Optional[bool], need_wakeup: Optional[bool]) -> int:
    flags = 0
    if zerocopy is True:
        flags |= if_xdp.XDP_ZEROCOPY
    elif zerocopy is False:
        flags |= if_xdp.XDP_COPY
    elif zerocopy is not None:
        raise ConfigError("zerocopy must be True, False or None (let the kernel choose)")
    if need_wakeup:
        flags |= if_xdp.XDP_USE_NEED_WAKEUP
    return flags


class Socket:
    """An AF_XDP socket bound to ``queue`` of ``interface`` (name or index).

    ``umem``: a :class:`Umem` to use; by default the socket makes its own of
    ``num_frames`` x ``frame_size`` (with ``headroom``) and frees it on close.
    Passing the UMEM of another socket shares it (XDP_SHARED_UMEM): on the same
    queue the two share fill and completion rings, on another queue this
    socket gets its own (Linux 5.10+).  A sharing socket inherits copy mode and
    need_wakeup from the UMEM's first socket.

    ``rx_size``/``tx_size``: descriptor ring sizes (0 for none: a TX-only or
    RX-only socket); ``fill_size``/``comp_size`` default to them.
    ``zerocopy``: True forces zero-copy (XDP_ZEROCOPY), False copy mode
    (XDP_COPY), None lets the kernel choose.  ``need_wakeup`` (default on)
    lets the kernel say when it needs a syscall to make progress.
    ``tx_budget``: frames per sendto in copy mode (XDP_MAX_TX_SKB_BUDGET,
    Linux 6.17; default is the kernel's 32).
    """

    ifindex: int
    ifname: str
    queue: int
    shared: bool
    umem: Umem
    pool: Optional[Pool]
    rx: Optional[ConsumerRing]
    tx: Optional[ProducerRing]
    need_wakeup: bool
    ring_flags: bool
    mtu: int
    max_frame: int
    _child_fd: int

    def __init__(self, interface: Union[int, str, bytes], queue: int = 0, *,
                 umem: Optional[Umem] = None, rx_size: int = DEFAULT_RING_SIZE,
                 tx_size: int = DEFAULT_RING_SIZE, fill_size: Optional[int] = None,
                 comp_size: Optional[int] = None, zerocopy: Optional[bool] = None,
                 need_wakeup: Optional[bool] = None, num_frames: Optional[int] = None,
                 frame_size: Optional[int] = None, headroom: Optional[int] = None,
                 tx_budget: Optional[int] = None) -> None:
        self._fd = -1
        self._netns_fd = -1
        self._inherited = False
        self._lock = threading.RLock()   # the UMEM's, once there is one
        self.rx = self.tx = self.pool = None
        self.need_wakeup = False
        self._rx_budget = 0
        self._retx_length = 0            # no frame is that short: no lengths made yet
        self._retx_lens = memoryview(array("I"))
        self._batch: Optional[Batch] = None
        self._own_umem = False
        fill_size = (rx_size or tx_size) if fill_size is None else fill_size
        comp_size = (tx_size or rx_size) if comp_size is None else comp_size
        self._validate(queue, umem, rx_size, tx_size, fill_size, comp_size, zerocopy,
                       need_wakeup, num_frames, frame_size, headroom, tx_budget)
        if umem is None:
            geometry = (
                (fill_size if rx_size else 0) + tx_size if num_frames is None else num_frames,
                DEFAULT_FRAME_SIZE if frame_size is None else frame_size,
                0 if headroom is None else headroom)
            validate_geometry(*geometry, unaligned=False, page_size=_libc.page_size())
        require_total_store_order()
        self.ifindex, self.ifname = resolve_ifindex(interface)
        self.queue = queue
        shared = umem is not None and umem.registered
        self.shared = shared
        if umem is None:
            umem = Umem(*geometry)
            self._own_umem = True
        self.umem = umem
        self._lock = umem.lock
        self._bind_flags = 0 if shared else _bind_flags(zerocopy, need_wakeup is not False)
        self._gone_check_at = 0.0
        try:
            self._open(rx_size, tx_size, fill_size, comp_size, tx_budget)
            self._netns_fd = netns.open_current()
            self._read_mtu()
        except BaseException:
            self._teardown()
            raise
        _track(self)

    @staticmethod
    def _validate(queue: int, umem: Optional[Umem], rx_size: int, tx_size: int, fill_size: int,
                  comp_size: int, zerocopy: Optional[bool], need_wakeup: Optional[bool],
                  num_frames: Optional[int], frame_size: Optional[int], headroom: Optional[int],
                  tx_budget: Optional[int]) -> None:
        if isinstance(queue, bool) or not isinstance(queue, int) or not 0 <= queue <= _MASK32:
            raise ConfigError("queue must be an int from 0 to 2**32 - 1 (sockaddr_xdp's "
                              "u32), got %r" % (queue,))
        for what, n in (("rx_size", rx_size), ("tx_size", tx_size)):
            _check_ring_size(what, n, allow_zero=True)
        if not rx_size and not tx_size:
            raise ConfigError("a socket needs an RX ring, a TX ring, or both")
        _check_ring_size("fill_size", fill_size)
        _check_ring_size("comp_size", comp_size)
        _bind_flags(zerocopy, need_wakeup)
        if umem is not None:
            if not isinstance(umem, Umem):
                raise TypeError("umem must be a pyxsk.Umem, not %r" % (umem,))
            if umem.closed:
                raise ConfigError("that UMEM is closed")
            given = [n for n, v in (("num_frames", num_frames), ("frame_size", frame_size),
                                    ("headroom", headroom)) if v is not None]
            if given:
                raise ConfigError("%s describe the UMEM: set them on the Umem you pass"
                                  % ", ".join(given))
            if umem.registered and (zerocopy is not None or need_wakeup is not None):
                raise ConfigError("a socket sharing a UMEM inherits zerocopy and "
                                  "need_wakeup from the UMEM's first socket")
        if tx_budget is not None:
            if not tx_size:
                raise ConfigError("tx_budget needs a TX ring")
            if not isinstance(tx_budget, int) or not MIN_TX_SKB_BUDGET <= tx_budget <= tx_size:
                raise ConfigError("tx_budget must be between %d and tx_size (%d), got %r"
                                  % (MIN_TX_SKB_BUDGET, tx_size, tx_budget))

    # -- set-up ---------------------------------------------------------------

    def _call(self, what: str) -> str:
        return "%s(AF_XDP %s queue %d)" % (what, self.ifname, self.queue)

    def _open(self, rx_size: int, tx_size: int, fill_size: int, comp_size: int,
              tx_budget: Optional[int]) -> None:
        fd = self._fd = _libc.socket(if_xdp.AF_XDP, _libc.SOCK_RAW, 0,
                                     call=self._call("socket"), hints=SOCKET_HINTS)
        umem = self.umem
        pool = umem.find_pool(self.ifindex, self.queue)
        if not umem.registered:
            umem.register(fd)
        if pool is None:
            self._set_ring_size(if_xdp.XDP_UMEM_FILL_RING, fill_size, "fill")
            self._set_ring_size(if_xdp.XDP_UMEM_COMPLETION_RING, comp_size, "completion")
        if rx_size:
            self._set_ring_size(if_xdp.XDP_RX_RING, rx_size, "rx")
        if tx_size:
            self._set_ring_size(if_xdp.XDP_TX_RING, tx_size, "tx")
        offsets, self.ring_flags = read_mmap_offsets(fd)
        if pool is None:
            fill = ProducerRing.map(fd, if_xdp.XDP_UMEM_PGOFF_FILL_RING, offsets["fr"],
                                    fill_size, ADDR_ENTRY, "fill")
            try:
                comp = ConsumerRing.map(fd, if_xdp.XDP_UMEM_PGOFF_COMPLETION_RING,
                                        offsets["cr"], comp_size, ADDR_ENTRY, "completion")
            except BaseException:
                fill.close()
                raise
            pool = Pool(umem, self.ifindex, self.queue, fill, comp,
                        "%s/%d" % (self.ifname, self.queue))
        self.pool = pool
        pool.sockets.append(self)
        pool.rx_budget += rx_size
        self._rx_budget = rx_size
        if rx_size:
            self.rx = ConsumerRing.map(fd, if_xdp.XDP_PGOFF_RX_RING, offsets["rx"], rx_size,
                                       DESC_ENTRY, "rx")
        if tx_size:
            self.tx = ProducerRing.map(fd, if_xdp.XDP_PGOFF_TX_RING, offsets["tx"], tx_size,
                                       DESC_ENTRY, "tx")
        if tx_budget is not None:
            _libc.setsockopt_int(fd, if_xdp.SOL_XDP, if_xdp.XDP_MAX_TX_SKB_BUDGET, tx_budget,
                                 call=self._call("setsockopt(XDP_MAX_TX_SKB_BUDGET)"),
                                 hints=TX_BUDGET_HINTS)
        self._bind()
        self._pollin = (_libc.pollfd * 1)(_libc.pollfd(fd, _libc.POLLIN, 0))
        self._pollout = (_libc.pollfd * 1)(_libc.pollfd(fd, _libc.POLLOUT, 0))
        if not self.shared:
            umem.bind_flags = self._bind_flags
        self.need_wakeup = self.ring_flags and bool(umem.bind_flags & if_xdp.XDP_USE_NEED_WAKEUP)
        self._kick_always = not self.need_wakeup
        if self.rx is not None and len(pool.sockets) == 1:
            pool.refill()          # up to the RX budget, leaving the TX reserve

    def _set_ring_size(self, option: int, size: int, name: str) -> None:
        _libc.setsockopt_int(self._fd, if_xdp.SOL_XDP, option, size,
                             call=self._call("setsockopt(%s ring size %d)" % (name, size)),
                             hints=RING_HINTS)

    def _bind(self) -> None:
        sa = if_xdp.sockaddr_xdp(sxdp_family=if_xdp.AF_XDP, sxdp_flags=self._bind_flags,
                                 sxdp_ifindex=self.ifindex, sxdp_queue_id=self.queue)
        if self.shared:
            sa.sxdp_flags = if_xdp.XDP_SHARED_UMEM
            sa.sxdp_shared_umem_fd = self.umem.any_bound_fd(exclude=self)
        bind(self._fd, sa, call=self._call("bind"))

    # -- the basics -----------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def fileno(self) -> int:
        """The socket's fd (-1 once closed), for selectors, asyncio and XSKMAP."""
        return self._fd

    def _require_open(self) -> Pool:
        """The socket's pool, if it is open; ValueError (InheritedSocketError
        in a forked child) if not."""
        pool = self.pool
        if self._fd < 0 or pool is None:
            if self._inherited:
                raise InheritedSocketError(
                    "%r was inherited through fork(): its rings and UMEM are the parent's, "
                    "which still uses them; open a socket of the child's own (close() here "
                    "releases only the child's copies)" % self)
            raise ValueError("I/O operation on a closed AF_XDP socket")
        return pool

    # -- the interface under the socket ----------------------------------------

    def check_interface(self) -> None:
        """Raise :class:`~pyxsk.errors.InterfaceGoneError` if the interface
        was deleted under the socket.

        The kernel's netdev notifier then unbinds the socket (and sets
        SO_ERROR to ENETDOWN once), and AF_XDP's poll(2) reports no event, so
        a wait would last forever.  An unbound socket answers
        recvfrom(MSG_DONTWAIT) with ENXIO -- every time, unlike SO_ERROR,
        which reading clears -- and a bound one with 0 (or ENOBUFS without an
        RX ring, ENETDOWN while the link is down): one cheap syscall.
        Blocking and looping calls make it for you, at most every
        GONE_CHECK_SECONDS while they wait."""
        self._require_open()
        try:
            _libc.recvfrom(self._fd, None, 0, _libc.MSG_DONTWAIT, call=self._call("recvfrom"))
        except OSError as e:
            if e.errno == errno.ENXIO:
                raise self._gone("recvfrom")
            if e.errno not in (errno.EAGAIN, errno.ENOBUFS, errno.ENETDOWN):
                raise

    def _gone(self, what: str) -> InterfaceGoneError:
        return syscall_error(errno.ENETDOWN, self._call(what), cls=InterfaceGoneError,
                             interface="%s (index %d)" % (self.ifname, self.ifindex))

    def _check_deleted_soon(self) -> None:
        """The link is down.  A deletion takes it down first and unbinds the
        socket a moment later: watch for that for DOWN_GRACE_SECONDS, so a
        deleted interface is reported as gone, not as down."""
        deadline = _monotonic() + DOWN_GRACE_SECONDS
        while True:
            self.check_interface()
            if _monotonic() >= deadline:
                return
            time.sleep(0.005)

    def _idle(self) -> None:
        """Nothing to do right now: check the interface, at most every
        GONE_CHECK_SECONDS (a loop polling with timeout 0 must end too)."""
        now = _monotonic()
        if now >= self._gone_check_at:
            self._gone_check_at = now + GONE_CHECK_SECONDS
            self.check_interface()

    # -- what the interface carries ---------------------------------------------

    def _read_mtu(self) -> None:
        """The longest frame the interface carries: its MTU (RTM_GETLINK)
        plus the Ethernet header.  Copy-mode TX completes longer (or shorter
        than ETH_HLEN) frames and the device drops them without a counter,
        so :meth:`send` refuses them.  Read at bind, again when a frame is
        longer (the MTU may have grown) and every MTU_RECHECK_SECONDS while
        sending (it may have shrunk) -- asked in the socket's own namespace
        (the same index names another device elsewhere), which the calling
        thread need not be in."""
        self._mtu_expires = _monotonic() + MTU_RECHECK_SECONDS
        try:
            mtu = link.get_link(self.ifindex, netns=self._netns_fd).mtu
        except OSError as e:
            if e.errno == errno.ENODEV:
                raise self._gone("RTM_GETLINK")
            raise
        self.mtu = mtu
        self.max_frame = min(mtu + ETH_HLEN, self.umem.tx_capacity)

    def statistics(self) -> XdpStatistics:
        """XDP_STATISTICS as :class:`XdpStatistics` (None for counters the
        kernel does not report; it reports the first three always, refusing
        a shorter buffer)."""
        self._require_open()
        stats = if_xdp.xdp_statistics()
        n = _libc.getsockopt(self._fd, if_xdp.SOL_XDP, if_xdp.XDP_STATISTICS, stats,
                             call=self._call("getsockopt(XDP_STATISTICS)"))
        later = [getattr(stats, name) if (i + 1) * 8 <= n else None
                 for i, name in enumerate(XdpStatistics._fields) if i >= 3]
        return XdpStatistics(stats.rx_dropped, stats.rx_invalid_descs, stats.tx_invalid_descs,
                             *later)

    def options(self) -> XdpOptions:
        """XDP_OPTIONS as :class:`XdpOptions`."""
        self._require_open()
        opts = if_xdp.xdp_options()
        try:
            _libc.getsockopt(self._fd, if_xdp.SOL_XDP, if_xdp.XDP_OPTIONS, opts,
                             call=self._call("getsockopt(XDP_OPTIONS)"))
        except OSError as e:
            if e.errno != errno.ENOPROTOOPT:
                raise
            return XdpOptions(None)
        return XdpOptions(bool(opts.flags & if_xdp.XDP_OPTIONS_ZEROCOPY))

    def poll(self, timeout: Optional[float] = None) -> bool:
        """Wait until frames are waiting on the RX ring.  ``timeout`` in
        seconds as in ``selectors``: None (or ``math.inf``) blocks, 0 only
        checks.  Returns True when frames are ready.  The poll(2) also wakes
        the driver when the kernel asked for it (need_wakeup).  The wait is
        cut in slices of GONE_CHECK_SECONDS, so a deleted interface ends it
        with :class:`~pyxsk.errors.InterfaceGoneError`."""
        if timeout is not None and timeout != 0:
            timeout = check_timeout(timeout)
        rx = self.rx
        if rx is None or self._fd < 0:
            self._require_open()
            raise ValueError("this socket has no RX ring")
        if rx.available(1):
            return True
        if timeout == 0:
            pool = self.pool                 # not None: the socket is open
            if pool is not None and pool.fill.needs_wakeup():
                _libc.poll(self._pollin, 0, call=self._call("poll"))
                if rx.available(1):
                    return True
            self._idle()
            return False
        return self._wait_readable(timeout)

    def _wait_readable(self, timeout: Optional[float]) -> bool:
        deadline = None if timeout is None else _monotonic() + timeout
        call = self._call("poll")
        while True:
            wait = GONE_CHECK_SECONDS
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - _monotonic()))
            _libc.poll(self._pollin, wait, call=call)
            rx = self.rx
            if rx is None:                   # closed by another thread meanwhile
                self._require_open()
                raise ValueError("I/O operation on a closed AF_XDP socket")
            if rx.available(1):
                return True
            self._idle()
            if deadline is not None and _monotonic() >= deadline:
                return False

    # -- transmit -------------------------------------------------------------

    def kick(self) -> bool:
        """Tell the kernel to transmit, if it asked for that (or cannot say):
        one sendto(MSG_DONTWAIT).  Returns True when the kernel took
        everything, False when it wants another kick (budget used up, device
        busy).  Other errors raise."""
        self._require_open()
        tx = self.tx
        if tx is None:
            raise ValueError("this socket has no TX ring")
        if not self._kick_always and not tx.needs_wakeup():
            return True
        n, err = _libc.raw_sendto(self._fd, None, 0, _libc.MSG_DONTWAIT)
        if n >= 0:
            return True
        if err in _KICK_AGAIN:
            return False
        if err == errno.ENXIO:           # unbound: only a deleted interface does that
            raise self._gone("sendto")
        if err == errno.ENETDOWN:
            self._check_deleted_soon()
        raise syscall_error(err, self._call("sendto"), KICK_HINTS.get(err))

    def _push(self, pool: Pool, tx: ProducerRing) -> None:
        """Kick until the kernel has taken every pending TX descriptor or says
        to wait.  Bounded: one kick per 32 frames pending (the kernel's
        per-call budget).  A full completion ring stops the kernel (EAGAIN:
        it reserves a completion slot per frame), so it is reaped then.
        ``pool`` and ``tx``: this socket's."""
        comp = pool.comp
        for _ in range(tx.pending() // MIN_TX_SKB_BUDGET + 2):
            if self.kick() and not tx.pending():
                break
            if comp.available(comp.size) >= comp.size:
                pool.reap()

    def complete(self) -> int:
        """Reap the completion ring: chunks whose frames have been sent
        become free for new frames.  Returns how many."""
        with self._lock:
            return self._require_open().reap()

    def _require_tx(self) -> Tuple[Pool, ProducerRing]:
        """The socket's pool and TX ring, if it is open and has one."""
        pool = self._require_open()
        tx = self.tx
        if tx is None:
            raise ValueError("this socket has no TX ring")
        return pool, tx

    def send(self, frames: Iterable[FrameLike]) -> int:
        """Copy ``frames`` (a list of bytes-like objects) into free chunks and
        queue them on the TX ring, kicking the kernel as needed.  Returns how
        many were queued: fewer than given when the TX ring or the UMEM is
        full (call again after :meth:`flush`, or use :meth:`sendall`).

        Every frame is checked first and a list with one bad frame is refused
        whole (ConfigError): frames shorter than an Ethernet header or longer
        than the interface carries (MTU + 14 bytes, + 4 with a VLAN tag),
        which the kernel would complete and then drop without a trace."""
        listed = _frame_list(frames)
        self._require_tx()
        checked, lengths = self._frame_lengths(listed)
        with self._lock:
            pool, tx = self._require_tx()
            return self._send(pool, tx, checked, lengths)

    def _send(self, pool: Pool, tx: ProducerRing, frames: Sequence[BytesLike],
              lengths: List[int]) -> int:
        """:meth:`send` of frames whose ``lengths`` have been checked (lock
        held; ``pool`` and ``tx``: this socket's)."""
        pool.reap()
        want = min(len(lengths), tx.free(len(lengths)))
        addrs = pool.take(want)
        n = len(addrs)
        if not n:
            return 0
        view = self.umem.view
        lens = array("I", lengths[:n])
        for i in range(n):
            a = addrs[i]
            view[a:a + lens[i]] = frames[i]
        self._submit(pool, tx, addrs, lens)
        return n

    def _frame_lengths(self, frames: Sequence[FrameLike]) -> Tuple[Sequence[BytesLike], List[int]]:
        """``(frames, lengths)``, each frame checked against what the
        interface carries before anything is queued.  Objects that are not
        bytes-like but convert with ``bytes()`` (scapy packets define
        ``__bytes__``) are converted, in a copy of the list."""
        if _monotonic() >= self._mtu_expires:
            self._read_mtu()
        high = self.max_frame
        lengths = []
        # typed as they are once the loop is done: memoryview() refuses the
        # others, which are converted then
        buffers = cast("Sequence[BytesLike]", frames)
        for i, frame in enumerate(buffers):
            try:
                n = memoryview(frame).nbytes
            except TypeError:
                buffers = _converted(buffers, i)
                frame = buffers[i]
                n = memoryview(frame).nbytes
            if not ETH_HLEN <= n <= high:
                self._check_length(i, n, frame)
                high = self.max_frame        # the MTU may have been read again
            lengths.append(n)
        return buffers, lengths

    def _check_length(self, i: int, n: int, frame: Optional[BytesLike] = None) -> None:
        """Frame ``i`` of ``n`` bytes lies outside [ETH_HLEN, max_frame]:
        accept it if it carries a VLAN tag that fits or the MTU has grown
        since it was read, raise ConfigError naming the limit otherwise.
        ``frame`` None: the bytes are unknown (no VLAN allowance)."""
        what = "frame %d is %d bytes" % (i, n)
        if n < ETH_HLEN:
            raise ConfigError("%s: shorter than an Ethernet header (%d bytes); the kernel "
                              "would complete it and drop it" % (what, ETH_HLEN))
        cap = self.umem.tx_capacity
        if n > cap:
            raise ConfigError("%s: longer than a UMEM chunk holds for TX (%d bytes)" % (what, cap))
        limit = self.mtu + ETH_HLEN
        if frame is not None and n <= limit + VLAN_HLEN \
                and bytes(memoryview(frame)[12:14]) in _VLAN_TPIDS:
            return
        self._read_mtu()
        limit = self.mtu + ETH_HLEN
        if n <= limit:
            return
        raise ConfigError("%s: %s carries at most %d (MTU %d + Ethernet header%s); the kernel "
                          "would complete it and drop it" % (
                              what, self.ifname, limit, self.mtu,
                              ", + 4 with a VLAN tag" if frame is not None else ""))

    def _submit(self, pool: Pool, tx: ProducerRing, addrs: array[int], lens: array[int]) -> None:
        """Queue descriptors (chunks owned by this socket's pool) and kick."""
        count, idx = tx.reserve(len(addrs))
        tx.write_addrs(idx, addrs)
        tx.write_lens(idx, lens)
        tx.submit()
        pool.tx_given += count
        self._push(pool, tx)

    def sendall(self, frames: Iterable[FrameLike], timeout: Optional[float] = None) -> int:
        """Queue every frame, waiting for room as needed; TimeoutError (with
        how many were queued) when ``timeout`` seconds pass first (None or
        ``math.inf``: no limit).  Frames are checked as by :meth:`send`."""
        timeout = check_timeout(timeout)
        listed = _frame_list(frames)
        _, tx = self._require_tx()
        checked, lengths = self._frame_lengths(listed)
        deadline = None if timeout is None else _monotonic() + timeout
        done = 0
        while done < len(checked):
            end = done + tx.size
            with self._lock:
                pool, tx = self._require_tx()
                done += self._send(pool, tx, checked[done:end], lengths[done:end])
            if done < len(checked):
                if deadline is not None and _monotonic() >= deadline:
                    raise TimeoutError("sendall: %d of %d frames queued in %.3g s"
                                       % (done, len(checked), timeout or 0.0))
                self._wait_tx_progress(deadline)
        return done

    def _wait_tx_progress(self, deadline: Optional[float]) -> None:
        with self._lock:
            pool, tx = self._require_tx()
            self._push(pool, tx)
            if pool.reap() or tx.free(1):
                return
        remaining = None if deadline is None else max(0.0, deadline - _monotonic())
        _libc.poll(self._pollout, min(0.01, remaining) if remaining is not None else 0.01,
                   call=self._call("poll"))
        self._idle()

    def flush(self, timeout: Optional[float] = 1.0) -> int:
        """Push out every queued frame and reap every completion, for at most
        ``timeout`` seconds (None or ``math.inf``: until done).  Returns how
        many frames are still in flight."""
        timeout = check_timeout(timeout)
        deadline = None if timeout is None else _monotonic() + timeout
        while True:
            with self._lock:
                pool = self._require_open()
                tx = self.tx
                if tx is not None and tx.pending():
                    self._push(pool, tx)
                pool.reap()
                left = self.in_flight()
            self._idle()
            if not left or (deadline is not None and _monotonic() >= deadline):
                return left
            time.sleep(0.0005)

    def in_flight(self) -> int:
        """Frames queued on TX whose completion has not been reaped yet."""
        pool = self._require_open()
        return pool.tx_given - pool.comp_taken

    def retransmit(self, length: int, max_frames: Optional[int] = None) -> int:
        """Send again, unchanged, frames whose transmission has completed: the
        completion ring's entries go straight back on the TX ring by slice
        copies, with ``length`` as every frame's length (a traffic
        generator's loop; the chunks must hold frames of that length, which
        must fit the interface as for :meth:`send`).  ``max_frames``: at most
        that many (default: a TX ring's worth).  Returns how many were queued."""
        if max_frames is not None:
            check_count(max_frames, "max_frames", none_ok=True)
        if isinstance(length, bool) or not isinstance(length, int):
            raise TypeError("length must be an int, not %r" % (length,))
        self._require_tx()
        if not ETH_HLEN <= length <= self.max_frame:
            self._check_length(0, length)
        with self._lock:
            pool, tx = self._require_tx()
            count = self._retransmit(pool, tx, length, max_frames or tx.size)
        if not count:
            self._idle()
        return count

    def _retransmit(self, pool: Pool, tx: ProducerRing, length: int, max_frames: int) -> int:
        comp = pool.comp
        want = min(max_frames, tx.free(max_frames))
        n, c_idx = comp.peek(want)
        pool.check_completions(comp, c_idx, n)      # never resend a refused address
        count = 0
        if n:
            count, t_idx = tx.reserve(n)
            comp.cancel(n - count)
            transfer(comp, c_idx, tx, t_idx, count, word=0)
            if self._retx_length != length:      # one length for every frame
                self._retx_lens = memoryview(array("I", [length]) * tx.size)
                self._retx_length = length
            tx.write_lens(t_idx, self._retx_lens[:count])
            comp.release()
            tx.submit()
            pool.comp_taken += count
            pool.tx_given += count
        if count or tx.pending():
            self._push(pool, tx)
        return count

    # -- receive --------------------------------------------------------------

    def recv(self, max_frames: int = 64, timeout: Optional[float] = None) -> Batch:
        """Take up to ``max_frames`` received frames as a :class:`Batch` of
        memoryviews into UMEM, read in place on the RX ring.  Waits up to
        ``timeout`` seconds (None or ``math.inf``: until frames arrive, 0:
        not at all) when none are ready; an empty batch on timeout.  The
        previous batch is released first."""
        if max_frames.__class__ is not int or max_frames < 1:
            check_count(max_frames, "max_frames")
        if timeout is not None and timeout != 0:
            timeout = check_timeout(timeout)
        batch = self._next_batch(max_frames)
        if batch:
            return batch
        if timeout == 0:
            self._idle()
            return batch
        if self.poll(timeout):
            batch = self._next_batch(max_frames)
        return batch

    def _next_batch(self, max_frames: int) -> Batch:
        """Release the previous batch, take the next one (empty if nothing
        is waiting) and top up the fill ring: one step under the lock, so
        that batches of one socket are settled in the order they were taken."""
        with self._lock:
            pool = self.pool
            if self._fd < 0 or pool is None:
                pool = self._require_open()
            rx = self.rx
            if rx is None:
                raise ValueError("this socket has no RX ring")
            if self._batch is not None:
                self._batch.release()
            n, idx = self._peek(rx, max_frames)
            pool.receive(rx, idx, n)        # checks the addresses, then counts
            self._batch = batch = Batch(self, rx, pool, idx, n)
            if pool.rx_path() < pool.rx_budget and (pool.spare or self.umem.free_count()) \
                    and pool.refill():
                self.wakeup()
            return batch

    def _peek(self, rx: ConsumerRing, max_frames: int) -> Tuple[int, int]:
        """Peek RX entries up to the end of the ring: a batch is one view."""
        return rx.peek(min(max_frames, rx.size - (rx.cached_cons & rx.mask)))

    def _settle(self, batch: Batch, sent: int) -> None:
        """A batch is done with: its first ``sent`` entries went to a TX
        ring (:meth:`forward`), the others' chunks go back to the fill ring;
        then the RX entries are handed back to the kernel."""
        with self._lock:
            if self._fd < 0:
                self._require_open()
            addrs = batch.addrs
            if addrs is None:
                raise ValueError("this batch of frames has been released")
            n = len(addrs)
            pool, rx = batch._pool, batch._rx
            if n > sent:
                pool.recycle_rx(rx, batch.idx + sent, n - sent)
            pool.user_held -= n
            rx._cons[0] = (batch.idx + n) & _MASK32
            batch._revoke()
            if self._batch is batch:
                self._batch = None

    def forward(self, batch: Batch, to: Optional[Socket] = None) -> int:
        """Transmit the frames of a received ``batch`` on socket ``to`` (this
        one by default): without copying when ``to`` uses the same UMEM --
        the whole descriptors move from this RX ring to its TX ring by slice
        copies -- and by copying otherwise.  Frames that find no room on the
        TX ring are dropped (their chunks go back to the fill ring).  The
        batch is used up either way; returns how many frames were queued.
        A frame longer than ``to``'s interface carries is refused
        (ConfigError) before anything moves."""
        dst = self if to is None else to
        with self._lock:
            self._require_open()
            dst_pool, dst_tx = dst._require_tx()
            addrs, lens = batch.addrs, batch.lens
            if addrs is None or lens is None:
                raise ValueError("this batch of frames has been released")
            if batch._sock is not self:
                raise ValueError("forward a batch from the socket that received it")
            if dst.umem is self.umem:
                return self._forward_within(batch, addrs, lens, dst, dst_pool, dst_tx)
            frames, lengths = dst._frame_lengths(batch.tobytes())
            self._settle(batch, 0)
        with dst._lock:
            dst_pool, dst_tx = dst._require_tx()
            return dst._send(dst_pool, dst_tx, frames, lengths)

    def _forward_within(self, batch: Batch, addrs: memoryview, lens: memoryview, dst: Socket,
                        dst_pool: Pool, dst_tx: ProducerRing) -> int:
        """forward() between sockets of one UMEM: descriptors move ring to
        ring (``addrs`` and ``lens``: the batch's; ``dst_pool`` and
        ``dst_tx``: those of ``dst``)."""
        if lens and max(lens) > dst.max_frame:
            for i, n in enumerate(lens):
                if n > dst.max_frame:
                    dst._check_length(i, n, batch[i])
        dst_pool.reap()
        count, idx = dst_tx.reserve(len(addrs))
        if count:
            transfer(batch._rx, batch.idx, dst_tx, idx, count, word=None)
            dst_tx.submit()
            if dst_pool is not batch._pool:
                self.umem._set_owner(addrs[:count], dst_pool.code)
            dst_pool.tx_given += count
        self._settle(batch, count)
        if count:
            dst._push(dst_pool, dst_tx)
        return count

    def wakeup(self) -> bool:
        """Wake the driver to fill RX if the kernel asked for it (need_wakeup
        set on the fill ring): recvfrom(NULL, 0, MSG_DONTWAIT), the cheapest
        syscall that does it (Python's recv(0) never reaches the kernel).
        Returns True if a syscall was made."""
        if not self._require_open().fill.needs_wakeup():
            return False
        try:
            _libc.recvfrom(self._fd, None, 0, _libc.MSG_DONTWAIT, call=self._call("recvfrom"))
        except BlockingIOError:
            pass   # nothing to receive: the wake-up happened all the same
        except OSError as e:
            if e.errno == errno.ENXIO:
                raise self._gone("recvfrom")
            raise
        return True

    def __iter__(self) -> Iterator[memoryview]:
        """``for frame in xsk``: every received frame, waiting as long as it
        takes.  A frame stays valid until the next batch is fetched (after
        the last frame of its own batch): copy what you keep."""
        while True:
            for frame in self.recv(64, None):
                yield frame

    def recv_bytes(self, max_frames: int = 64, timeout: Optional[float] = None) -> List[bytes]:
        """Like :meth:`recv`, but copies: a list of ``bytes``, chunks given back at once."""
        with self.recv(max_frames, timeout) as batch:
            return batch.tobytes()

    def discard(self, max_frames: Optional[int] = None) -> int:
        """Drop received frames without looking at them: RX entries go
        straight back to the fill ring by slice copies (rxdrop).  At most
        ``max_frames`` (default: an RX ring's worth).  Returns how many were
        dropped."""
        if max_frames is not None and (max_frames.__class__ is not int or max_frames < 1):
            check_count(max_frames, "max_frames", none_ok=True)
        with self._lock:
            pool = self.pool
            if self._fd < 0 or pool is None:
                pool = self._require_open()
            rx = self.rx
            if rx is None:
                raise ValueError("this socket has no RX ring")
            n = self._discard(pool, rx, max_frames or rx.size)
        if not n:
            self._idle()
        return n

    def _discard(self, pool: Pool, rx: ConsumerRing, max_frames: int) -> int:
        if self._batch is not None:      # its entries come before the ones to drop
            self._batch.release()
        if self.umem.unaligned:          # fill entries must be chunk starts
            with self._next_batch(max_frames) as batch:
                return len(batch)
        return pool.discard(rx, max_frames)      # the addresses are checked

    # -- teardown -------------------------------------------------------------

    def close(self) -> None:
        """Unmap the rings, close the socket, and give back every chunk it
        held.  Idempotent.  In a child that inherited the socket through
        fork(), only the child's copies of the fd and mappings go."""
        _live.discard(self)
        if self._inherited:
            self._release_inherited()
            return
        with self._lock:
            if self._fd < 0 and self.pool is None and self.rx is None and self.tx is None:
                self._close_umem()
                return
            self._teardown()

    def _teardown(self) -> None:
        if self._batch is not None:
            self._batch.release()
            self._batch = None
        pool = self.pool
        fault = None           # a LedgerError while flushing, raised once closed
        if pool is not None and self._fd >= 0 and self.tx is not None:
            fault = self._flush_quietly()
        if pool is not None:
            pool.sockets.remove(self)
            pool.rx_budget -= self._rx_budget
            if pool.sockets and self.rx is not None:
                _reclaim_rx(pool, self.rx)
        for ring in (self.rx, self.tx):
            if ring is not None:
                ring.close()
        self.rx = self.tx = None
        if pool is not None and not pool.sockets:
            pool.fill.close()
            pool.comp.close()
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            _libc.close(fd, call=self._call("close"))
        self._close_netns_fd()
        if pool is not None and not pool.sockets:
            pool.destroy()
        self.pool = None
        self._close_umem()
        if fault is not None:
            raise fault

    def _flush_quietly(self) -> Optional[LedgerError]:
        """Before closing, frames already queued go out -- unless the
        interface is down or gone, which must not stop the close, or the
        kernel returned addresses pyxsk refuses: that LedgerError is
        returned, to be raised once the socket is closed."""
        try:
            self.flush(CLOSE_FLUSH_SECONDS)
        except OSError as e:
            if e.errno not in _INTERFACE_GONE:
                raise
        except LedgerError as e:
            return e
        return None

    def _close_netns_fd(self) -> None:
        fd, self._netns_fd = self._netns_fd, -1
        if fd >= 0:
            os.close(fd)

    def _close_umem(self) -> None:
        if self._own_umem and not self.umem.closed:
            self.umem.close()

    # -- fork() ---------------------------------------------------------------

    def _inherit(self) -> None:
        """This process is a child that inherited the socket through fork():
        refuse I/O from now on (the fd reads as -1) and keep the fd only to
        close it.  See :func:`_after_fork_in_child`."""
        self._inherited = True
        self._child_fd, self._fd = self._fd, -1
        self._lock = self.umem.lock

    def _release_inherited(self) -> None:
        """close() in a forked child: let go of the child's copies of the fd
        and the ring and UMEM mappings, and nothing else -- no write to the
        rings or the UMEM (shared with the parent and the kernel), no word to
        the kernel about the parent's socket."""
        batch, self._batch = self._batch, None
        if batch is not None and not batch.released:
            batch._revoke()
        for ring in (self.rx, self.tx):
            if ring is not None:
                ring.close()
        self.rx = self.tx = None
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.sockets.remove(self)
            if not pool.sockets:
                pool.fill.close()
                pool.comp.close()
                pool.forget()
        fd, self._child_fd = getattr(self, "_child_fd", -1), -1
        if fd >= 0:
            _libc.close(fd, call=self._call("close (inherited copy)"))
        self._close_netns_fd()
        self._close_umem()

    def __del__(self) -> None:
        if getattr(self, "_inherited", False):
            self.close()
        elif getattr(self, "_fd", -1) >= 0:
            warnings.warn("unclosed %r" % (self,), ResourceWarning, source=self)
            self.close()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._fd < 0:
            return "<pyxsk.Socket %s queue %d [closed]>" % (
                getattr(self, "ifname", "?"), getattr(self, "queue", -1))
        modes: Dict[Optional[bool], str] = {True: "zero-copy", False: "copy", None: "?"}
        mode = modes[self.options().zerocopy]
        rings = " ".join("%s=%d" % (name, ring.size) for name, ring in
                         (("rx", self.rx), ("tx", self.tx)) if ring is not None)
        return "<pyxsk.Socket %s queue %d fd=%d %s%s%s %s>" % (
            self.ifname, self.queue, self._fd, mode,
            " need_wakeup" if self.need_wakeup else "",
            " shared" if self.shared else "", rings)


def _frame_list(frames: Iterable[FrameLike]) -> Sequence[FrameLike]:
    """``frames`` as a list or tuple; TypeError for one frame passed alone."""
    if isinstance(frames, (list, tuple)):
        return frames
    if isinstance(frames, (bytes, bytearray, memoryview, str)):
        raise TypeError("send takes a list of frames, not a single %s: send([frame])"
                        % type(frames).__name__)
    try:
        return list(frames)
    except TypeError:
        raise TypeError("frames must be an iterable of bytes-like objects, not %s"
                        % type(frames).__name__) from None


def _converted(frames: Sequence[BytesLike], i: int) -> List[BytesLike]:
    """``frames`` with frame ``i`` made ``bytes`` through its ``__bytes__``
    (a copy of the list the first time: the caller's stays as it was)."""
    frame: object = frames[i]
    if not isinstance(frame, SupportsBytes):       # typing's: checks for __bytes__
        raise TypeError("frame %d is a %s, not a bytes-like object (nor one with __bytes__)"
                        % (i, type(frame).__name__))
    frames = list(frames)
    frames[i] = bytes(frame)
    return frames


def _reclaim_rx(pool: Pool, rx: ConsumerRing) -> None:
    """A socket leaves a pool that lives on: the frames waiting on its RX ring
    are the pool's chunks back from the kernel; recycle them."""
    n = (rx.shared_producer() - rx.cached_cons) & _MASK32
    if n:
        pool.rx_taken += n
        pool.recycle_rx(rx, rx.cached_cons, n)
