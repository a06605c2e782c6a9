"""Test helpers: a veth pair across two fresh network namespaces, and pytest fixtures.

:func:`temporary_veth_pair` creates two named namespaces (``ip netns`` sees
them), one veth end in each, with the queue count, MTU, IPv4/IPv6 addresses
(IPv6 without duplicate address detection, so usable at once), links up and
permanent neighbour entries (traffic flows without ARP or neighbour
discovery).  On exit it deletes the veth and both namespaces, also when the
body raised, then checks that none of them is left.

:func:`bpffs` mounts a bpf filesystem of its own on a fresh temporary
directory, for pins no other test or program sees, and unmounts it (which
drops every pin in it) and removes the directory on exit.

The fixtures ``veth_pair``, ``make_veth_pair`` and ``bpffs`` wrap them.  To use them::

    # conftest.py
    pytest_plugins = ["pyxsk.testing"]

    # test_something.py
    def test_udp(veth_pair):
        a, b = veth_pair.a, veth_pair.b        # VethEnd: netns, name, index, mac, ipv4, ipv6

    def test_native_xdp(make_veth_pair):
        pair = make_veth_pair(queues=2, mtu=1500)

    def test_pin(bpffs):
        prog.pin(os.path.join(bpffs, "prog"))  # bpffs: the mount point, a str

pyxsk never imports pytest: the fixtures take the pytest module that loads
this module as a plugin, so
``import pyxsk.testing`` works without it.  Creating namespaces needs root
(CAP_SYS_ADMIN and CAP_NET_ADMIN), mounting too; the fixtures skip the test elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import itertools
import os
import sys
import tempfile
import time
from typing import (TYPE_CHECKING, Any, Callable, Iterator, List, NamedTuple, Optional, Sequence,
                    Tuple, Type, TypeVar, Union)

from . import _libc
from .net import link as _link
from .net import netns as _netns
from .uapi import if_ as _if

if TYPE_CHECKING:
    from typing import NoReturn, Protocol, TypedDict

    _F = TypeVar("_F", bound=Callable[..., Any])

    class _Pytest(Protocol):
        """What the fixtures use of the pytest module (never imported here)."""
        def fixture(self, func: _F) -> _F: ...
        def skip(self, reason: str) -> NoReturn: ...

    class _PluginManager(Protocol):
        def has_plugin(self, name: str) -> bool: ...
        def register(self, plugin: object, name: str) -> object: ...

    class _Config(Protocol):
        """What pytest_configure uses of pytest's Config."""
        @property
        def pluginmanager(self) -> _PluginManager: ...

    class _Created(TypedDict):
        """What a pair's setup has made so far, for its teardown to remove."""
        netns: List[str]
        links: List[Tuple[Optional[str], str]]

__all__ = [
    "VethEnd", "VethPair", "CleanupError", "temporary_veth_pair", "unique_name", "bpffs",
    "DEFAULT_IPV4", "DEFAULT_IPV6",
]

DEFAULT_IPV4 = ("10.211.0.1/24", "10.211.0.2/24")
DEFAULT_IPV6 = ("fd00:211::1/64", "fd00:211::2/64")
LOOPBACK = "lo"
PLUGIN_NAME = "pyxsk.testing.fixtures"

# After the acks, the kernel still finishes bringing a pair up on its own
# time: the carrier-on event waits in linkwatch (rate-limited to once a second
# when it is not urgent, as with two ends that both have index 2), IPv6 on a
# link without carrier is not ready, and an IPv6 address receives only once a
# worker has added its local route.  The helper waits for all of that.
READY_TIMEOUT = 5.0          # seconds
READY_POLL = 0.005           # seconds between checks

_IFNAME_MAX = 15
_PID_MODULUS = 100000        # keeps names short; the counter keeps them unique
_counter = itertools.count(1)

_I = TypeVar("_I", ipaddress.IPv4Interface, ipaddress.IPv6Interface)
# the (end a, end b) addresses with their prefix, as text or ipaddress interfaces
_Addresses = Sequence[Union[str, ipaddress.IPv4Interface, ipaddress.IPv6Interface]]


class CleanupError(RuntimeError):
    """Something a helper made could not be removed, or is still there after."""


# The fields go through NamedTuple's functional form: one named ``index``
# hides tuple.index(), which the class form would declare as an override.
class VethEnd(NamedTuple("VethEnd", [
        ("netns", str),
        ("name", str),
        ("index", int),
        ("mac", str),
        ("ipv4", Optional[ipaddress.IPv4Interface]),
        ("ipv6", Optional[ipaddress.IPv6Interface])])):
    """One end of a :class:`VethPair`: its namespace (name, for ``netns=``
    and ``ip -n``), interface name, index, MAC, and addresses
    (``ipaddress`` interfaces, or None)."""
    __slots__ = ()


class VethPair(NamedTuple):
    """A veth pair across two namespaces: end ``a`` and end ``b``, each
    with ``queues`` tx and rx queues, and their MTU."""
    a: VethEnd
    b: VethEnd
    queues: int
    mtu: int


def unique_name(tag: str) -> str:
    """A name no other test, worker or run uses at the same time: "pxt",
    the pid, ``tag``, a counter; short enough for an interface (15 bytes)."""
    name = "pxt%d%s%d" % (os.getpid() % _PID_MODULUS, tag, next(_counter))
    if len(name) > _IFNAME_MAX:
        raise ValueError("unique name %r is longer than %d bytes: use a shorter tag" % (name, _IFNAME_MAX))
    return name


def _pair_of(value: Optional[_Addresses], what: str,
             kind: Type[_I]) -> Tuple[Optional[_I], Optional[_I]]:
    """(a, b) as ``kind`` (IPv4Interface or IPv6Interface), or (None, None)."""
    if value is None:
        return None, None
    if len(value) != 2:
        raise ValueError("%s wants two addresses (end a, end b), got %r" % (what, value))
    a, b = (ipaddress.ip_interface(v) for v in value)
    if not isinstance(a, kind) or not isinstance(b, kind):
        raise ValueError("%s wants two %s addresses, got %r"
                         % (what, kind.__name__[:-len("Interface")], value))
    return a, b


def _mac(end: _link.Link) -> str:
    """A veth end's MAC address (the kernel gives every veth one)."""
    if end.mac is None:
        raise RuntimeError("veth %s has no MAC address" % end.name)
    return end.mac


def _build(namespaces: Tuple[str, str], names: Tuple[str, str], created: _Created, queues: int,
           mtu: Optional[int],
           ipv4: Tuple[Optional[ipaddress.IPv4Interface], Optional[ipaddress.IPv4Interface]],
           ipv6: Tuple[Optional[ipaddress.IPv6Interface], Optional[ipaddress.IPv6Interface]],
           up: bool, neighbours: bool) -> VethPair:
    ns_a, ns_b = namespaces
    for ns in namespaces:
        _netns.create(ns)
        created["netns"].append(ns)
    end_a, end_b = _link.add_veth(names[0], names[1], queues=queues, mtu=mtu,
                                  peer_netns=ns_b, netns=ns_a)
    created["links"].append((ns_a, names[0]))
    ends = ((ns_a, end_a, ipv4[0], ipv6[0]), (ns_b, end_b, ipv4[1], ipv6[1]))
    if up:
        for ns, end, _v4, _v6 in ends:
            _link.set_link(LOOPBACK, up=True, netns=ns)
            _link.set_link(end.index, up=True, netns=ns)
    for ns, end, v4, v6 in ends:
        for address in (v4, v6):
            if address is not None:
                _link.add_address(end.index, address, nodad=True, netns=ns)
    if neighbours:
        for (ns, end, _v4, _v6), (_ns, other, v4, v6) in zip(ends, reversed(ends)):
            for address in (v4, v6):
                if address is not None:
                    _link.add_neighbour(end.index, address.ip, _mac(other), netns=ns)
    pair = VethPair(
        a=VethEnd(ns_a, end_a.name, end_a.index, _mac(end_a), ipv4[0], ipv6[0]),
        b=VethEnd(ns_b, end_b.name, end_b.index, _mac(end_b), ipv4[1], ipv6[1]),
        queues=queues, mtu=end_a.mtu)
    if up:
        _wait_until_usable(pair)
    return pair


def _not_usable(pair: VethPair) -> List[str]:
    """What still keeps traffic from flowing, in words; empty when nothing does."""
    waiting = []
    for end in (pair.a, pair.b):
        state = _link.get_link(end.index, netns=end.netns)
        if state.operstate != "UP" or not state.flags & _if.IFF_RUNNING:
            waiting.append("%s is %s" % (end.name, state.operstate))
        for address in (end.ipv4, end.ipv6):
            if address is not None and _link.route_to(address.ip, netns=end.netns).type != "local":
                waiting.append("%s does not receive yet" % address.ip)
    return waiting


def _wait_until_usable(pair: VethPair) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        waiting = _not_usable(pair)
        if not waiting:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError("veth pair not usable after %g s: %s" % (READY_TIMEOUT, "; ".join(waiting)))
        time.sleep(READY_POLL)


def _ignore_missing(func: Callable[..., object], *args: object, **kwargs: object) -> None:
    """Run a removal; a thing already gone (ENODEV, ENOENT) is not an error."""
    try:
        func(*args, **kwargs)
    except OSError as e:
        if e.errno not in (errno.ENODEV, errno.ENOENT):
            raise


def _teardown(created: _Created, names: Tuple[str, str]) -> None:
    """Delete what ``created`` lists, then check nothing with our names is left."""
    problems = []
    root_names = {link.name for link in _link.links()}
    for name in names:
        if name in root_names:       # the test moved an end into our own namespace
            created["links"].append((None, name))
    for ns, name in created["links"]:
        if ns is not None and not _netns.exists(ns):
            continue
        try:
            _ignore_missing(_link.delete_link, name, netns=ns)
        except OSError as e:
            problems.append("veth %s: %s" % (name, e))
    for ns in created["netns"]:
        for name in names:
            try:
                left = _link.get_link(name, netns=ns)
            except OSError:
                continue              # gone (ENODEV), or the namespace is
            problems.append("link %s (index %d) still in netns %s" % (name, left.index, ns))
        try:
            _ignore_missing(_netns.delete, ns)
        except OSError as e:
            problems.append("netns %s: %s" % (ns, e))
    left_ns = [ns for ns in created["netns"] if _netns.exists(ns)]
    if left_ns:
        problems.append("namespaces still present: %s" % ", ".join(left_ns))
    left_links = sorted(set(names) & {link.name for link in _link.links()})
    if left_links:
        problems.append("links still present in this namespace: %s" % ", ".join(left_links))
    if problems:
        raise CleanupError("veth pair cleanup: " + "; ".join(problems))


@contextlib.contextmanager
def temporary_veth_pair(queues: int = 1, mtu: Optional[int] = None,
                        ipv4: Optional[_Addresses] = DEFAULT_IPV4,
                        ipv6: Optional[_Addresses] = DEFAULT_IPV6, up: bool = True,
                        neighbours: bool = True) -> Iterator[VethPair]:
    """Yield a :class:`VethPair`: two new namespaces, one veth end in each.

    ``queues``: tx and rx queues on both ends (native XDP on a veth needs rx
    queues >= the peer's tx queues).  ``mtu``: both ends (None: the kernel's
    1500).  ``ipv4``/``ipv6``: the (a, b) addresses with prefix, or None for
    none.  ``up``: links (and loopback) up, and wait (at most
    :data:`READY_TIMEOUT`) until both ends are operationally up and every
    address receives.  ``neighbours``: permanent neighbour entries for the
    peer's addresses.  Everything is removed on exit, also when the body
    raised; :class:`CleanupError` if anything could not be.
    """
    v4 = _pair_of(ipv4, "ipv4", ipaddress.IPv4Interface)
    v6 = _pair_of(ipv6, "ipv6", ipaddress.IPv6Interface)
    namespaces = (unique_name("na"), unique_name("nb"))
    names = (unique_name("va"), unique_name("vb"))
    created: _Created = {"netns": [], "links": []}
    try:
        yield _build(namespaces, names, created, queues, mtu, v4, v6, up, neighbours)
    finally:
        _teardown(created, names)


# -- bpffs ------------------------------------------------------------------------

BPFFS_TYPE = "bpf"
BPFFS_PREFIX = "pyxsk-bpffs-"


@contextlib.contextmanager
def bpffs() -> Iterator[str]:
    """Yield the path of a bpf filesystem of its own: a new bpffs instance
    (each mount of type "bpf" is one) on a fresh directory under the
    temporary directory, so its pins meet no one else's.

    On exit, also when the body raised, it is unmounted and the directory
    removed.  Unmounting frees the filesystem, and with it every pin: a
    pinned map, program or link lives on only if an fd or an attachment
    still holds it.  The unmount is lazy (MNT_DETACH), so a shell or file
    still inside cannot keep the mount in place.  :class:`CleanupError` if the
    directory cannot be removed or is still a mount point.
    """
    path = tempfile.mkdtemp(prefix=BPFFS_PREFIX)
    try:
        _libc.mount(BPFFS_TYPE, path, BPFFS_TYPE, 0, call="mount(-t bpf %s)" % path, hints={
            errno.ENODEV: "this kernel has no bpf filesystem (CONFIG_BPF_SYSCALL)",
            errno.EPERM: "mounting a filesystem needs CAP_SYS_ADMIN"})
    except BaseException:
        os.rmdir(path)
        raise
    try:
        yield path
    finally:
        _remove_bpffs(path)


def _remove_bpffs(path: str) -> None:
    try:
        _libc.umount2(path, _libc.MNT_DETACH, call="umount2(%s, MNT_DETACH)" % path)
        os.rmdir(path)
    except OSError as e:
        raise CleanupError("bpffs %s: %s" % (path, e)) from e
    if os.path.lexists(path):
        raise CleanupError("bpffs %s: still there after unmount and rmdir" % path)


# -- pytest plugin ------------------------------------------------------------

def _require_root(pytest: _Pytest) -> None:
    if os.geteuid() != 0:
        pytest.skip("veth pairs in network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)")


def _fixture_plugin(pytest: _Pytest) -> object:
    """The fixtures, built once pytest is there to decorate them."""

    class Fixtures:
        @pytest.fixture
        def veth_pair(self) -> Iterator[VethPair]:
            """A :class:`VethPair` with the defaults of :func:`temporary_veth_pair`."""
            _require_root(pytest)
            with temporary_veth_pair() as pair:
                yield pair

        @pytest.fixture
        def make_veth_pair(self) -> Iterator[Callable[..., VethPair]]:
            """A factory: ``make_veth_pair(**options)`` returns a new
            :class:`VethPair` (options of :func:`temporary_veth_pair`); all of
            them are removed after the test."""
            _require_root(pytest)
            with contextlib.ExitStack() as stack:
                def make(**options: Any) -> VethPair:     # temporary_veth_pair's options
                    return stack.enter_context(temporary_veth_pair(**options))
                yield make

        @pytest.fixture
        def bpffs(self) -> Iterator[str]:
            """The path of a private bpffs mount (the module's :func:`bpffs`:
            a method body sees module names, not the class's), removed with
            every pin in it after the test."""
            if os.geteuid() != 0:
                pytest.skip("mounting a bpffs needs root (CAP_SYS_ADMIN)")
            with bpffs() as path:
                yield path

    return Fixtures()


def pytest_configure(config: _Config) -> None:
    """Hook: register the fixtures when pytest loads this module as a
    plugin (``pytest_plugins = ["pyxsk.testing"]`` or ``-p pyxsk.testing``).
    Only pytest calls this, so pytest is loaded already: the package itself
    never imports it."""
    pytest = sys.modules["pytest"]
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(_fixture_plugin(pytest), PLUGIN_NAME)
