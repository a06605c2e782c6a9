"""A fake kernel behind pyxsk's libc layer, to play kernels this machine is not.

It answers the AF_XDP system calls the way a given kernel generation did:

* ``"6.18"`` -- today's answers (ring flags, 32-byte xdp_umem_reg, 48-byte
  statistics, XDP_OPTIONS);
* ``"5.3"``  -- XDP_MMAP_OFFSETS without ring flags (v1, 96 bytes), 24-byte
  statistics, XDP_OPTIONS present (5.3 added it);
* ``"4.19"`` -- as 5.3, and XDP_UMEM_REG refuses anything but the 24-byte
  struct, XDP_OPTIONS unknown (ENOPROTOOPT).

Ring memory is real anonymous memory, so pyxsk's rings run unchanged on it.
Every call is logged in ``calls``.
"""

import collections
import ctypes
import errno

from pyxsk import _libc
from pyxsk.net import link
from pyxsk.errors import syscall_error
from pyxsk.uapi import if_xdp

RING_OPTS = {if_xdp.XDP_RX_RING: "rx", if_xdp.XDP_TX_RING: "tx",
             if_xdp.XDP_UMEM_FILL_RING: "fr", if_xdp.XDP_UMEM_COMPLETION_RING: "cr"}
PGOFFS = {if_xdp.XDP_PGOFF_RX_RING: "rx", if_xdp.XDP_PGOFF_TX_RING: "tx",
          if_xdp.XDP_UMEM_PGOFF_FILL_RING: "fr", if_xdp.XDP_UMEM_PGOFF_COMPLETION_RING: "cr"}
PROD, CONS, FLAGS, DESC = 0, 64, 128, 192
DESC_V1 = 128
ENTRY = {"rx": 16, "tx": 16, "fr": 8, "cr": 8}

LIBC_NAMES = ["socket", "close", "setsockopt", "setsockopt_int", "getsockopt", "bind",
              "raw_sendto", "recvfrom", "poll", "mmap", "munmap", "if_nametoindex",
              "if_indextoname"]


FakeLink = collections.namedtuple("FakeLink", "index mtu")


class FakeKernel:
    def __init__(self, version="6.18", start_cursor=0):
        self.version = version
        self.mtu = 1500
        self.start_cursor = start_cursor
        self.calls = []
        self.sockets = {}
        self.maps = {}
        self.next_fd = 1000
        self.real_mmap, self.real_munmap = _libc.mmap, _libc.munmap

    @property
    def has_ring_flags(self):
        return self.version == "6.18"

    def install(self, monkeypatch):
        for name in LIBC_NAMES:
            monkeypatch.setattr(_libc, name, getattr(self, name))
        monkeypatch.setattr(link, "get_link", self.get_link)
        return self

    def get_link(self, index, netns=None):
        """RTM_GETLINK, as far as sockets ask it: the MTU."""
        self.calls.append(("getlink", index))
        return FakeLink(index, self.mtu)

    def _fail(self, err, call, hints=None):
        raise syscall_error(err, call, (hints or {}).get(err))

    def syscalls(self):
        """The kernel-facing calls made (anonymous mmap/munmap of UMEM aside)."""
        return [c for c in self.calls if c[0] not in ("mmap-anon", "munmap-anon")]

    # -- the calls ------------------------------------------------------------

    def socket(self, family, type_, protocol=0, call="socket", hints=None):
        self.calls.append(("socket", family))
        fd, self.next_fd = self.next_fd, self.next_fd + 1
        self.sockets[fd] = {"rings": {}, "umem": None, "bound": False}
        return fd

    def close(self, fd, call="close"):
        self.calls.append(("close", fd))
        del self.sockets[fd]

    def setsockopt(self, fd, level, optname, value, size=None, call="", hints=None):
        size = ctypes.sizeof(value) if size is None else size
        self.calls.append(("setsockopt", optname, size))
        sock = self.sockets[fd]
        if optname == if_xdp.XDP_UMEM_REG:
            if self.version == "4.19" and size != ctypes.sizeof(if_xdp.xdp_umem_reg_v1):
                self._fail(errno.EINVAL, call, hints)
            sock["umem"] = bytes(value)[:size]
        elif optname in RING_OPTS:
            sock["rings"][RING_OPTS[optname]] = ctypes.c_int.from_buffer_copy(bytes(value)).value
        elif optname == if_xdp.XDP_MAX_TX_SKB_BUDGET:
            self._fail(errno.ENOPROTOOPT, call, hints)

    def setsockopt_int(self, fd, level, optname, value, call="", hints=None):
        self.setsockopt(fd, level, optname, ctypes.c_int(value), call=call, hints=hints)

    def getsockopt(self, fd, level, optname, buf, call="", hints=None):
        self.calls.append(("getsockopt", optname))
        if optname == if_xdp.XDP_MMAP_OFFSETS:
            return self._offsets(buf)
        if optname == if_xdp.XDP_STATISTICS:
            values = [1, 2, 3, 4, 5, 6] if self.version == "6.18" else [1, 2, 3]
            data = b"".join(v.to_bytes(8, "little") for v in values)
            ctypes.memmove(ctypes.addressof(buf), data, len(data))
            return len(data)
        if optname == if_xdp.XDP_OPTIONS:
            if self.version == "4.19":
                self._fail(errno.ENOPROTOOPT, call)
            ctypes.memmove(ctypes.addressof(buf), b"\0\0\0\0", 4)
            return 4
        self._fail(errno.ENOPROTOOPT, call)

    def _offsets(self, buf):
        if self.has_ring_flags:
            one = [PROD, CONS, DESC, FLAGS]
        else:
            one = [PROD, CONS, DESC_V1]
        data = b"".join(v.to_bytes(8, "little") for v in one * 4)
        ctypes.memmove(ctypes.addressof(buf), data, len(data))
        return len(data)

    def bind(self, fd, addr, call="bind", hints=None):
        self.calls.append(("bind", addr.sxdp_flags, addr.sxdp_ifindex, addr.sxdp_queue_id))
        self.sockets[fd]["bound"] = True

    def raw_sendto(self, fd, buf, length, flags):
        self.calls.append(("sendto", fd))
        return 0, 0

    def recvfrom(self, fd, buf, length, flags, call="recvfrom", hints=None):
        self.calls.append(("recvfrom", fd))
        return 0

    def poll(self, fds, timeout, call="poll"):
        self.calls.append(("poll", timeout))
        return 0

    def mmap(self, length, prot, flags, fd=-1, offset=0, call="mmap", hints=None):
        if fd < 0:
            self.calls.append(("mmap-anon", length))
            return self.real_mmap(length, prot, flags, fd, offset, call=call, hints=hints)
        ring = PGOFFS[offset]
        n = self.sockets[fd]["rings"].get(ring)
        desc = DESC if self.has_ring_flags else DESC_V1
        if n is None or length > desc + n * ENTRY[ring]:
            self._fail(errno.EINVAL, call)
        self.calls.append(("mmap", ring, length))
        addr = self.real_mmap(length, _libc.PROT_READ | _libc.PROT_WRITE,
                              _libc.MAP_PRIVATE | _libc.MAP_ANONYMOUS, -1, 0)
        for cursor in (PROD, CONS):
            ctypes.c_uint32.from_address(addr + cursor).value = self.start_cursor
        self.maps[addr] = ring
        return addr

    def munmap(self, addr, length, call="munmap"):
        self.calls.append(("munmap" if addr in self.maps else "munmap-anon", length))
        self.maps.pop(addr, None)
        self.real_munmap(addr, length)

    def if_nametoindex(self, name, call=None):
        self.calls.append(("if_nametoindex", name))
        return 7

    def if_indextoname(self, index, call=None):
        self.calls.append(("if_indextoname", index))
        return "fake%d" % index



# -- playing the kernel's side of a socket's rings ------------------------------

def _entry(ring, cursor):
    return (cursor & ring.mask) * ring.stride


def take_fill(pool, n):
    """The kernel takes ``n`` chunk addresses off the fill ring."""
    ring = pool.fill
    cons = ring.shared_consumer()
    got = [ring.words[_entry(ring, cons + i)] for i in range(n)]
    ring._cons[0] = (cons + n) & 0xFFFFFFFF
    return got


def deliver_rx(sock, descs):
    """The kernel puts (addr, len) descriptors on the socket's RX ring."""
    ring = sock.rx
    prod = ring.shared_producer()
    for i, (addr, length) in enumerate(descs):
        ring.words[_entry(ring, prod + i)] = addr
        ring.halfwords[2 * _entry(ring, prod + i) + 2] = length
    ring._prod[0] = (prod + len(descs)) & 0xFFFFFFFF


def take_tx(sock, n):
    """The kernel takes ``n`` descriptors off the socket's TX ring: [(addr, len)]."""
    ring = sock.tx
    cons = ring.shared_consumer()
    got = [(ring.words[_entry(ring, cons + i)], ring.halfwords[2 * _entry(ring, cons + i) + 2])
           for i in range(n)]
    ring._cons[0] = (cons + n) & 0xFFFFFFFF
    return got


def complete(pool, addrs):
    """The kernel puts transmitted chunks on the completion ring."""
    ring = pool.comp
    prod = ring.shared_producer()
    for i, addr in enumerate(addrs):
        ring.words[_entry(ring, prod + i)] = addr
    ring._prod[0] = (prod + len(addrs)) & 0xFFFFFFFF
