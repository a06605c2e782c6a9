"""UMEM: the packet memory AF_XDP sockets share with the kernel.

The area is mapped anonymously (page aligned, as XDP_UMEM_REG requires) and
cut into equal chunks, one frame each.  Descriptors name a chunk by its
offset from the start of the area ("address").

Ownership ledger.  Every chunk belongs to exactly one owner, recorded in one
byte per chunk: FREE (on the UMEM's free list), USER (handed to the
application by :meth:`Umem.alloc`) or a :class:`Pool` -- the fill and
completion rings of one (interface, queue), the kernel's ``xsk_buff_pool``.
The owner byte changes only when a chunk moves between owners; a chunk that
cycles inside one pool (RX back to fill, completion back to TX) costs no
per-chunk work, which keeps receive and transmit loops batch-only.

Inside a pool the counters say where the pool's chunks are: given to the fill
ring and not yet back on an RX ring, held by the application in receive
batches, given to TX and not yet back on the completion ring, or idle in the
pool's spare list.  :meth:`Umem.check` proves that the owner bytes, the free
list, the spare lists, the live batches, the visible ring contents and the
counters all agree -- every chunk in exactly one place.

The kernel is not trusted with that: every address it returns on an RX or
completion ring is checked against the owner bytes before pyxsk shows or
reuses it (:meth:`Pool.owns_all`, vectorised), because a changed address --
Linux 6.18's copy-mode TX clears bit 0 of odd ones -- would otherwise name a
chunk that is somewhere else and hand it out twice.

When the last socket of a pool closes, the kernel frees the pool together with
whatever it held (chunks on the fill ring, in its internal free list, in
flight on TX); the owner bytes still say which chunks those were, so every
one of them goes back on the free list.  This is the teardown the seed article
calls "icky": it needs neither the kernel's private cursors nor in-order
completion.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import operator
import re
import threading
from array import array
from typing import (TYPE_CHECKING, Dict, Iterable, List, NamedTuple, Optional, Sequence, Set,
                    Tuple, TypeVar, Union)

from . import _libc
from .errors import ConfigError, LedgerError
from .mapping import Mapping
from .ring import ConsumerRing, ProducerRing, copy_addrs, is_power_of_two, rx_to_fill
from .uapi import if_xdp

if TYPE_CHECKING:
    from .frames import Batch
    from .xsk import Socket

_T = TypeVar("_T")

FREE = 0
USER = 1
_FIRST_POOL = 2
_LAST_POOL = 255

MIN_CHUNK_SIZE = 2048          # XDP_UMEM_MIN_CHUNK_SIZE in net/xdp/xdp_umem.c

# What xdp_umem_reg() keeps out of every chunk besides the caller's headroom
# (net/xdp/xdp_umem.c, since commit a315e022a72d "xsk: tighten UMEM headroom
# validation to account for tailroom and min frame", 2026, in the stable
# kernels too): it refuses headroom > chunk_size - XDP_PACKET_HEADROOM -
# SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) - 128.  The tailroom is where
# a multi-buffer frame keeps its skb_shared_info; 128 bytes is the smallest
# frame the kernel leaves room for ("HW typically works with 128-aligned
# sizes").  sizeof(struct skb_shared_info) is 320 bytes on x86-64 with the
# default CONFIG_MAX_SKB_FRAGS=17 (the BTF of this 6.18 kernel says so), and
# SKB_DATA_ALIGN rounds it up to a 64-byte cache line: still 320.
SKB_SHARED_INFO_TAILROOM = 320
MIN_RX_FRAME = 128
CHUNK_RESERVE = if_xdp.XDP_PACKET_HEADROOM + SKB_SHARED_INFO_TAILROOM + MIN_RX_FRAME

# Commit 0ebc27a4c67d ("xsk: avoid data corruption on cq descriptor number",
# Linux 6.18 and the stable kernels it went to) keeps the address of a
# copy-mode TX frame in skb_shinfo(skb)->destructor_arg with bit 0 set as a
# tag (xsk_skb_destructor_set_addr), and xsk_destruct_skb ->
# xsk_cq_submit_addr_locked writes it to the completion ring with bit 0
# cleared (xsk_skb_destructor_get_addr).  An odd TX address comes back one
# lower: in unaligned mode, where an odd chunk start is possible, that is the
# last byte of the chunk before.
_ODD_CHUNKS_HINT = ("unaligned chunks of odd size start at odd addresses, and copy-mode "
                    "TX on Linux 6.18 (commit 0ebc27a4c67d, also in stable kernels) "
                    "returns an odd address on the completion ring with bit 0 cleared, "
                    "which names the chunk before it")
_ADDR_MASK = if_xdp.XSK_UNALIGNED_BUF_ADDR_MASK
_OFFSET_SHIFT = if_xdp.XSK_UNALIGNED_BUF_OFFSET_SHIFT

UMEM_REG_HINTS = {
    errno.EINVAL: "the kernel refused the chunk size, headroom, address or flags "
                  "(unaligned chunks need Linux 5.4, tx_metadata_len 6.8)",
    errno.ENOBUFS: "UMEM pages count against RLIMIT_MEMLOCK: raise it (ulimit -l) "
                   "or run with CAP_IPC_LOCK",
    errno.ENOMEM: "UMEM pages count against RLIMIT_MEMLOCK: raise it (ulimit -l) "
                  "or run with CAP_IPC_LOCK",
    errno.EBUSY: "this socket already has a UMEM registered",
    errno.EPERM: "AF_XDP needs CAP_NET_RAW",
}



class PoolLedger(NamedTuple):
    """Where one pool's chunks are: ``fill`` given to the fill ring
    and still in the kernel's hands, ``rx`` waiting on RX rings, ``user`` in
    receive batches, ``tx`` given to TX and not yet completed, ``completion``
    waiting on the completion ring, ``spare`` idle in the pool."""
    queue: int
    fill: int
    rx: int
    user: int
    tx: int
    completion: int
    spare: int


class Ledger(NamedTuple):
    """The result of :meth:`Umem.check`: chunk counts per owner;
    ``pools`` maps "ifname-or-index/queue" to a :class:`PoolLedger`."""
    total: int
    free: int
    user: int
    pools: Dict[str, PoolLedger]


# where :meth:`Pool.ledger` says chunks are: (place, their addresses)
Visible = List[Tuple[str, Sequence[int]]]


def _every_lane(value: int, lanes: int) -> int:
    """An int holding the u64 ``value`` in each of ``lanes`` 64-bit lanes."""
    return int.from_bytes(value.to_bytes(8, "little") * lanes, "little")


def huge_page_size() -> int:
    """The default huge page size in bytes, from /proc/meminfo."""
    with open("/proc/meminfo") as f:
        m = re.search(r"^Hugepagesize:\s+(\d+) kB", f.read(), re.M)
    if not m:
        raise ConfigError("this kernel reports no huge page size (no hugetlbfs)")
    return int(m.group(1)) * 1024


def _round_up(n: int, unit: int) -> int:
    return (n + unit - 1) // unit * unit


def max_headroom(frame_size: int) -> int:
    """The largest headroom XDP_UMEM_REG accepts for chunks of ``frame_size``."""
    return frame_size - CHUNK_RESERVE


def validate_geometry(num_frames: int, frame_size: int, headroom: int, unaligned: bool,
                      page_size: int, tx_metadata_len: int = 0) -> None:
    """Raise ConfigError for a UMEM the kernel would refuse (xdp_umem_reg), or
    one whose chunks the running kernel would hand back wrongly (odd unaligned
    sizes)."""
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ConfigError("num_frames must be a positive int, got %r" % (num_frames,))
    if not isinstance(frame_size, int):
        raise ConfigError("frame_size must be an int, got %r" % (frame_size,))
    if not MIN_CHUNK_SIZE <= frame_size <= page_size:
        raise ConfigError("frame_size %d out of range: chunks are %d bytes to one page (%d)"
                          % (frame_size, MIN_CHUNK_SIZE, page_size))
    if not unaligned and not is_power_of_two(frame_size):
        raise ConfigError("frame_size %d is not a power of two (needed unless unaligned=True)"
                          % frame_size)
    if unaligned and frame_size % 2:
        raise ConfigError("frame_size %d: %s; use an even size such as %d"
                          % (frame_size, _ODD_CHUNKS_HINT, frame_size + 1))
    if not isinstance(headroom, int) or not 0 <= headroom <= max_headroom(frame_size):
        raise ConfigError("headroom %r must be 0 to %d for %d-byte chunks: the kernel keeps "
                          "XDP_PACKET_HEADROOM (%d), the skb_shared_info tailroom (%d) and a "
                          "%d-byte minimum frame out of every chunk (xdp_umem_reg)"
                          % (headroom, max_headroom(frame_size), frame_size,
                             if_xdp.XDP_PACKET_HEADROOM, SKB_SHARED_INFO_TAILROOM, MIN_RX_FRAME))
    if not isinstance(tx_metadata_len, int) or tx_metadata_len % 8 or not 0 <= tx_metadata_len < 256:
        raise ConfigError("tx_metadata_len %r must be a multiple of 8 below 256" % (tx_metadata_len,))


class Umem:
    """``num_frames`` chunks of ``frame_size`` bytes, registered with the
    kernel by the first socket that uses it.

    ``headroom`` bytes at the start of every chunk are left free by the kernel
    on receive (room to prepend headers); ``unaligned=True`` sets
    XDP_UMEM_UNALIGNED_CHUNK_FLAG (chunk sizes that are not a power of two);
    ``hugepages=True`` backs the area with huge pages (reserve them first:
    /proc/sys/vm/nr_hugepages).
    """

    num_frames: int
    frame_size: int
    headroom: int
    unaligned: bool
    hugepages: bool
    tx_metadata_len: int
    size: int
    view: memoryview         # released once closed
    view16: memoryview       # the same, as 16-bit items
    addr: int
    reg_size: Optional[int]
    bind_flags: int
    closed: bool
    lock: threading.RLock

    def __init__(self, num_frames: int = 4096, frame_size: int = 4096, headroom: int = 0, *,
                 unaligned: bool = False, hugepages: bool = False,
                 tx_metadata_len: int = 0) -> None:
        page = _libc.page_size()
        validate_geometry(num_frames, frame_size, headroom, unaligned, page, tx_metadata_len)
        self.num_frames = num_frames
        self.frame_size = frame_size
        self.headroom = headroom
        self.unaligned = bool(unaligned)
        self.tx_metadata_len = tx_metadata_len
        self.size = num_frames * frame_size
        # log2 of the chunk size; -1 (no shift at all) when it is no power of
        # two, which only unaligned mode allows and where it goes unused
        self._shift = frame_size.bit_length() - 1 if is_power_of_two(frame_size) else -1
        length = _round_up(self.size, huge_page_size() if hugepages else page)
        self.hugepages = bool(hugepages)
        self._mapping = Mapping.anonymous(
            length, _libc.MAP_HUGETLB if hugepages else 0, what="UMEM")
        self.view = self._mapping.view
        self.view16 = self.view[:self.size - self.size % 2].cast("H")   # 16-bit fields
        self.addr = self._mapping.addr
        self._owner = bytearray(num_frames)
        self._lanes = 0           # see _lane_masks
        self._starts_mask = self._indices_mask = 0
        self._free = array("Q", range((num_frames - 1) * frame_size, -1, -frame_size))
        self._user = 0
        self._pools: Dict[int, Pool] = {}
        self.reg_size = None      # sizeof the xdp_umem_reg the kernel accepted
        self.bind_flags = 0       # of the socket that registered it; sharers inherit them
        self.closed = False
        # Taken by every socket of this UMEM around ring and ledger work (not
        # while waiting): the chunks and the free list are shared by all of them.
        self.lock = threading.RLock()

    # -- addresses ------------------------------------------------------------

    def chunk_index(self, addr: int) -> int:
        """Which chunk an address (a descriptor's ``addr``) points into."""
        if self.unaligned:
            return (addr & _ADDR_MASK) // self.frame_size
        return addr >> self._shift

    def data_offset(self, addr: int) -> int:
        """Offset in the area of the data a descriptor's ``addr`` points at
        (unaligned mode keeps the data offset in the top 16 bits)."""
        if self.unaligned:
            return (addr & _ADDR_MASK) + (addr >> _OFFSET_SHIFT)
        return addr

    def frame(self, addr: int, length: int) -> memoryview:
        """A memoryview of ``length`` bytes at descriptor address ``addr``."""
        off = self.data_offset(addr)
        return self.view[off:off + length]

    @property
    def rx_capacity(self) -> int:
        """The longest frame the kernel can receive into a chunk: the chunk
        less the headroom and XDP_PACKET_HEADROOM.  The skb_shared_info
        tailroom that XDP_UMEM_REG keeps free is not taken off: copy mode
        checks frames against chunk_size - headroom - XDP_PACKET_HEADROOM
        (xsk_rcv_check, __xsk_pool_get_rx_frame_size).  Zero-copy drivers may
        get less -- xsk_pool_get_rx_frame_size rounds down to 128 bytes and
        takes the tailroom off for multi-buffer -- which pyxsk cannot see."""
        return self.frame_size - self.headroom - if_xdp.XDP_PACKET_HEADROOM

    @property
    def tx_capacity(self) -> int:
        """The longest frame that fits a chunk for transmission."""
        return self.frame_size - self.tx_metadata_len

    # -- allocation -----------------------------------------------------------

    def free_count(self) -> int:
        return len(self._free)

    def alloc(self, n: int) -> array[int]:
        """Take up to ``n`` free chunks for the application: an ``array('Q')``
        of their addresses.  Give them back with :meth:`free` or by sending."""
        with self.lock:
            addrs = self._take(n, USER)
            self._user += len(addrs)
            return addrs

    def free(self, addrs: Iterable[int]) -> None:
        """Return chunks taken with :meth:`alloc` (addresses anywhere inside them)."""
        chunks = array("Q", addrs)
        with self.lock:
            owner = self._owner
            for a in chunks:
                i = self._checked_index(a)
                if owner[i] != USER:
                    raise LedgerError("chunk at 0x%x is not held by the application (owner %d)"
                                      % (a, owner[i]))
            self._user -= len(chunks)
            self._give_back(chunks)

    def _checked_index(self, addr: int) -> int:
        i = self.chunk_index(addr)
        if not 0 <= i < self.num_frames:
            raise ValueError("address 0x%x is outside this UMEM (%d bytes)" % (addr, self.size))
        return i

    def _take(self, n: int, code: int) -> array[int]:
        """Pop up to ``n`` chunk addresses off the free list, now owned by ``code``."""
        free = self._free
        n = min(n, len(free))
        if n <= 0:
            return array("Q")
        addrs = free[len(free) - n:]
        del free[len(free) - n:]
        self._set_owner(addrs, code)
        return addrs

    def _give_back(self, addrs: Sequence[int]) -> None:
        """Put chunks on the free list (owner FREE), each address rounded
        down to the start of its chunk."""
        bases = self.chunk_bases(addrs)
        self._set_owner(bases, FREE)
        self._free.extend(bases)

    def chunk_bases(self, addrs: Sequence[int]) -> array[int]:
        """``array('Q')`` of the start of the chunk each address points into
        (``addrs``: an array('Q'), or any sequence of ints)."""
        if self.unaligned:
            fs = self.frame_size
            return array("Q", [(a & _ADDR_MASK) // fs * fs for a in addrs])
        words = addrs if isinstance(addrs, array) else array("Q", addrs)
        starts, _ = self._lane_masks(len(words))
        big = int.from_bytes(words, "little") & starts
        return array("Q", big.to_bytes(8 * len(words), "little"))

    def chunk_indices(self, addrs: array[int]) -> Union[List[int], memoryview]:
        """The chunk index of every address in ``addrs`` (an array('Q')):
        a 'Q' memoryview, or a list in unaligned mode."""
        if self.unaligned:
            fs = self.frame_size
            return [(a & _ADDR_MASK) // fs for a in addrs]
        _, indices = self._lane_masks(len(addrs))
        big = int.from_bytes(addrs, "little") >> self._shift & indices
        return memoryview(big.to_bytes(8 * len(addrs), "little")).cast("Q")

    def _lane_masks(self, n: int) -> Tuple[int, int]:
        """Masks for aligned chunks, for arithmetic on ``n`` u64 addresses at
        once: the addresses as one little-endian Python int, 64 bits a lane,
        one AND (and one shift) for all of them -- a C loop over the int's
        digits instead of a Python loop over the addresses.  ``starts``
        clears each lane's offset inside its chunk; ``indices`` keeps the
        low 64 - shift bits of each lane after a right shift by ``shift``,
        dropping what the shift moved in from the lane above.  Masks are
        made for the largest batch seen; a shorter int ANDed with them
        keeps its own length.  (None are made for no address: 0 masks.)"""
        if n > self._lanes:
            self._lanes = max(n, 2 * self._lanes, 256)
            self._starts_mask = _every_lane(((1 << 64) - 1) & ~(self.frame_size - 1), self._lanes)
            self._indices_mask = _every_lane((1 << (64 - self._shift)) - 1, self._lanes)
        return self._starts_mask, self._indices_mask

    def describe_owner(self, code: int) -> str:
        """What an owner byte means, for error messages."""
        if code == FREE:
            return "free"
        if code == USER:
            return "held by the application"
        pool = self._pools.get(code)
        if pool is None:
            return "owned by pool %d, which no longer exists" % code
        return "owned by the pool of %s" % pool.label

    def _set_owner(self, addrs: Iterable[int], code: int) -> None:
        owner = self._owner
        if self.unaligned:
            fs = self.frame_size
            for a in addrs:
                owner[(a & _ADDR_MASK) // fs] = code
        else:
            sh = self._shift
            for a in addrs:
                owner[a >> sh] = code

    # -- registration ---------------------------------------------------------

    def _reg_flags(self) -> int:
        flags = if_xdp.XDP_UMEM_UNALIGNED_CHUNK_FLAG if self.unaligned else 0
        if self.tx_metadata_len:
            flags |= if_xdp.XDP_UMEM_TX_METADATA_LEN
        return flags

    def register(self, fd: int) -> None:
        """XDP_UMEM_REG on socket ``fd``.  Kernels before 5.4 knew only the
        24-byte struct without flags; when the full struct gets EINVAL and no
        flag is needed, the short one is tried before giving up."""
        flags = self._reg_flags()
        reg = if_xdp.xdp_umem_reg(addr=self.addr, len=self.size, chunk_size=self.frame_size,
                                  headroom=self.headroom, flags=flags,
                                  tx_metadata_len=self.tx_metadata_len)
        call = "setsockopt(XDP_UMEM_REG, %d x %d bytes)" % (self.num_frames, self.frame_size)
        try:
            _libc.setsockopt(fd, if_xdp.SOL_XDP, if_xdp.XDP_UMEM_REG, reg, call=call,
                             hints=UMEM_REG_HINTS)
            self.reg_size = ctypes.sizeof(reg)
        except OSError as e:
            if e.errno != errno.EINVAL or flags:
                raise
            v1 = if_xdp.xdp_umem_reg_v1(addr=self.addr, len=self.size,
                                         chunk_size=self.frame_size, headroom=self.headroom)
            _libc.setsockopt(fd, if_xdp.SOL_XDP, if_xdp.XDP_UMEM_REG, v1,
                             call=call + " with the pre-5.4 struct", hints=UMEM_REG_HINTS)
            self.reg_size = ctypes.sizeof(v1)

    @property
    def registered(self) -> bool:
        return self.reg_size is not None and bool(self._pools)

    # -- pools ----------------------------------------------------------------

    def pools(self) -> List[Pool]:
        return list(self._pools.values())

    def find_pool(self, ifindex: int, queue: int) -> Optional[Pool]:
        for pool in self._pools.values():
            if pool.ifindex == ifindex and pool.queue == queue:
                return pool
        return None

    def _new_pool_id(self) -> int:
        for code in range(_FIRST_POOL, _LAST_POOL + 1):
            if code not in self._pools:
                return code
        raise ConfigError("one UMEM can serve at most %d queues" % (_LAST_POOL - _FIRST_POOL + 1))

    def any_bound_fd(self, exclude: Optional[Socket] = None) -> int:
        """The fd of a bound socket using this UMEM, for XDP_SHARED_UMEM."""
        for pool in self._pools.values():
            for sock in pool.sockets:
                if sock is not exclude and sock.fileno() >= 0:
                    return sock.fileno()
        raise ConfigError("no bound socket uses this UMEM any more")

    # -- the ledger -----------------------------------------------------------

    def check(self) -> Ledger:
        """Prove every chunk is in exactly one place; return a :class:`Ledger`.

        Raises LedgerError naming every inconsistency found.  Exact at any
        time, also under traffic: it relies on the owner bytes and on pyxsk's
        own counters, and reads from the rings only entries the kernel has
        published and cannot take back.
        """
        with self.lock:
            return self._check()

    def _check(self) -> Ledger:
        problems: List[str] = []
        owner = self._owner
        counts = collections.Counter(owner)
        seen: Dict[int, str] = {}

        def place(addrs: Sequence[int], where: str, code: int, starts: bool = False) -> None:
            for a in addrs:
                i = self.chunk_index(a)
                if not 0 <= i < self.num_frames:
                    problems.append("%s: address 0x%x outside the UMEM" % (where, a))
                    continue
                if starts and a != i * self.frame_size:
                    problems.append("%s: address 0x%x is not the start of chunk %d"
                                    % (where, a, i))
                if i in seen:
                    problems.append("chunk %d is both %s and %s" % (i, seen[i], where))
                seen[i] = where
                if owner[i] != code:
                    problems.append("chunk %d is %s but its owner byte says %d"
                                    % (i, where, owner[i]))

        place(self._free, "free", FREE, starts=True)
        if counts[FREE] != len(self._free):
            problems.append("%d chunks owned FREE, %d on the free list"
                            % (counts[FREE], len(self._free)))
        if counts[USER] != self._user:
            problems.append("%d chunks owned by the application, %d handed out"
                            % (counts[USER], self._user))
        pools: Dict[str, PoolLedger] = {}
        for code, pool in self._pools.items():
            ledger, visible = pool.ledger()
            for where, addrs in visible:
                place(addrs, "%s of %s" % (where, pool.label), code, starts=where == "spare")
            held = sum(ledger[1:])
            if counts[code] != held:
                problems.append("%s owns %d chunks by the owner bytes, %d by its counters %s"
                                % (pool.label, counts[code], held, ledger))
            pools[pool.label] = ledger
        stray = set(counts) - {FREE, USER} - set(self._pools)
        for code in stray:
            problems.append("%d chunks owned by pool %d, which no longer exists" % (counts[code], code))
        if problems:
            raise LedgerError("UMEM ledger inconsistent:\n  " + "\n  ".join(problems))
        return Ledger(self.num_frames, counts[FREE], counts[USER], pools)

    # -- lifetime -------------------------------------------------------------

    def close(self) -> None:
        """Unmap the area.  Idempotent.  Refused while a socket uses it, or
        while a memoryview into it (a frame) is alive.  ``view`` and
        ``view16`` stay, released."""
        if self.closed:
            return
        if self._pools:
            raise RuntimeError("UMEM still used by %d socket(s): close them first"
                               % sum(len(p.sockets) for p in self._pools.values()))
        self.view16.release()
        self._mapping.close()
        self.closed = True

    def __enter__(self) -> Umem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "%d free, %d pools" % (len(self._free), len(self._pools))
        return "<pyxsk.Umem %d x %d%s%s [%s]>" % (
            self.num_frames, self.frame_size, " unaligned" if self.unaligned else "",
            " hugepages" if self.hugepages else "", state)




class Pool:
    """The fill and completion rings of one (interface, queue) of a UMEM.

    The kernel keeps one buffer pool per UMEM, device and queue; sockets
    bound to the same queue with XDP_SHARED_UMEM share it (and its two
    rings), sockets on other queues get pools of their own.  The pool owns the
    chunks it has handed to the kernel, the chunks its sockets have received
    and not yet given back, and a spare list of idle chunks; the counters
    below say how many are where.
    """

    umem: Umem
    code: int
    ifindex: int
    queue: int
    label: str
    fill: ProducerRing
    comp: ConsumerRing
    sockets: List[Socket]
    spare: array[int]
    spare_limit: int
    batches: Set[Batch]
    fill_given: int
    rx_taken: int
    tx_given: int
    comp_taken: int
    user_held: int
    rx_budget: int

    def __init__(self, umem: Umem, ifindex: int, queue: int, fill: ProducerRing,
                 comp: ConsumerRing, label: str) -> None:
        self.umem = umem
        self.code = umem._new_pool_id()
        self.ifindex = ifindex
        self.queue = queue
        self.label = label
        self.fill = fill
        self.comp = comp
        self.sockets = []
        self.spare = array("Q")
        self.spare_limit = comp.size
        self.batches = set()
        self.fill_given = 0    # chunks written to the fill ring
        self.rx_taken = 0      # ... and read back off RX rings
        self.tx_given = 0      # chunks written to TX rings
        self.comp_taken = 0    # ... and read back off the completion ring
        self.user_held = 0     # in receive batches
        self.rx_budget = 0     # room on the RX rings of the pool's sockets
        umem._pools[self.code] = self

    @property
    def alive(self) -> bool:
        return self.code in self.umem._pools

    # -- moving chunks --------------------------------------------------------

    def take(self, n: int) -> array[int]:
        """Up to ``n`` chunks for transmission, spare ones first: an
        ``array('Q')`` of chunk start addresses, owned by this pool and
        counted nowhere until the caller counts them (tx_given)."""
        spare = self.spare
        k = min(n, len(spare))
        got = spare[len(spare) - k:]
        del spare[len(spare) - k:]
        if k < n:
            got.extend(self.umem._take(n - k, self.code))
        return got

    def stash(self, addrs: array[int]) -> None:
        """Keep idle chunks (their start addresses) as spares up to the limit;
        the rest go back to the UMEM's free list for other pools."""
        room = max(0, self.spare_limit - len(self.spare))
        self.spare.extend(addrs[:room])
        if len(addrs) > room:
            self.umem._give_back(addrs[room:])

    def rx_path(self) -> int:
        """Chunks given for receiving and not yet back: on the fill ring, in
        the kernel, on RX rings, in receive batches."""
        return self.fill_given - self.rx_taken + self.user_held

    def tx_in_flight(self) -> int:
        """Chunks given to TX rings and not yet reaped off the completion ring."""
        return self.tx_given - self.comp_taken

    def tx_reserve(self) -> int:
        """How many chunks refills leave for transmission: as many as the
        pool's TX rings hold, but at most half of the chunks within the pool's
        reach (its own and the UMEM's free ones), so receiving keeps the
        other half.  With 1024 chunks and 2048-entry rings (the kernel
        selftest's geometry) that is 512 each way."""
        ring = 0
        for sock in self.sockets:
            if sock.tx is not None:
                ring += sock.tx.size
        reach = (self.rx_path() + self.tx_in_flight() + len(self.spare)
                 + self.umem.free_count())
        return min(ring, reach // 2)

    def refill(self, limit: Optional[int] = None) -> int:
        """Put idle chunks (spare, then free) on the fill ring, up to the
        pool's RX budget and never into the TX reserve; returns how many.

        The budget is the room on the pool's RX rings.  More chunks than that
        would not receive more: when the application falls behind and its RX
        ring fills, the kernel would still take a chunk from the fill ring,
        copy the frame into it, and only then drop it for lack of room --
        a wasted copy on the receiving CPU.  With no chunk left on the fill
        ring it drops the frame before copying.

        The reserve (:meth:`tx_reserve`) is counted with the chunks in flight
        on TX: they come back as spares.  Without it, a socket with fewer
        chunks than its RX budget would put every chunk on the fill ring at
        its first refill, and send() would find none, ever: received chunks
        go straight back to the fill ring."""
        fill = self.fill
        want = self.rx_budget - self.rx_path()
        if limit is not None:
            want = min(want, limit)
        if want <= 0:
            return 0
        short = max(0, self.tx_reserve() - self.tx_in_flight())
        want = min(want, len(self.spare) + self.umem.free_count() - short, fill.free(want))
        if want <= 0:
            return 0
        addrs = self.take(want)
        if not addrs:
            return 0
        count, idx = fill.reserve(len(addrs))
        fill.write_addrs(idx, addrs)
        fill.submit()
        self.fill_given += count
        return count

    def recycle_rx(self, rx: ConsumerRing, idx: int, n: int) -> None:
        """The chunks of RX entries [idx, idx + n) go back on the fill ring,
        by slice copies, as far as it has room (aligned mode: the kernel
        masks the data offset off fill entries); the rest become spares."""
        if self.umem.unaligned:
            self._to_fill(self.umem.chunk_bases(_ring_addrs(rx, idx, n)))
            return
        count = copy_addrs(rx, idx, self.fill, n)
        self.fill_given += count
        if count < n:
            self.stash(self.umem.chunk_bases(_ring_addrs(rx, idx + count, n - count)))

    def receive(self, rx: ConsumerRing, idx: int, n: int) -> None:
        """Count the RX entries [idx, idx + n) a socket of this pool has just
        peeked as taken into a receive batch, once their addresses are
        checked (:meth:`owns_all`).  If one is refused, the batch is dropped
        instead, and LedgerError says why: the entries go back to the
        kernel, the chunks of the good ones to the fill ring, the refused
        addresses nowhere."""
        if n:
            got = _ring_addrs(rx, idx, n)
            if not self.owns_all(got):
                raise self._refuse_rx(rx, got)
        self.rx_taken += n
        self.user_held += n

    def discard(self, rx: ConsumerRing, limit: int) -> int:
        """Drop up to ``limit`` received frames unseen (rxdrop): their RX
        entries go straight back to the fill ring by slice copies (aligned
        mode only: the kernel masks the data offset off fill entries), once
        their addresses are checked as :meth:`receive` does; returns how
        many."""
        n = min(limit, rx.available(limit))
        if n:
            got = _ring_addrs(rx, rx.cached_cons, n)
            if not self.owns_all(got):
                rx.peek(n)
                raise self._refuse_rx(rx, got)
        moved = rx_to_fill(rx, self.fill, n)
        self.rx_taken += moved
        self.fill_given += moved
        return moved

    def _refuse_rx(self, rx: ConsumerRing, got: array[int]) -> LedgerError:
        """The RX entries just peeked hold addresses :meth:`owns_all`
        refuses: drop them all -- the entries back to the kernel, the good
        chunks to the fill ring, the refused addresses nowhere -- and return
        the LedgerError that says why."""
        good, error = self._sort_out(got, "RX ring")
        rx.release()
        self.rx_taken += len(good)
        self._to_fill(self.umem.chunk_bases(good))
        return error

    def reap(self, limit: Optional[int] = None) -> int:
        """Move completed TX chunks from the completion ring to the spares
        (as chunk starts); returns how many.  Their addresses are checked
        first (:meth:`owns_all`); if one is refused, the good ones are
        reaped all the same and LedgerError says why."""
        comp = self.comp
        n, idx = comp.peek(comp.size if limit is None else limit)
        if n:
            got = _ring_addrs(comp, idx, n)
            comp.release()
            if not self.owns_all(got):
                raise self._refuse_completions(got)
            self.comp_taken += n
            self.stash(self.umem.chunk_bases(got))
        return n

    def check_completions(self, comp: ConsumerRing, idx: int, n: int) -> None:
        """For completions about to go straight back to a TX ring
        (retransmit): check the ``n`` entries just peeked from ``idx`` as
        :meth:`reap` does.  If one is refused, all are consumed, the good
        ones reaped, and LedgerError raised."""
        if n:
            got = _ring_addrs(comp, idx, n)
            if not self.owns_all(got):
                comp.release()
                raise self._refuse_completions(got)

    def _refuse_completions(self, got: array[int]) -> LedgerError:
        """Completions (already consumed) hold addresses :meth:`owns_all`
        refuses: reap the good ones and return the LedgerError that says
        why; the refused ones are used nowhere."""
        good, error = self._sort_out(got, "completion ring")
        self.comp_taken += len(good)
        self.stash(self.umem.chunk_bases(good))
        return error

    def owns_all(self, addrs: array[int]) -> bool:
        """True if every address (of an array('Q')) the kernel returned on
        an RX or completion ring lies in a chunk this pool gave it: inside
        the UMEM, owned by this pool, and in unaligned mode at the chunk's
        start (pyxsk fills and sends chunk starts only; the data offset rides
        in the top 16 bits).  The kernel returns only what it was given, so
        anything else was changed on the way -- as 6.18's copy-mode TX does
        to odd addresses -- and using it would hand some chunk out twice.

        Hot path, so vectorised: the chunk indices all at once
        (:meth:`Umem.chunk_indices`), their owner bytes in one C-level gather
        (operator.itemgetter), one count -- no Python branch per address."""
        umem = self.umem
        if umem.unaligned and any(map(umem.frame_size.__rmod__, map(_ADDR_MASK.__and__, addrs))):
            return False
        chunks = umem.chunk_indices(addrs)
        try:
            owners = _gather(umem._owner, chunks)
        except IndexError:
            return False
        return owners.count(self.code) == len(chunks)

    def _refusal(self, addr: int) -> Optional[str]:
        """Why :meth:`owns_all` refuses ``addr``, or None."""
        umem = self.umem
        i = umem.chunk_index(addr)
        if not 0 <= i < umem.num_frames:
            return "outside the UMEM (%d bytes)" % umem.size
        if umem.unaligned and addr & _ADDR_MASK != i * umem.frame_size:
            return "not the start of a chunk (chunk %d starts at 0x%x)" % (i, i * umem.frame_size)
        if umem._owner[i] != self.code:
            return "in chunk %d, which is %s" % (i, umem.describe_owner(umem._owner[i]))
        return None

    def _sort_out(self, addrs: array[int], ring: str) -> Tuple[array[int], LedgerError]:
        """Split returned addresses :meth:`owns_all` refused: (the good ones
        as array('Q'), the LedgerError naming the first bad one)."""
        good = array("Q")
        bad: List[Tuple[int, str]] = []
        for addr in addrs:
            why = self._refusal(addr)
            if why is None:
                good.append(addr)
            else:
                bad.append((addr, why))
        addr, why = bad[0]
        error = LedgerError(
            "the kernel returned address 0x%x on the %s of %s, a chunk pyxsk never gave it: %s "
            "(%d of %d addresses refused).  pyxsk will not use them; the chunks the kernel "
            "should have returned stay counted as in its hands"
            % (addr, ring, self.label, why, len(bad), len(addrs)))
        return good, error

    def _to_fill(self, bases: array[int]) -> None:
        """Put chunks (their starts) on the fill ring as far as it has room;
        the rest become spares."""
        fill = self.fill
        count, idx = fill.reserve(len(bases))
        if count:
            fill.write_addrs(idx, bases[:count])
            fill.submit()
            self.fill_given += count
        if count < len(bases):
            self.stash(bases[count:])

    # -- accounting -----------------------------------------------------------

    def ledger(self) -> Tuple[PoolLedger, Visible]:
        """(PoolLedger, [(place, addresses)]) for :meth:`Umem.check`: the counts
        by place and the chunks that can be named -- spares, batches, and
        entries the kernel has published on RX and completion rings."""
        visible: Visible = [("spare", self.spare)]
        for batch in self.batches:
            if batch.addrs is not None:      # a batch that is released is gone from the set
                visible.append(("in a receive batch", batch.addrs))
        rx_visible = 0
        for sock in self.sockets:
            if sock.rx is not None:
                got = _published(sock.rx)
                rx_visible += len(got)
                visible.append(("on the RX ring of %r" % sock, got))
        comp_got = _published(self.comp)
        visible.append(("on the completion ring", comp_got))
        ledger = PoolLedger(
            queue=self.queue,
            fill=self.fill_given - self.rx_taken - rx_visible,
            rx=rx_visible,
            user=self.user_held,
            tx=self.tx_given - self.comp_taken - len(comp_got),
            completion=len(comp_got),
            spare=len(self.spare))
        return ledger, visible

    def forget(self) -> None:
        """In a child that inherited the pool through fork(): drop it from the
        UMEM without touching a chunk (the parent's kernel pool holds them)."""
        self.spare = array("Q")
        del self.umem._pools[self.code]

    def destroy(self) -> int:
        """After the kernel has let go of the pool (its last socket closed,
        releasing its batches): every chunk it owned returns to the free list."""
        umem = self.umem
        code = bytes([self.code])
        owner, fs = umem._owner, umem.frame_size
        left = array("Q")
        pos = owner.find(code)
        while pos >= 0:
            left.append(pos * fs)
            pos = owner.find(code, pos + 1)
        umem._give_back(left)
        self.spare = array("Q")
        del umem._pools[self.code]
        return len(left)


def _gather(seq: Sequence[_T], indices: Sequence[int]) -> Tuple[_T, ...]:
    """``seq[i]`` for every ``i`` in ``indices``, as a tuple, in one C call."""
    if len(indices) > 1:
        got: Tuple[_T, ...] = operator.itemgetter(*indices)(seq)    # a tuple for 2 or more
        return got
    return tuple(seq[i] for i in indices)


def _ring_addrs(ring: ConsumerRing, idx: int, n: int) -> array[int]:
    """A copy of the addresses of ring entries [idx, idx + n), as array('Q')."""
    got = array("Q", bytes(8 * n))
    ring.read_addrs(idx, n, memoryview(got))
    return got


def _published(ring: ConsumerRing) -> array[int]:
    """Addresses the kernel has published on a consumer ring and we have not
    yet taken: [our consumer cursor, its producer cursor)."""
    n = (ring.shared_producer() - ring.cached_cons) & 0xFFFFFFFF
    got = array("Q", bytes(8 * n))
    if n:
        ring.read_addrs(ring.cached_cons, n, memoryview(got))
    return got
