"""The AF_XDP socket: one queue of one interface, its rings, and batched I/O.

Set-up follows the kernel's order (and the seed article's): socket(AF_XDP),
XDP_UMEM_REG (first socket of a UMEM), ring sizes, XDP_MMAP_OFFSETS, mmap
of the rings, bind.  Nothing is sent to the kernel before every argument has
been checked.

This socket does not load or attach an XDP program: frames reach its RX ring
only once a program redirects them into an XSKMAP slot holding
:meth:`Socket.fileno` (see :class:`pyxsk.XskSocket`, which does all of it).
"""

import collections
import ctypes
import errno
import time
from array import array

from . import _libc
from .errors import ConfigError, LedgerError, syscall_error
from .frames import Batch
from .ring import (ADDR_ENTRY, DESC_ENTRY, ConsumerRing, ProducerRing, is_power_of_two,
                   require_total_store_order, transfer)
from .umem import Pool, Umem, validate_geometry
from .uapi import if_xdp

DEFAULT_RING_SIZE = 2048
DEFAULT_FRAME_SIZE = 4096
MIN_TX_SKB_BUDGET = 32          # XDP_MAX_TX_SKB_BUDGET: allowed from 32 to the TX ring size
BIND_RETRY_SECONDS = 0.1        # a queue stays busy ~20 ms after its last socket closed
CLOSE_FLUSH_SECONDS = 0.05

XdpStatistics = collections.namedtuple(
    "XdpStatistics", "rx_dropped rx_invalid_descs tx_invalid_descs rx_ring_full "
                     "rx_fill_ring_empty_descs tx_ring_empty_descs")
XdpStatistics.__doc__ = """XDP_STATISTICS.  Kernels before 5.9 report only the
first three counters; the others are then None."""

XdpOptions = collections.namedtuple("XdpOptions", "zerocopy")
XdpOptions.__doc__ = """XDP_OPTIONS: ``zerocopy`` is True when the driver
works on UMEM directly, False in copy mode, None on kernels before 5.3."""

RingOffsets = collections.namedtuple("RingOffsets", "producer consumer desc flags")

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


def read_mmap_offsets(fd):
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


def bind(fd, sa, call="bind(AF_XDP)", retry=BIND_RETRY_SECONDS):
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


def resolve_ifindex(interface):
    """(ifindex, name) for an interface name or index, in this namespace."""
    if isinstance(interface, bool) or not isinstance(interface, (int, str, bytes)):
        raise TypeError("interface must be a name or an index, not %r" % (interface,))
    if isinstance(interface, int):
        if interface <= 0:
            raise ConfigError("interface index must be positive, got %d" % interface)
        return interface, _libc.if_indextoname(interface)
    name = interface.decode() if isinstance(interface, bytes) else interface
    return _libc.if_nametoindex(name), name


def _check_ring_size(what, n, allow_zero=False):
    if allow_zero and n == 0:
        return
    if not is_power_of_two(n):
        raise ConfigError("%s must be a power of two, got %r" % (what, n))


def _bind_flags(zerocopy, need_wakeup):
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

    def __init__(self, interface, queue=0, *, umem=None, rx_size=DEFAULT_RING_SIZE,
                 tx_size=DEFAULT_RING_SIZE, fill_size=None, comp_size=None, zerocopy=None,
                 need_wakeup=None, num_frames=None, frame_size=None, headroom=None,
                 tx_budget=None):
        self._fd = -1
        self.rx = self.tx = self.pool = None
        self.need_wakeup = False
        self._rx_budget = 0
        self._retx_length = self._retx_lens = None
        self._batch = None
        self._own_umem = False
        self.umem = None
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
        self._bind_flags = 0 if shared else _bind_flags(zerocopy, need_wakeup is not False)
        try:
            self._open(rx_size, tx_size, fill_size, comp_size, tx_budget)
        except BaseException:
            self._teardown()
            raise

    @staticmethod
    def _validate(queue, umem, rx_size, tx_size, fill_size, comp_size, zerocopy,
                  need_wakeup, num_frames, frame_size, headroom, tx_budget):
        if isinstance(queue, bool) or not isinstance(queue, int) or queue < 0:
            raise ConfigError("queue must be an int >= 0, got %r" % (queue,))
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

    def _call(self, what):
        return "%s(AF_XDP %s queue %d)" % (what, self.ifname, self.queue)

    def _open(self, rx_size, tx_size, fill_size, comp_size, tx_budget):
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
            pool.refill()          # up to the RX budget, leaving the TX reserve (h-ledger)

    def _set_ring_size(self, option, size, name):
        _libc.setsockopt_int(self._fd, if_xdp.SOL_XDP, option, size,
                             call=self._call("setsockopt(%s ring size %d)" % (name, size)),
                             hints=RING_HINTS)

    def _bind(self):
        sa = if_xdp.sockaddr_xdp(sxdp_family=if_xdp.AF_XDP, sxdp_flags=self._bind_flags,
                                 sxdp_ifindex=self.ifindex, sxdp_queue_id=self.queue)
        if self.shared:
            sa.sxdp_flags = if_xdp.XDP_SHARED_UMEM
            sa.sxdp_shared_umem_fd = self.umem.any_bound_fd(exclude=self)
        bind(self._fd, sa, call=self._call("bind"))

    # -- the basics -----------------------------------------------------------

    @property
    def closed(self):
        return self._fd < 0

    def fileno(self):
        """The socket's fd (-1 once closed), for selectors, asyncio and XSKMAP."""
        return self._fd

    def _require_open(self):
        if self._fd < 0:
            raise ValueError("I/O operation on a closed AF_XDP socket")

    def statistics(self):
        """XDP_STATISTICS as :class:`XdpStatistics` (None for counters the
        kernel does not report)."""
        self._require_open()
        stats = if_xdp.xdp_statistics()
        n = _libc.getsockopt(self._fd, if_xdp.SOL_XDP, if_xdp.XDP_STATISTICS, stats,
                             call=self._call("getsockopt(XDP_STATISTICS)"))
        values = [getattr(stats, name) if (i + 1) * 8 <= n else None
                  for i, name in enumerate(XdpStatistics._fields)]
        return XdpStatistics(*values)

    def options(self):
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

    def poll(self, timeout=None):
        """Wait until frames are waiting on the RX ring.  ``timeout`` in
        seconds as in ``selectors``: None blocks, 0 only checks.  Returns
        True when frames are ready.  The poll(2) also wakes the driver when
        the kernel asked for it (need_wakeup)."""
        rx = self.rx
        if rx is None:
            self._require_open()
            raise ValueError("this socket has no RX ring")
        if rx.available(1):
            return True
        if timeout == 0 and not self.pool.fill.needs_wakeup():
            return False
        _libc.poll(self._pollin, timeout, call=self._call("poll"))
        return rx.available(1) > 0

    # -- transmit -------------------------------------------------------------

    def kick(self):
        """Tell the kernel to transmit, if it asked for that (or cannot say):
        one sendto(MSG_DONTWAIT).  Returns True when the kernel took
        everything, False when it wants another kick (budget used up, device
        busy).  Other errors raise."""
        self._require_open()
        if self.tx is None:
            raise ValueError("this socket has no TX ring")
        if not self._kick_always and not self.tx.needs_wakeup():
            return True
        n, err = _libc.raw_sendto(self._fd, None, 0, _libc.MSG_DONTWAIT)
        if n >= 0:
            return True
        if err in _KICK_AGAIN:
            return False
        raise syscall_error(err, self._call("sendto"), KICK_HINTS.get(err))

    def _push(self):
        """Kick until the kernel has taken every pending TX descriptor or says
        to wait.  Bounded: one kick per 32 frames pending (the kernel's
        per-call budget).  A full completion ring stops the kernel (EAGAIN:
        it reserves a completion slot per frame), so it is reaped then."""
        comp = self.pool.comp
        for _ in range(self.tx.pending() // MIN_TX_SKB_BUDGET + 2):
            if self.kick() and not self.tx.pending():
                break
            if comp.available(comp.size) >= comp.size:
                self.pool.reap()

    def complete(self):
        """Reap the completion ring: chunks whose frames have been sent
        become free for new frames.  Returns how many."""
        self._require_open()
        return self.pool.reap()

    def send(self, frames):
        """Copy ``frames`` (bytes-like objects) into free chunks and queue them
        on the TX ring, kicking the kernel as needed.  Returns how many were
        queued: fewer than given when the TX ring or the UMEM is full (call
        again after :meth:`flush`, or use :meth:`sendall`)."""
        self._require_open()
        if self.tx is None:
            raise ValueError("this socket has no TX ring")
        return self._send(frames, self._frame_lengths(frames))

    def _send(self, frames, lengths):
        """:meth:`send` of frames whose ``lengths`` have been checked."""
        pool = self.pool
        pool.reap()
        want = min(len(lengths), self.tx.free(len(lengths)))
        addrs = pool.take(want)
        n = len(addrs)
        if not n:
            return 0
        view = self.umem.view
        lens = array("I", lengths[:n])
        for i in range(n):
            a = addrs[i]
            view[a:a + lens[i]] = frames[i]
        self._submit(addrs, lens)
        return n

    def _frame_lengths(self, frames):
        """Lengths of ``frames``; ValueError before anything is queued if one
        is empty or longer than a chunk."""
        cap = self.umem.tx_capacity
        lengths = []
        for i, frame in enumerate(frames):
            n = memoryview(frame).nbytes
            if not 0 < n <= cap:
                raise ConfigError("frame %d is %d bytes: frames must be 1 to %d bytes "
                                  "(the chunk size)" % (i, n, cap))
            lengths.append(n)
        return lengths

    def _submit(self, addrs, lens):
        """Queue descriptors (chunks owned by this socket's pool) and kick."""
        count, idx = self.tx.reserve(len(addrs))
        self.tx.write_addrs(idx, addrs)
        self.tx.write_lens(idx, lens)
        self.tx.submit()
        self.pool.tx_given += count
        self._push()

    def sendall(self, frames, timeout=None):
        """Queue every frame, waiting for room as needed; TimeoutError (with
        how many were queued) when ``timeout`` seconds pass first."""
        self._require_open()
        if self.tx is None:
            raise ValueError("this socket has no TX ring")
        frames = list(frames)
        lengths = self._frame_lengths(frames)
        deadline = None if timeout is None else time.monotonic() + timeout
        done = 0
        while done < len(frames):
            end = done + self.tx.size
            done += self._send(frames[done:end], lengths[done:end])
            if done < len(frames):
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError("sendall: %d of %d frames queued in %.3g s"
                                       % (done, len(frames), timeout))
                self._wait_tx_progress(deadline)
        return done

    def _wait_tx_progress(self, deadline):
        self._push()
        if self.pool.reap() or self.tx.free(1):
            return
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        _libc.poll(self._pollout, min(0.01, remaining) if remaining is not None else 0.01,
                   call=self._call("poll"))

    def flush(self, timeout=1.0):
        """Push out every queued frame and reap every completion, for at most
        ``timeout`` seconds.  Returns how many frames are still in flight."""
        self._require_open()
        deadline = time.monotonic() + timeout
        while True:
            if self.tx.pending():
                self._push()
            self.pool.reap()
            left = self.in_flight()
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.0005)

    def in_flight(self):
        """Frames queued on TX whose completion has not been reaped yet."""
        pool = self.pool
        return pool.tx_given - pool.comp_taken

    def retransmit(self, length, max_frames=None):
        """Send again, unchanged, frames whose transmission has completed: the
        completion ring's entries go straight back on the TX ring by slice
        copies, with ``length`` as every frame's length (a traffic
        generator's loop; the chunks must hold frames of that length).
        Returns how many were queued."""
        self._require_open()
        if self.tx is None:
            raise ValueError("this socket has no TX ring")
        if not isinstance(length, int) or not 0 < length <= self.umem.tx_capacity:
            raise ConfigError("length %r: frames are 1 to %d bytes (the chunk size)"
                              % (length, self.umem.tx_capacity))
        comp, tx = self.pool.comp, self.tx
        want = min(max_frames or tx.size, tx.free(max_frames or tx.size))
        n, c_idx = comp.peek(want)
        self.pool.check_completions(comp, c_idx, n)      # h-ledger: never resend a refused address
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
            self.pool.comp_taken += count
            self.pool.tx_given += count
        if count or tx.pending():
            self._push()
        return count

    # -- receive --------------------------------------------------------------

    def recv(self, max_frames=64, timeout=None):
        """Take up to ``max_frames`` received frames as a :class:`Batch` of
        memoryviews into UMEM, read in place on the RX ring.  Waits up to
        ``timeout`` seconds (None: until frames arrive, 0: not at all) when
        none are ready; an empty batch on timeout.  The previous batch is
        released first."""
        if self._fd < 0:
            self._require_open()
        if self.rx is None:
            raise ValueError("this socket has no RX ring")
        if self._batch is not None:
            self._batch.release()
        n, idx = self._peek(max_frames)
        if not n and timeout != 0 and self.poll(timeout):
            n, idx = self._peek(max_frames)
        pool = self.pool
        pool.receive(self.rx, idx, n)          # checks the addresses, then counts (h-ledger)
        self._batch = batch = Batch(self, idx, n)
        if pool.rx_path() < pool.rx_budget and (pool.spare or self.umem.free_count()) \
                and pool.refill():
            self.wakeup()
        return batch

    def _peek(self, max_frames):
        """Peek RX entries up to the end of the ring: a batch is one view."""
        rx = self.rx
        return rx.peek(min(max_frames, rx.size - (rx.cached_cons & rx.mask)))

    def _settle(self, batch, sent):
        """A batch is done with: its first ``sent`` entries went to a TX
        ring (:meth:`forward`), the others' chunks go back to the fill ring;
        then the RX entries are handed back to the kernel."""
        n = len(batch.addrs)
        pool = self.pool
        if n > sent:
            pool.recycle_rx(self.rx, batch.idx + sent, n - sent)
        pool.user_held -= n
        self.rx._cons[0] = (batch.idx + n) & _MASK32
        batch._revoke()
        if self._batch is batch:
            self._batch = None

    def forward(self, batch, to=None):
        """Transmit the frames of a received ``batch`` on socket ``to`` (this
        one by default): without copying when ``to`` uses the same UMEM --
        the whole descriptors move from this RX ring to its TX ring by slice
        copies -- and by copying otherwise.  Frames that find no room on the
        TX ring are dropped (their chunks go back to the fill ring).  The
        batch is used up either way; returns how many frames were queued."""
        self._require_open()
        dst = self if to is None else to
        dst._require_open()
        if dst.tx is None:
            raise ValueError("%r has no TX ring" % dst)
        if batch.released:
            raise ValueError("this batch of frames has been released")
        if batch._sock is not self:
            raise ValueError("forward a batch from the socket that received it")
        if dst.umem is not self.umem:
            sent = dst.send(batch.tobytes())
            self._settle(batch, 0)
            return sent
        dst.pool.reap()
        count, idx = dst.tx.reserve(len(batch))
        if count:
            transfer(self.rx, batch.idx, dst.tx, idx, count, word=None)
            dst.tx.submit()
            if dst.pool is not self.pool:
                self.umem._set_owner(batch.addrs[:count], dst.pool.code)
            dst.pool.tx_given += count
        self._settle(batch, count)
        if count:
            dst._push()
        return count

    def wakeup(self):
        """Wake the driver to fill RX if the kernel asked for it (need_wakeup
        set on the fill ring): recvfrom(NULL, 0, MSG_DONTWAIT), the cheapest
        syscall that does it (Python's recv(0) never reaches the kernel).
        Returns True if a syscall was made."""
        self._require_open()
        if not self.pool.fill.needs_wakeup():
            return False
        try:
            _libc.recvfrom(self._fd, None, 0, _libc.MSG_DONTWAIT, call=self._call("recvfrom"))
        except BlockingIOError:
            pass   # nothing to receive: the wake-up happened all the same
        return True

    def __iter__(self):
        """``for frame in xsk``: every received frame, waiting as long as it
        takes.  A frame stays valid until the next batch is fetched (after
        the last frame of its own batch): copy what you keep."""
        while True:
            for frame in self.recv(64, None):
                yield frame

    def recv_bytes(self, max_frames=64, timeout=None):
        """Like :meth:`recv`, but copies: a list of ``bytes``, chunks given back at once."""
        with self.recv(max_frames, timeout) as batch:
            return batch.tobytes()

    def discard(self, max_frames=None):
        """Drop received frames without looking at them: RX entries go
        straight back to the fill ring by slice copies (rxdrop).  Returns how
        many were dropped."""
        if self._fd < 0:
            self._require_open()
        if self._batch is not None:      # its entries come before the ones to drop
            self._batch.release()
        pool = self.pool
        if self.umem.unaligned:          # fill entries must be chunk starts
            with self.recv(max_frames or self.rx.size, 0) as batch:
                return len(batch)
        return pool.discard(self.rx, max_frames or self.rx.size)   # h-ledger: checks the addresses

    # -- teardown -------------------------------------------------------------

    def close(self):
        """Unmap the rings, close the socket, and give back every chunk it
        held.  Idempotent."""
        if self._fd < 0 and self.pool is None and self.rx is None and self.tx is None:
            self._close_umem()
            return
        self._teardown()

    def _teardown(self):
        if self._batch is not None:
            self._batch.release()
            self._batch = None
        pool = self.pool
        fault = None           # h-ledger: a LedgerError while flushing, raised once closed
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
        if pool is not None and not pool.sockets:
            pool.destroy()
        self.pool = None
        self._close_umem()
        if fault is not None:
            raise fault

    def _flush_quietly(self):
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

    def _close_umem(self):
        if self._own_umem and self.umem is not None and not self.umem.closed:
            self.umem.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        if self._fd < 0:
            return "<pyxsk.Socket %s queue %d [closed]>" % (
                getattr(self, "ifname", "?"), getattr(self, "queue", -1))
        mode = {True: "zero-copy", False: "copy", None: "?"}[self.options().zerocopy]
        rings = " ".join("%s=%d" % (name, ring.size) for name, ring in
                         (("rx", self.rx), ("tx", self.tx)) if ring is not None)
        return "<pyxsk.Socket %s queue %d fd=%d %s%s%s %s>" % (
            self.ifname, self.queue, self._fd, mode,
            " need_wakeup" if self.need_wakeup else "",
            " shared" if self.shared else "", rings)


def _reclaim_rx(pool, rx):
    """A socket leaves a pool that lives on: the frames waiting on its RX ring
    are the pool's chunks back from the kernel; recycle them."""
    n = (rx.shared_producer() - rx.cached_cons) & _MASK32
    if n:
        pool.rx_taken += n
        pool.recycle_rx(rx, rx.cached_cons, n)
