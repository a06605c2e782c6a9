"""Network interfaces through rtnetlink: look them up, attach XDP, build veth pairs.

Every function takes ``netns=`` (a namespace name, path or fd; None is the
calling thread's namespace) and accepts a link as its index (int) or its name
(str).  Kernel refusals raise :class:`~pyxsk.errors.NetlinkError`, which is
also the builtin ``OSError`` subclass for its errno and carries the kernel's
extended-ack text and, where pyxsk knows one, the usual fix.

The ``*_request`` functions build the exact bytes pyxsk sends (sequence
number 0; :class:`~pyxsk.net.netlink.NetlinkSocket` stamps its own) so the tests
can hold them against golden copies.

XDP modes: ``"skb"`` (generic, any driver), ``"drv"`` (native, in the
driver), ``"hw"`` (offloaded), and for :func:`attach_xdp` ``"auto"`` (drv,
else skb).  pyxsk always names the mode: with no mode flag the kernel picks
native on veth, and a later detach in the other mode silently does nothing.
"""

from __future__ import annotations

import errno
import ipaddress
from contextlib import nullcontext as _nullcontext
import os
from typing import (Dict, FrozenSet, List, Literal, NamedTuple, Optional, Tuple, Union, cast,
                    overload)

from .. import _libc
from .. import bpf as _bpf
from . import netlink as _nl
from . import netns as _netns
from ..errors import ConfigError, NetlinkError, syscall_error
from ..uapi import if_ as _if
from ..uapi import if_addr as _ifa
from ..uapi import if_link as _ifla
from ..uapi import neighbour as _nd
from ..uapi import netlink as _unl
from ..uapi import rtnetlink as _rt
from ..uapi import veth as _veth

__all__ = [
    "Link", "XdpState", "Address", "Route", "LinkRef", "IPInterface",
    "XDP_MODE_FLAGS", "XDP_AUTO_ORDER", "XDP_AUTO_FALLBACK_ERRNOS", "XDP_ATTACHED_MODES",
    "ifindex", "ifname", "get_link", "links",
    "attach_xdp", "detach_xdp", "xdp_flags",
    "add_veth", "delete_link", "set_link", "move_link",
    "add_address", "addresses", "add_neighbour", "route_to", "parse_mac", "format_mac",
]

# a link as its index or its name
LinkRef = Union[int, str]
# an address with its prefix length ("10.0.0.1/24" as ipaddress sees it)
IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
# an address as text or as ipaddress sees it
_IPAddressLike = Union[str, ipaddress.IPv4Address, ipaddress.IPv6Address]
# a MAC address: "aa:bb:cc:dd:ee:ff" or its six bytes
_Mac = Union[str, bytes]

# mode name -> the IFLA_XDP_FLAGS bit that selects it
XDP_MODE_FLAGS: Dict[str, int] = {
    "skb": _ifla.XDP_FLAGS_SKB_MODE,
    "drv": _ifla.XDP_FLAGS_DRV_MODE,
    "hw": _ifla.XDP_FLAGS_HW_MODE,
}
# mode="auto" tries these in turn ...
XDP_AUTO_ORDER: Tuple[str, ...] = ("drv", "skb")
# ... moving on only when native XDP is refused for a reason generic XDP does
# not share: no driver support, veth queue counts or peer MTU, the other mode busy
XDP_AUTO_FALLBACK_ERRNOS: FrozenSet[int] = frozenset(
    (errno.EOPNOTSUPP, errno.ENOSPC, errno.ERANGE, errno.EEXIST, errno.EINVAL))
# IFLA_XDP_ATTACHED -> mode name
XDP_ATTACHED_MODES: Dict[int, Optional[str]] = {
    _ifla.XDP_ATTACHED_NONE: None,
    _ifla.XDP_ATTACHED_DRV: "drv",
    _ifla.XDP_ATTACHED_SKB: "skb",
    _ifla.XDP_ATTACHED_HW: "hw",
    _ifla.XDP_ATTACHED_MULTI: "multi",
}
# IFLA_OPERSTATE -> the word ``ip link`` prints
OPERSTATES: Dict[int, str] = {
    _if.IF_OPER_UNKNOWN: "UNKNOWN", _if.IF_OPER_NOTPRESENT: "NOTPRESENT",
    _if.IF_OPER_DOWN: "DOWN", _if.IF_OPER_LOWERLAYERDOWN: "LOWERLAYERDOWN",
    _if.IF_OPER_TESTING: "TESTING", _if.IF_OPER_DORMANT: "DORMANT", _if.IF_OPER_UP: "UP",
}

_ETH_ALEN = 6
_IFNAME_MAX = _if.IFNAMSIZ - 1
_DETACH_FD = -1          # IFLA_XDP_FD -1 removes the program

_ACK = _unl.NLM_F_REQUEST | _unl.NLM_F_ACK
_DUMP = _unl.NLM_F_REQUEST | _unl.NLM_F_DUMP
_CREATE = _ACK | _unl.NLM_F_CREATE | _unl.NLM_F_EXCL


# -- records ------------------------------------------------------------------

class XdpState(NamedTuple):
    """What IFLA_XDP reports: ``attached`` is None, "skb", "drv", "hw" or
    "multi"; ``prog_id`` the program's id when one mode is attached (0
    otherwise); the per-mode ids are 0 where nothing is attached."""
    attached: Optional[str] = None
    prog_id: int = 0
    skb_prog_id: int = 0
    drv_prog_id: int = 0
    hw_prog_id: int = 0

    def prog_ids(self) -> Dict[str, int]:
        """{mode: program id} for every mode with a program attached."""
        ids = {"skb": self.skb_prog_id, "drv": self.drv_prog_id, "hw": self.hw_prog_id}
        return {mode: prog for mode, prog in ids.items() if prog}


# Link and Address name their fields through NamedTuple's functional form: a
# field called ``index`` hides tuple.index(), which the class form's fields
# would have to be declared as overriding.
class Link(NamedTuple("Link", [
        ("index", int),
        ("name", str),
        ("flags", int),
        ("mtu", int),
        ("mac", Optional[str]),
        ("num_tx_queues", int),
        ("num_rx_queues", int),
        ("operstate", str),
        ("kind", Optional[str]),
        ("link_index", Optional[int]),
        ("xdp", XdpState),
        ("attrs", _nl.Attrs)])):
    """One interface as RTM_NEWLINK describes it.  ``flags`` are the IFF_*
    bits of ifinfomsg; ``mac`` is "aa:bb:..." or None; ``kind`` the
    IFLA_INFO_KIND ("veth", ...) or None; ``link_index`` the IFLA_LINK index
    (a veth's peer, possibly in another namespace); ``attrs`` everything the
    kernel sent, decoded (see :data:`pyxsk.net.netlink.LINK_ATTRS`)."""
    __slots__ = ()

    @property
    def up(self) -> bool:
        return bool(self.flags & _if.IFF_UP)

    def __repr__(self) -> str:
        return ("Link(index=%d, name=%r, flags=%#x, mtu=%d, mac=%r, queues=%d/%d, operstate=%s, "
                "kind=%r, xdp=%r)" % (self.index, self.name, self.flags, self.mtu, self.mac,
                                      self.num_tx_queues, self.num_rx_queues, self.operstate,
                                      self.kind, self.xdp))


class Address(NamedTuple("Address", [
        ("index", int),
        ("address", IPInterface),
        ("flags", int),
        ("scope", int),
        ("label", Optional[str])])):
    """One interface address (RTM_NEWADDR): ``address`` is an
    ``ipaddress.IPv4Interface``/``IPv6Interface`` (address/prefix)."""
    __slots__ = ()


# RTN_* -> the word ``ip route`` prints
ROUTE_TYPES: Dict[int, str] = {
    _rt.RTN_UNSPEC: "none", _rt.RTN_UNICAST: "unicast", _rt.RTN_LOCAL: "local",
    _rt.RTN_BROADCAST: "broadcast", _rt.RTN_ANYCAST: "anycast", _rt.RTN_MULTICAST: "multicast",
    _rt.RTN_BLACKHOLE: "blackhole", _rt.RTN_UNREACHABLE: "unreachable",
    _rt.RTN_PROHIBIT: "prohibit", _rt.RTN_THROW: "throw", _rt.RTN_NAT: "nat",
    _rt.RTN_XRESOLVE: "xresolve",
}


class Route(NamedTuple):
    """The kernel's answer to "how would a packet to ``dst`` go" (``ip route
    get``): ``type`` "local" means this namespace receives it, "unicast"
    that it leaves through interface ``oif``."""
    dst: _nl.IPAddress
    type: str
    table: int
    oif: Optional[int]


def format_mac(raw: bytes) -> str:
    return ":".join("%02x" % b for b in raw)


def parse_mac(mac: _Mac) -> bytes:
    """bytes from "aa:bb:cc:dd:ee:ff" (or 6 bytes as they are)."""
    if isinstance(mac, (bytes, bytearray)):
        data = bytes(mac)
    elif isinstance(mac, str):
        parts = mac.split(":")
        try:
            data = bytes(int(p, 16) for p in parts if len(p) in (1, 2))
        except ValueError:
            data = b""
        if len(data) != len(parts):
            data = b""
    else:
        raise TypeError("a MAC address is a str or bytes, not %s" % type(mac).__name__)
    if len(data) != _ETH_ALEN:
        raise ConfigError("%r is not a MAC address (six hex bytes separated by ':')" % (mac,))
    return data


def _link_from(msg: _nl.Message) -> Link:
    # casts: an RTM_NEWLINK decodes by ifinfomsg (all ints) and LINK_ATTRS,
    # whose readers fix each named value's type (XDP_ATTRS' are all ints)
    header = cast(Dict[str, int], msg.header)
    attrs = msg.attrs
    xdp = cast(Dict[str, int], attrs.get("xdp", {}))
    address = cast(Optional[bytes], attrs.get("address"))
    return Link(
        index=header["ifi_index"],
        name=cast(str, attrs.get("ifname", "")),
        flags=header["ifi_flags"],
        mtu=cast(int, attrs.get("mtu", 0)),
        mac=None if address is None else format_mac(address),
        num_tx_queues=cast(int, attrs.get("num_tx_queues", 0)),
        num_rx_queues=cast(int, attrs.get("num_rx_queues", 0)),
        operstate=OPERSTATES.get(cast(int, attrs.get("operstate", _if.IF_OPER_UNKNOWN)), "UNKNOWN"),
        kind=cast(Optional[str], cast(_nl.Attrs, attrs.get("linkinfo", {})).get("kind")),
        link_index=cast(Optional[int], attrs.get("link")),
        xdp=XdpState(
            attached=XDP_ATTACHED_MODES.get(xdp.get("attached", _ifla.XDP_ATTACHED_NONE), "unknown"),
            prog_id=xdp.get("prog_id", 0),
            skb_prog_id=xdp.get("skb_prog_id", 0),
            drv_prog_id=xdp.get("drv_prog_id", 0),
            hw_prog_id=xdp.get("hw_prog_id", 0)),
        attrs=attrs,
    )


# -- requests (the bytes pyxsk sends) -----------------------------------------

def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError("an interface name is a str, not %s" % type(name).__name__)
    raw_name = os.fsencode(name)
    if not 0 < len(raw_name) <= _IFNAME_MAX or b"/" in raw_name or b"\0" in raw_name \
            or raw_name.strip() != raw_name:
        raise ConfigError("%r is not a valid interface name (1-%d bytes, no '/', NUL or blanks)"
                          % (name, _IFNAME_MAX))
    return name


def _check_index(index: int) -> int:
    if not isinstance(index, int) or isinstance(index, bool):
        raise TypeError("an interface index is an int, not %s" % type(index).__name__)
    if index <= 0:
        raise ConfigError("%d is not an interface index (they start at 1)" % index)
    return index


def _selector(link: LinkRef) -> Tuple[int, List[bytes]]:
    """(ifi_index, attributes) that name ``link`` in a request: the index
    itself, or index 0 and IFLA_IFNAME (the kernel looks the name up)."""
    if isinstance(link, str):
        return 0, [_nl.attr_str(_ifla.IFLA_IFNAME, _check_name(link))]
    return _check_index(link), []


def getlink_request(link: LinkRef) -> bytes:
    """RTM_GETLINK for one link; statistics left out (RTEXT_FILTER_SKIP_STATS)."""
    index, attrs = _selector(link)
    attrs.append(_nl.attr_u32(_ifla.IFLA_EXT_MASK, _rt.RTEXT_FILTER_SKIP_STATS))
    return _nl.message(_rt.RTM_GETLINK, _ACK, _rt.ifinfomsg(ifi_index=index), attrs)


def getlink_dump_request() -> bytes:
    """RTM_GETLINK dump of every link; strict checking wants ifi_index 0."""
    return _nl.message(_rt.RTM_GETLINK, _DUMP, _rt.ifinfomsg(),
                       [_nl.attr_u32(_ifla.IFLA_EXT_MASK, _rt.RTEXT_FILTER_SKIP_STATS)])


def xdp_request(index: int, prog_fd: int, flags: int, expected_fd: Optional[int] = None) -> bytes:
    """RTM_SETLINK with IFLA_XDP { IFLA_XDP_FD, IFLA_XDP_FLAGS
    [, IFLA_XDP_EXPECTED_FD] }: attach ``prog_fd`` (or detach with -1)."""
    inner = [_nl.attr_s32(_ifla.IFLA_XDP_FD, prog_fd), _nl.attr_u32(_ifla.IFLA_XDP_FLAGS, flags)]
    if expected_fd is not None:
        inner.append(_nl.attr_s32(_ifla.IFLA_XDP_EXPECTED_FD, expected_fd))
    return _nl.message(_rt.RTM_SETLINK, _ACK, _rt.ifinfomsg(ifi_index=_check_index(index)),
                       [_nl.nest(_ifla.IFLA_XDP, *inner)])


def _check_queues(queues: int, what: str) -> int:
    if not isinstance(queues, int) or isinstance(queues, bool):
        raise TypeError("%s must be an int, not %s" % (what, type(queues).__name__))
    if queues < 1:
        raise ConfigError("%s must be at least 1, not %d" % (what, queues))
    return queues


def _link_attrs(name: Optional[str] = None, queues: Optional[int] = None,
                mtu: Optional[int] = None, mac: Optional[_Mac] = None,
                netns_fd: Optional[int] = None) -> List[bytes]:
    """The IFLA_* attributes for the settings given (None: not sent)."""
    attrs = [] if name is None else [_nl.attr_str(_ifla.IFLA_IFNAME, _check_name(name))]
    if queues is not None:
        attrs.append(_nl.attr_u32(_ifla.IFLA_NUM_TX_QUEUES, queues))
        attrs.append(_nl.attr_u32(_ifla.IFLA_NUM_RX_QUEUES, queues))
    if mtu is not None:
        attrs.append(_nl.attr_u32(_ifla.IFLA_MTU, mtu))
    if mac is not None:
        attrs.append(_nl.attr(_ifla.IFLA_ADDRESS, parse_mac(mac)))
    if netns_fd is not None:
        attrs.append(_nl.attr_u32(_ifla.IFLA_NET_NS_FD, netns_fd))
    return attrs


def veth_request(name: str, peer: str, queues: int = 1, peer_queues: Optional[int] = None,
                 mtu: Optional[int] = None, peer_mtu: Optional[int] = None,
                 mac: Optional[_Mac] = None, peer_mac: Optional[_Mac] = None,
                 peer_netns_fd: Optional[int] = None) -> bytes:
    """RTM_NEWLINK (create, exclusive) of a veth pair.

    IFLA_LINKINFO { IFLA_INFO_KIND "veth", IFLA_INFO_DATA { VETH_INFO_PEER } }:
    the peer's attribute holds a ``struct ifinfomsg`` then the peer's own
    IFLA_* attributes, IFLA_NET_NS_FD among them to create it in another
    namespace.  Each end gets ``queues`` tx and rx queues.
    """
    queues = _check_queues(queues, "queues")
    peer_queues = queues if peer_queues is None else _check_queues(peer_queues, "peer_queues")
    peer_payload = bytes(_rt.ifinfomsg()) + b"".join(
        _link_attrs(peer, peer_queues, peer_mtu if peer_mtu is not None else mtu, peer_mac,
                    peer_netns_fd))
    linkinfo = _nl.nest(
        _ifla.IFLA_LINKINFO,
        _nl.attr_str(_ifla.IFLA_INFO_KIND, "veth"),
        _nl.nest(_ifla.IFLA_INFO_DATA, _nl.attr(_veth.VETH_INFO_PEER, peer_payload)))
    return _nl.message(_rt.RTM_NEWLINK, _CREATE, _rt.ifinfomsg(),
                       _link_attrs(name, queues, mtu, mac) + [linkinfo])


def dellink_request(link: LinkRef) -> bytes:
    index, attrs = _selector(link)
    return _nl.message(_rt.RTM_DELLINK, _ACK, _rt.ifinfomsg(ifi_index=index), attrs)


def setlink_request(index: int, up: Optional[bool] = None, mtu: Optional[int] = None,
                    mac: Optional[_Mac] = None, name: Optional[str] = None,
                    netns_fd: Optional[int] = None) -> bytes:
    """RTM_SETLINK on ``index``: IFF_UP through ifi_flags/ifi_change (only
    the bits in ifi_change are touched), the rest as attributes."""
    header = _rt.ifinfomsg(ifi_index=_check_index(index))
    if up is not None:
        header.ifi_change = _if.IFF_UP
        header.ifi_flags = _if.IFF_UP if up else 0
    attrs = _link_attrs(name, None, mtu, mac, netns_fd)
    return _nl.message(_rt.RTM_SETLINK, _ACK, header, attrs)


def _interface(address: Union[str, IPInterface]) -> IPInterface:
    if isinstance(address, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        return address
    try:
        return ipaddress.ip_interface(address)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _family(ip: Union[_nl.IPAddress, IPInterface]) -> int:
    return _libc.AF_INET if ip.version == 4 else _libc.AF_INET6


def newaddr_request(index: int, address: Union[str, IPInterface], nodad: bool = True) -> bytes:
    """RTM_NEWADDR (create, exclusive): ``address`` as "10.0.0.1/24" or an
    ``ipaddress`` interface.  IPv4 sets IFA_LOCAL (the address) and
    IFA_ADDRESS (the same on a broadcast link); IPv6 sets IFA_ADDRESS and,
    with ``nodad``, IFA_F_NODAD so the address is usable at once instead of
    staying tentative during duplicate address detection."""
    iface = _interface(address)
    flags = _ifa.IFA_F_NODAD if nodad and iface.version == 6 else 0
    header = _ifa.ifaddrmsg(ifa_family=_family(iface), ifa_prefixlen=iface.network.prefixlen,
                            ifa_flags=flags, ifa_index=_check_index(index))
    packed = iface.ip.packed
    attrs = [_nl.attr(_ifa.IFA_LOCAL, packed)] if iface.version == 4 else []
    attrs.append(_nl.attr(_ifa.IFA_ADDRESS, packed))
    return _nl.message(_rt.RTM_NEWADDR, _CREATE, header, attrs)


def getaddr_dump_request(index: int = 0, family: int = _libc.AF_UNSPEC) -> bytes:
    """RTM_GETADDR dump; with strict checking the kernel filters by ifa_index."""
    return _nl.message(_rt.RTM_GETADDR, _DUMP, _ifa.ifaddrmsg(ifa_family=family, ifa_index=index))


def newneigh_request(index: int, ip: _IPAddressLike, mac: _Mac) -> bytes:
    """RTM_NEWNEIGH (create or replace) of a NUD_PERMANENT entry ip -> mac."""
    addr = ipaddress.ip_address(ip)
    header = _nd.ndmsg(ndm_family=_family(addr), ndm_ifindex=_check_index(index),
                       ndm_state=_nd.NUD_PERMANENT)
    attrs = [_nl.attr(_nd.NDA_DST, addr.packed), _nl.attr(_nd.NDA_LLADDR, parse_mac(mac))]
    return _nl.message(_rt.RTM_NEWNEIGH, _ACK | _unl.NLM_F_CREATE | _unl.NLM_F_REPLACE,
                       header, attrs)


def getroute_request(ip: _IPAddressLike) -> bytes:
    """RTM_GETROUTE for one destination address (a /32 or /128 lookup)."""
    addr = ipaddress.ip_address(ip)
    header = _rt.rtmsg(rtm_family=_family(addr), rtm_dst_len=addr.max_prefixlen)
    return _nl.message(_rt.RTM_GETROUTE, _ACK, header, [_nl.attr(_rt.RTA_DST, addr.packed)])


# -- lookups ------------------------------------------------------------------

def _where(netns: Optional[_netns.Netns]) -> str:
    return "" if netns is None else " in netns %s" % (netns,)


def _get(sock: _nl.NetlinkSocket, link: LinkRef, netns: Optional[_netns.Netns]) -> Link:
    call = "RTM_GETLINK(%r)%s" % (link, _where(netns))
    hints = {errno.ENODEV: "no interface %r in this network namespace" % (link,)}
    replies = sock.request(getlink_request(link), call, hints)
    return _link_from(replies[0])


def get_link(link: LinkRef, netns: Optional[_netns.Netns] = None) -> Link:
    """The :class:`Link` named by index or name."""
    with _nl.NetlinkSocket(netns) as sock:
        return _get(sock, link, netns)


def links(netns: Optional[_netns.Netns] = None) -> List[Link]:
    """Every link in the namespace, in the kernel's order (by index)."""
    with _nl.NetlinkSocket(netns) as sock:
        replies = sock.dump(getlink_dump_request(), "RTM_GETLINK dump%s" % _where(netns))
    return [_link_from(msg) for msg in replies if msg.type == _rt.RTM_NEWLINK]


def _index(sock: _nl.NetlinkSocket, link: LinkRef, netns: Optional[_netns.Netns]) -> int:
    return _check_index(link) if isinstance(link, int) else _get(sock, link, netns).index


def ifindex(link: LinkRef, netns: Optional[_netns.Netns] = None) -> int:
    """The index of ``link``: an int is returned as is, a name looked up."""
    if isinstance(link, int) and not isinstance(link, bool):
        return _check_index(link)
    return get_link(link, netns).index


def ifname(index: int, netns: Optional[_netns.Netns] = None) -> str:
    return get_link(_check_index(index), netns).name


# -- XDP ----------------------------------------------------------------------

def xdp_flags(mode: str, replace: bool = False, update_if_noexist: bool = False) -> int:
    """IFLA_XDP_FLAGS for a mode name and the two options."""
    if mode not in XDP_MODE_FLAGS:
        raise ConfigError("XDP mode %r is not one of %s" % (mode, ", ".join(sorted(XDP_MODE_FLAGS))))
    flags = XDP_MODE_FLAGS[mode]
    if replace:
        flags |= _ifla.XDP_FLAGS_REPLACE
    if update_if_noexist:
        flags |= _ifla.XDP_FLAGS_UPDATE_IF_NOEXIST
    return flags


def _attach_hints(mode: str, index: int, replace: bool) -> Dict[int, str]:
    other = "drv" if mode == "skb" else "skb"
    return {
        errno.ENODEV: "no interface with index %d in this network namespace" % index,
        errno.EBADF: "prog_fd is not an open file descriptor",
        errno.EINVAL: "prog_fd must be a loaded XDP program (BPF_PROG_TYPE_XDP)",
        errno.EOPNOTSUPP: "the driver has no %s-mode XDP; use mode='skb'" % mode,
        errno.ENOSPC: "native XDP on veth needs at least as many rx queues as the peer has tx "
                      "queues: create both ends with the same number of queues, or use mode='skb'",
        errno.ERANGE: "the veth peer's MTU is too large for native XDP (about 3.5 KB at most "
                      "with 4 KiB pages): lower it, or use mode='skb'",
        errno.EEXIST: ("the attached program is not the one expected_fd refers to" if replace else
                       "a program is attached in %s mode and native and generic XDP cannot be "
                       "active together: detach it with mode=%r first" % (other, other)),
        errno.EBUSY: "a program is already attached (update_if_noexist) or a bpf_link owns the "
                     "hook: detach it first",
    }


def _attach_one(sock: _nl.NetlinkSocket, index: int, prog_fd: int, mode: str, replace: bool,
                expected_fd: Optional[int], update_if_noexist: bool,
                netns: Optional[_netns.Netns]) -> None:
    flags = xdp_flags(mode, replace, update_if_noexist)
    call = "attach_xdp(ifindex %d, prog fd %d, mode=%r)%s" % (index, prog_fd, mode, _where(netns))
    sock.request(xdp_request(index, prog_fd, flags, expected_fd if replace else None), call,
                 _attach_hints(mode, index, replace))


@overload
def attach_xdp(link: LinkRef, prog_fd: int, mode: str = "skb", replace: bool = False,
               expected_fd: Optional[int] = None, update_if_noexist: bool = False,
               netns: Optional[_netns.Netns] = None, bpf_link: Literal[False] = False) -> str: ...
@overload
def attach_xdp(link: LinkRef, prog_fd: int, mode: str = "skb", replace: bool = False,
               expected_fd: Optional[int] = None, update_if_noexist: bool = False,
               netns: Optional[_netns.Netns] = None, *, bpf_link: Literal[True]) -> _bpf.Link: ...
@overload
def attach_xdp(link: LinkRef, prog_fd: int, mode: str = "skb", replace: bool = False,
               expected_fd: Optional[int] = None, update_if_noexist: bool = False,
               netns: Optional[_netns.Netns] = None, bpf_link: bool = False
               ) -> Union[str, _bpf.Link]: ...


def attach_xdp(link: LinkRef, prog_fd: int, mode: str = "skb", replace: bool = False,
               expected_fd: Optional[int] = None, update_if_noexist: bool = False,
               netns: Optional[_netns.Netns] = None, bpf_link: bool = False
               ) -> Union[str, _bpf.Link]:
    """Attach XDP program ``prog_fd`` to ``link`` in ``mode``; return the
    mode used (``"auto"`` tries :data:`XDP_AUTO_ORDER`).

    Without options an attached program in the same mode is swapped out.
    ``update_if_noexist=True``: refuse (EBUSY) if one is attached.
    ``replace=True`` with ``expected_fd``: swap atomically, and only if the
    attached program is ``expected_fd``'s (-1: only if none is); the kernel
    refuses with EEXIST otherwise.

    ``bpf_link=True`` attaches through BPF_LINK_CREATE (Linux 5.9) instead of
    netlink and returns the :class:`pyxsk.bpf.Link` that holds the program
    (its ``mode`` says which mode it got): the program comes off when the
    link is closed or the process dies, and nothing attached by netlink can
    displace it.  Swap its program with ``Link.update``.
    """
    if bpf_link:
        if replace or expected_fd is not None or update_if_noexist:
            raise ConfigError("replace, expected_fd and update_if_noexist are netlink options: "
                              "a bpf_link never displaces a program, use Link.update to swap")
        return _attach_bpf_link(link, prog_fd, mode, netns)
    if replace and expected_fd is None:
        raise ConfigError("replace=True needs expected_fd: the program to be replaced (-1: none)")
    if expected_fd is not None and not replace:
        raise ConfigError("expected_fd is only checked with replace=True (the kernel ignores it "
                          "otherwise)")
    if mode != "auto":
        xdp_flags(mode)      # reject a bad mode name before talking to the kernel
    with _nl.NetlinkSocket(netns) as sock:
        index = _index(sock, link, netns)
        if mode != "auto":
            _attach_one(sock, index, prog_fd, mode, replace, expected_fd, update_if_noexist, netns)
            return mode
        refusal = None
        for candidate in XDP_AUTO_ORDER:
            try:
                _attach_one(sock, index, prog_fd, candidate, replace, expected_fd,
                            update_if_noexist, netns)
                return candidate
            except NetlinkError as e:
                if candidate == XDP_AUTO_ORDER[-1] or e.errno not in XDP_AUTO_FALLBACK_ERRNOS:
                    if refusal is None:
                        raise
                    raise e from refusal      # say why the earlier mode was refused too
                refusal = e
        raise ConfigError("mode='auto' has no mode to try: XDP_AUTO_ORDER is empty")


def _attach_bpf_link(link: LinkRef, prog_fd: int, mode: str,
                     netns: Optional[_netns.Netns]) -> _bpf.Link:
    """BPF_LINK_CREATE in ``mode`` (``"auto"``: as netlink's auto order), in ``netns``."""
    if mode != "auto":
        xdp_flags(mode)
    with _nl.NetlinkSocket(netns) as sock:
        index = _index(sock, link, netns)
    candidates = XDP_AUTO_ORDER if mode == "auto" else (mode,)
    refusal = None
    for candidate in candidates:
        try:
            with _netns.entered(netns) if netns is not None else _nullcontext():
                return _bpf.link_xdp(prog_fd, index, XDP_MODE_FLAGS[candidate])
        except OSError as e:
            if candidate == candidates[-1] or e.errno not in XDP_AUTO_FALLBACK_ERRNOS:
                if refusal is None:
                    raise
                raise e from refusal
            refusal = e
    raise ConfigError("no XDP mode to try: XDP_AUTO_ORDER is empty")


def detach_xdp(link: LinkRef, mode: Optional[str] = None, expected_fd: Optional[int] = None,
               netns: Optional[_netns.Netns] = None) -> int:
    """Detach the XDP program of ``link``; return its id (0 if none was attached).

    ``mode`` None detaches whichever mode has a program.  The kernel takes a
    detach in a mode with no program as a no-op and says nothing, so pyxsk
    checks first: asking for a mode with nothing while another mode has a
    program raises FileNotFoundError (ENOENT) naming the right mode.
    ``expected_fd``: detach only if that program is the attached one
    (XDP_FLAGS_REPLACE; the kernel refuses with EEXIST otherwise).
    """
    with _nl.NetlinkSocket(netns) as sock:
        current = _get(sock, link, netns)
        attached = current.xdp.prog_ids()
        if mode is None:
            if not attached:
                return 0
            if len(attached) > 1:
                raise ConfigError("XDP programs are attached in modes %s of %s: say which to detach"
                                  % (", ".join(sorted(attached)), current.name))
            mode = next(iter(attached))
        flags = xdp_flags(mode, replace=expected_fd is not None)
        call = "detach_xdp(%s, mode=%r)%s" % (current.name, mode, _where(netns))
        if mode not in attached:
            if attached:
                other, prog = next(iter(attached.items()))
                raise syscall_error(errno.ENOENT, call, "no program in %s mode; program %d is "
                                    "attached in %s mode: detach with mode=%r"
                                    % (mode, prog, other, other))
            return 0
        sock.request(xdp_request(current.index, _DETACH_FD, flags, expected_fd), call,
                     {errno.EEXIST: "the attached program is not the one expected_fd refers to"})
        return attached[mode]


# -- links, veth, addresses, neighbours --------------------------------------

def add_veth(name: str, peer: str, queues: int = 1, peer_queues: Optional[int] = None,
             mtu: Optional[int] = None, peer_mtu: Optional[int] = None,
             mac: Optional[_Mac] = None, peer_mac: Optional[_Mac] = None,
             peer_netns: Optional[_netns.Netns] = None,
             netns: Optional[_netns.Netns] = None) -> Tuple[Link, Link]:
    """Create veth pair ``name`` <-> ``peer``; return their two :class:`Link` records.

    ``name`` is created in ``netns``; ``peer`` there too, or in ``peer_netns``.
    Both ends get ``queues`` tx and rx queues (``peer_queues`` to differ):
    native XDP on a veth needs at least as many rx queues as its peer has tx
    queues.  ``peer_mtu`` defaults to ``mtu``.
    """
    with _nl.NetlinkSocket(netns) as sock:
        fd = None if peer_netns is None else _netns.open_fd(peer_netns)
        try:
            msg = veth_request(name, peer, queues, peer_queues, mtu, peer_mtu, mac, peer_mac, fd)
            sock.request(msg, "add_veth(%r, peer %r%s)%s" % (
                name, peer, "" if peer_netns is None else " in netns %s" % (peer_netns,),
                _where(netns)),
                {errno.EEXIST: "an interface with one of these names exists already",
                 errno.EOPNOTSUPP: "this kernel has no veth driver (CONFIG_VETH)"})
        finally:
            if fd is not None:
                os.close(fd)
        first = _get(sock, name, netns)
    return first, get_link(peer, peer_netns if peer_netns is not None else netns)


def delete_link(link: LinkRef, netns: Optional[_netns.Netns] = None) -> None:
    """Delete ``link`` (a veth takes its peer along, wherever it is)."""
    with _nl.NetlinkSocket(netns) as sock:
        sock.request(dellink_request(link), "delete_link(%r)%s" % (link, _where(netns)),
                     {errno.ENODEV: "no interface %r in this network namespace" % (link,)})


def set_link(link: LinkRef, up: Optional[bool] = None, mtu: Optional[int] = None,
             mac: Optional[_Mac] = None, name: Optional[str] = None,
             netns: Optional[_netns.Netns] = None) -> None:
    """Change what is given: ``up`` (True/False), ``mtu``, ``mac``, ``name``."""
    with _nl.NetlinkSocket(netns) as sock:
        index = _index(sock, link, netns)
        sock.request(setlink_request(index, up, mtu, mac, name),
                     "set_link(%r)%s" % (link, _where(netns)),
                     {errno.EINVAL: "MTU outside the device's min_mtu..max_mtu, or a bad address",
                      errno.EBUSY: "renaming needs the link down"})


def move_link(link: LinkRef, target_netns: _netns.Netns,
              netns: Optional[_netns.Netns] = None) -> None:
    """Move ``link`` into namespace ``target_netns`` (it keeps its name and
    index unless they are taken there, and loses its addresses)."""
    with _nl.NetlinkSocket(netns) as sock:
        index = _index(sock, link, netns)
        fd = _netns.open_fd(target_netns)
        try:
            sock.request(setlink_request(index, netns_fd=fd), "move_link(%r, to netns %s)%s" % (
                link, target_netns, _where(netns)),
                {errno.EEXIST: "the target namespace has an interface of that name",
                 errno.EINVAL: "this device cannot change namespace (NETIF_F_NETNS_LOCAL)"})
        finally:
            os.close(fd)


def add_address(link: LinkRef, address: Union[str, IPInterface], nodad: bool = True,
                netns: Optional[_netns.Netns] = None) -> None:
    """Add "10.0.0.1/24" or "fd00::1/64" (or an ``ipaddress`` interface) to ``link``."""
    with _nl.NetlinkSocket(netns) as sock:
        index = _index(sock, link, netns)
        sock.request(newaddr_request(index, address, nodad),
                     "add_address(%r, %s)%s" % (link, address, _where(netns)),
                     {errno.EEXIST: "the interface has this address already",
                      errno.EACCES: "IPv6 is disabled on this interface"})


def addresses(link: Optional[LinkRef] = None,
              netns: Optional[_netns.Netns] = None) -> List[Address]:
    """The :class:`Address` records of ``link``, or of every link."""
    with _nl.NetlinkSocket(netns) as sock:
        index = 0 if link is None else _index(sock, link, netns)
        replies = sock.dump(getaddr_dump_request(index), "RTM_GETADDR dump%s" % _where(netns))
    out = []
    for msg in replies:
        # casts: an RTM_NEWADDR decodes by ifaddrmsg (all ints) and ADDR_ATTRS
        header = cast(Dict[str, int], msg.header)
        if msg.type != _rt.RTM_NEWADDR or (index and header["ifa_index"] != index):
            continue
        ip = cast(_nl.IPAddress, msg.attrs.get("local", msg.attrs.get("address")))
        iface = ipaddress.ip_interface("%s/%d" % (ip, header["ifa_prefixlen"]))
        out.append(Address(header["ifa_index"], iface,
                           cast(int, msg.attrs.get("flags", header["ifa_flags"])),
                           header["ifa_scope"], cast(Optional[str], msg.attrs.get("label"))))
    return out


def route_to(ip: _IPAddressLike, netns: Optional[_netns.Netns] = None) -> Route:
    """The :class:`Route` a packet to ``ip`` would take.  An address added to
    an interface receives only once its "local" route exists; for IPv6 the
    kernel adds it a moment after acknowledging the address (and only once
    the link has carrier), so this is how to know the address works."""
    with _nl.NetlinkSocket(netns) as sock:
        (answer,) = sock.request(getroute_request(ip), "route_to(%s)%s" % (ip, _where(netns)),
                                 {errno.ENETUNREACH: "no route to %s" % (ip,)})
    # casts: an RTM_NEWROUTE decodes by rtmsg (all ints) and ROUTE_ATTRS
    header = cast(Dict[str, int], answer.header)
    return Route(cast(_nl.IPAddress, answer.attrs.get("dst", ipaddress.ip_address(ip))),
                 ROUTE_TYPES.get(header["rtm_type"], str(header["rtm_type"])),
                 cast(int, answer.attrs.get("table", header["rtm_table"])),
                 cast(Optional[int], answer.attrs.get("oif")))


def add_neighbour(link: LinkRef, ip: _IPAddressLike, mac: _Mac,
                  netns: Optional[_netns.Netns] = None) -> None:
    """A permanent neighbour entry ip -> mac on ``link``: no ARP or
    neighbour discovery needed to reach ``ip``."""
    with _nl.NetlinkSocket(netns) as sock:
        index = _index(sock, link, netns)
        sock.request(newneigh_request(index, ip, mac),
                     "add_neighbour(%r, %s -> %s)%s" % (link, ip, str(mac), _where(netns)))
