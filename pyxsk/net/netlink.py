"""rtnetlink over ctypes: a socket, and plain functions that encode and decode messages.

Encoding: :func:`attr` packs one attribute (``nlattr`` header, payload, zero
padding to 4 bytes), :func:`nest` wraps attributes in one marked
``NLA_F_NESTED``, :func:`message` puts ``nlmsghdr``, a family header
(``ifinfomsg``, ``ifaddrmsg``, ...) and attributes together.  Every length is
computed from what is packed.

Decoding: :func:`decode_messages` walks a datagram into :class:`Message`
tuples of plain Python values.  Small tables (``LINK_ATTRS``, ``ADDR_ATTRS``,
...) say, per attribute type, the name to file it under and how to read its
payload; attributes missing from a table keep their number and raw bytes.
Malformed input raises :class:`~pyxsk.errors.NetlinkDecodeError` and nothing
else.

:class:`NetlinkSocket` sends a request and collects the answer: an
acknowledged request (``NLM_F_ACK``) ends with an NLMSG_ERROR whose error is 0
on success, a dump (``NLM_F_DUMP``) with NLMSG_DONE.  A negative error becomes
a :class:`~pyxsk.errors.NetlinkError` carrying the errno and the kernel's
extended-ack text.  Every wait is bounded by a timeout.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import os
import struct
import time
import warnings
from typing import (TYPE_CHECKING, Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple,
                    Type, TypeVar, Union, cast)

from .. import _libc, capabilities
from . import netns as _netns
from ..errors import ConfigError, NetlinkDecodeError, NetlinkError, syscall_error
from ..uapi import if_addr as _ifa
from ..uapi import if_link as _ifla
from ..uapi import neighbour as _nd
from ..uapi import netlink as _nl
from ..uapi import rtnetlink as _rt

if TYPE_CHECKING:
    from ..uapi import Field

__all__ = [
    "NetlinkSocket", "Message", "Attr", "AttrValue", "Attrs", "Fields", "IPAddress",
    "attr", "nest", "attr_u8", "attr_u16", "attr_u32", "attr_s32", "attr_u64", "attr_str",
    "message", "decode_messages", "decode_attrs", "raise_for_error",
    "u8", "u16", "u32", "s32", "u64", "string", "raw", "ip_address",
    "LINK_ATTRS", "ADDR_ATTRS", "NEIGH_ATTRS", "ROUTE_ATTRS", "ERROR_ATTRS", "MESSAGE_LAYOUTS",
    "DEFAULT_TIMEOUT",
]

DEFAULT_TIMEOUT = 10.0          # seconds to wait for a whole answer
RECV_BUFFER_START = 32768       # the kernel sends dump datagrams of up to 32 KiB
DUMP_ATTEMPTS = 3               # a dump interrupted by a change (NLM_F_DUMP_INTR) is retried

_NLA_LEN_MAX = 0xFFFF           # nla_len is a u16
_TYPE_MAX = 0xFFFF              # so is nla_type
_SEQ_MASK = 0xFFFFFFFF          # nlmsg_seq is a u32 and wraps
_CLOSED = -1

DEFAULT_HINTS = {
    errno.EPERM: "needs CAP_NET_ADMIN in the network namespace's owning user namespace",
    errno.ENOBUFS: "the socket's receive buffer overflowed and the answer was lost; retry",
}


# What decoding gives.  A payload reader returns an int, a str, bytes or an
# address; a nest decodes to an Attrs dict (unknown types under their number),
# a repeated type to a list, a structure to a Fields dict of its fields.
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
AttrValue = Union[int, str, bytes, ipaddress.IPv4Address, ipaddress.IPv6Address,
                  List["AttrValue"], "Fields", "Attrs"]
Fields = Dict[str, AttrValue]
Attrs = Dict[Union[str, int], AttrValue]

_S = TypeVar("_S", bound="NetlinkSocket")


def nlmsg_align(length: int) -> int:
    """NLMSG_ALIGN: messages start on 4-byte boundaries."""
    return (length + _nl.NLMSG_ALIGNTO - 1) & ~(_nl.NLMSG_ALIGNTO - 1)


def nla_align(length: int) -> int:
    """NLA_ALIGN: attributes start on 4-byte boundaries."""
    return (length + _nl.NLA_ALIGNTO - 1) & ~(_nl.NLA_ALIGNTO - 1)


# -- encoding -----------------------------------------------------------------

def _check_type(kind: int) -> None:
    if not isinstance(kind, int) or isinstance(kind, bool):
        raise TypeError("attribute type must be an int, not %s" % type(kind).__name__)
    if not 0 <= kind <= _TYPE_MAX:
        raise ConfigError("attribute type %d does not fit in nla_type (u16)" % kind)


def attr(kind: int, payload: bytes = b"") -> bytes:
    """One attribute: ``nlattr`` (length = header + payload), payload, zero
    padding to NLA_ALIGNTO.  The kernel reads ``nla_len`` to find the payload
    and skips the padding to find the next attribute."""
    _check_type(kind)
    payload = bytes(payload)
    length = _nl.NLA_HDRLEN + len(payload)
    if length > _NLA_LEN_MAX:
        raise ConfigError("attribute %d: %d bytes do not fit in nla_len (u16)" % (kind, length))
    return bytes(_nl.nlattr(length, kind)) + payload + bytes(nla_align(length) - length)


def nest(kind: int, *attrs: bytes) -> bytes:
    """A nested attribute holding ``attrs``, flagged NLA_F_NESTED as the
    kernel's strict validation expects of nests."""
    return attr(kind | _nl.NLA_F_NESTED, b"".join(attrs))


def _scalar_encoder(fmt: str, what: str) -> Callable[[int, int], bytes]:
    def encode(kind: int, value: int) -> bytes:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("attribute %d: %s value must be an int, not %s"
                            % (kind, what, type(value).__name__))
        try:
            payload = struct.pack(fmt, value)
        except struct.error:
            raise ConfigError("attribute %d: %d does not fit in %s" % (kind, value, what)) from None
        return attr(kind, payload)
    encode.__name__ = "attr_" + what
    encode.__doc__ = "An attribute holding a %s in host byte order." % what
    return encode


# netlink integers are in host byte order ("="), standard sizes
attr_u8 = _scalar_encoder("=B", "u8")
attr_u16 = _scalar_encoder("=H", "u16")
attr_u32 = _scalar_encoder("=I", "u32")
attr_s32 = _scalar_encoder("=i", "s32")
attr_u64 = _scalar_encoder("=Q", "u64")


def attr_str(kind: int, text: Union[str, bytes]) -> bytes:
    """A NUL-terminated string attribute (NLA_NUL_STRING / NLA_STRING)."""
    data = os.fsencode(text)
    if b"\0" in data:
        raise ConfigError("attribute %d: %r contains a NUL byte" % (kind, text))
    return attr(kind, data + b"\0")


def message(msg_type: int, flags: int = 0, header: Optional[ctypes.Structure] = None,
            attrs: Iterable[bytes] = (), seq: int = 0, pid: int = 0) -> bytes:
    """A whole message: ``nlmsghdr``, the family header (a ctypes structure
    such as ``ifinfomsg``, or None), padding to NLMSG_ALIGNTO, attributes.

    ``seq`` and ``pid`` are normally left 0: :class:`NetlinkSocket` stamps its
    own sequence number, and port id 0 asks the kernel to fill in ours.
    """
    body = b"" if header is None else bytes(header)
    body += bytes(nlmsg_align(len(body)) - len(body)) + b"".join(attrs)
    head = _nl.nlmsghdr(_nl.NLMSG_HDRLEN + len(body), msg_type, flags, seq, pid)
    return bytes(head) + body


# -- decoding: payload readers ------------------------------------------------

def _scalar_decoder(fmt: str, what: str) -> Callable[[bytes], int]:
    size = struct.calcsize(fmt)

    def decode(payload: bytes) -> int:
        if len(payload) != size:
            raise NetlinkDecodeError("a %s attribute holds %d bytes, not %d" % (what, len(payload), size))
        value: int = struct.unpack(fmt, payload)[0]
        return value
    decode.__name__ = what
    decode.__doc__ = "Read a %s payload (exactly %d bytes)." % (what, size)
    return decode


u8 = _scalar_decoder("=B", "u8")
u16 = _scalar_decoder("=H", "u16")
u32 = _scalar_decoder("=I", "u32")
s32 = _scalar_decoder("=i", "s32")
u64 = _scalar_decoder("=Q", "u64")


def string(payload: bytes) -> str:
    """A string attribute: up to the first NUL; bytes that are not UTF-8
    survive as surrogates (as ``os.fsdecode`` does), so decoding never fails."""
    return bytes(payload).split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def raw(payload: bytes) -> bytes:
    return bytes(payload)


def ip_address(payload: bytes) -> IPAddress:
    """An IPv4 (4 bytes) or IPv6 (16 bytes) address."""
    if len(payload) not in (4, 16):
        raise NetlinkDecodeError("an IP address attribute holds %d bytes, not 4 or 16" % len(payload))
    return ipaddress.ip_address(bytes(payload))


def struct_fields(cls: Type[ctypes.Structure], data: bytes,
                  what: Optional[str] = None) -> Fields:
    """The fields of ctypes structure ``cls`` read from the start of ``data``, as a dict."""
    size = ctypes.sizeof(cls)
    if len(data) < size:
        raise NetlinkDecodeError("%s needs %d bytes, got %d" % (what or cls.__name__, size, len(data)))
    obj = cls.from_buffer_copy(bytes(data[:size]))
    out: Fields = {}
    for field in cls._fields_:
        value = getattr(obj, field[0])
        if isinstance(value, ctypes.Structure):
            value = {f[0]: getattr(value, f[0]) for f in value._fields_}
        out[field[0]] = value
    return out


def _struct_decoder(cls: Type[ctypes.Structure]) -> Callable[[bytes], Fields]:
    def decode(payload: bytes) -> Fields:
        if len(payload) != ctypes.sizeof(cls):
            raise NetlinkDecodeError("a %s attribute holds %d bytes, not %d"
                                     % (cls.__name__, len(payload), ctypes.sizeof(cls)))
        return struct_fields(cls, payload)
    decode.__name__ = cls.__name__
    return decode


# -- decoding: attribute tables -----------------------------------------------

class Attr(NamedTuple):
    """How to decode one attribute type: the key it gets in the result, and
    either a payload reader (a function of bytes) or, for a nest, the table of
    the attributes inside.  ``many``: the type repeats, collect a list."""
    name: str
    decode: Union[Callable[[bytes], AttrValue], Dict[int, Attr]]
    many: bool = False


XDP_ATTRS: Dict[int, Attr] = {
    _ifla.IFLA_XDP_FD: Attr("fd", s32),
    _ifla.IFLA_XDP_ATTACHED: Attr("attached", u8),
    _ifla.IFLA_XDP_FLAGS: Attr("flags", u32),
    _ifla.IFLA_XDP_PROG_ID: Attr("prog_id", u32),
    _ifla.IFLA_XDP_DRV_PROG_ID: Attr("drv_prog_id", u32),
    _ifla.IFLA_XDP_SKB_PROG_ID: Attr("skb_prog_id", u32),
    _ifla.IFLA_XDP_HW_PROG_ID: Attr("hw_prog_id", u32),
    _ifla.IFLA_XDP_EXPECTED_FD: Attr("expected_fd", s32),
}

LINKINFO_ATTRS: Dict[int, Attr] = {
    _ifla.IFLA_INFO_KIND: Attr("kind", string),
    _ifla.IFLA_INFO_DATA: Attr("data", raw),    # its layout depends on the kind
    _ifla.IFLA_INFO_XSTATS: Attr("xstats", raw),
    _ifla.IFLA_INFO_SLAVE_KIND: Attr("slave_kind", string),
    _ifla.IFLA_INFO_SLAVE_DATA: Attr("slave_data", raw),
}

PROP_LIST_ATTRS: Dict[int, Attr] = {
    _ifla.IFLA_ALT_IFNAME: Attr("alt_ifname", string, many=True),
}

LINK_ATTRS: Dict[int, Attr] = {
    _ifla.IFLA_ADDRESS: Attr("address", raw),
    _ifla.IFLA_BROADCAST: Attr("broadcast", raw),
    _ifla.IFLA_IFNAME: Attr("ifname", string),
    _ifla.IFLA_MTU: Attr("mtu", u32),
    _ifla.IFLA_LINK: Attr("link", u32),
    _ifla.IFLA_QDISC: Attr("qdisc", string),
    _ifla.IFLA_MASTER: Attr("master", u32),
    _ifla.IFLA_TXQLEN: Attr("txqlen", u32),
    _ifla.IFLA_OPERSTATE: Attr("operstate", u8),
    _ifla.IFLA_LINKMODE: Attr("linkmode", u8),
    _ifla.IFLA_LINKINFO: Attr("linkinfo", LINKINFO_ATTRS),
    _ifla.IFLA_NET_NS_PID: Attr("net_ns_pid", u32),
    _ifla.IFLA_IFALIAS: Attr("ifalias", string),
    _ifla.IFLA_NUM_VF: Attr("num_vf", u32),
    _ifla.IFLA_STATS64: Attr("stats64", raw),
    _ifla.IFLA_GROUP: Attr("group", u32),
    _ifla.IFLA_NET_NS_FD: Attr("net_ns_fd", u32),
    _ifla.IFLA_EXT_MASK: Attr("ext_mask", u32),
    _ifla.IFLA_PROMISCUITY: Attr("promiscuity", u32),
    _ifla.IFLA_NUM_TX_QUEUES: Attr("num_tx_queues", u32),
    _ifla.IFLA_NUM_RX_QUEUES: Attr("num_rx_queues", u32),
    _ifla.IFLA_CARRIER: Attr("carrier", u8),
    _ifla.IFLA_PHYS_PORT_ID: Attr("phys_port_id", raw),
    _ifla.IFLA_CARRIER_CHANGES: Attr("carrier_changes", u32),
    _ifla.IFLA_PHYS_SWITCH_ID: Attr("phys_switch_id", raw),
    _ifla.IFLA_LINK_NETNSID: Attr("link_netnsid", s32),
    _ifla.IFLA_PHYS_PORT_NAME: Attr("phys_port_name", string),
    _ifla.IFLA_PROTO_DOWN: Attr("proto_down", u8),
    _ifla.IFLA_GSO_MAX_SEGS: Attr("gso_max_segs", u32),
    _ifla.IFLA_GSO_MAX_SIZE: Attr("gso_max_size", u32),
    _ifla.IFLA_XDP: Attr("xdp", XDP_ATTRS),
    _ifla.IFLA_EVENT: Attr("event", u32),
    _ifla.IFLA_NEW_NETNSID: Attr("new_netnsid", s32),
    _ifla.IFLA_TARGET_NETNSID: Attr("target_netnsid", s32),
    _ifla.IFLA_CARRIER_UP_COUNT: Attr("carrier_up_count", u32),
    _ifla.IFLA_CARRIER_DOWN_COUNT: Attr("carrier_down_count", u32),
    _ifla.IFLA_NEW_IFINDEX: Attr("new_ifindex", s32),
    _ifla.IFLA_MIN_MTU: Attr("min_mtu", u32),
    _ifla.IFLA_MAX_MTU: Attr("max_mtu", u32),
    _ifla.IFLA_PROP_LIST: Attr("prop_list", PROP_LIST_ATTRS),
    _ifla.IFLA_ALT_IFNAME: Attr("alt_ifname", string),
    _ifla.IFLA_PERM_ADDRESS: Attr("perm_address", raw),
    _ifla.IFLA_PARENT_DEV_NAME: Attr("parent_dev_name", string),
    _ifla.IFLA_PARENT_DEV_BUS_NAME: Attr("parent_dev_bus_name", string),
    _ifla.IFLA_GRO_MAX_SIZE: Attr("gro_max_size", u32),
    _ifla.IFLA_TSO_MAX_SIZE: Attr("tso_max_size", u32),
    _ifla.IFLA_TSO_MAX_SEGS: Attr("tso_max_segs", u32),
    _ifla.IFLA_ALLMULTI: Attr("allmulti", u32),
    _ifla.IFLA_GSO_IPV4_MAX_SIZE: Attr("gso_ipv4_max_size", u32),
    _ifla.IFLA_GRO_IPV4_MAX_SIZE: Attr("gro_ipv4_max_size", u32),
    _ifla.IFLA_HEADROOM: Attr("headroom", u16),
    _ifla.IFLA_TAILROOM: Attr("tailroom", u16),
}

ADDR_ATTRS: Dict[int, Attr] = {
    _ifa.IFA_ADDRESS: Attr("address", ip_address),
    _ifa.IFA_LOCAL: Attr("local", ip_address),
    _ifa.IFA_LABEL: Attr("label", string),
    _ifa.IFA_BROADCAST: Attr("broadcast", ip_address),
    _ifa.IFA_ANYCAST: Attr("anycast", ip_address),
    _ifa.IFA_CACHEINFO: Attr("cacheinfo", _struct_decoder(_ifa.ifa_cacheinfo)),
    _ifa.IFA_MULTICAST: Attr("multicast", ip_address),
    _ifa.IFA_FLAGS: Attr("flags", u32),
    _ifa.IFA_RT_PRIORITY: Attr("rt_priority", u32),
    _ifa.IFA_TARGET_NETNSID: Attr("target_netnsid", s32),
    _ifa.IFA_PROTO: Attr("proto", u8),
}

NEIGH_ATTRS: Dict[int, Attr] = {
    _nd.NDA_DST: Attr("dst", ip_address),
    _nd.NDA_LLADDR: Attr("lladdr", raw),
    _nd.NDA_CACHEINFO: Attr("cacheinfo", raw),
    _nd.NDA_PROBES: Attr("probes", u32),
    _nd.NDA_VLAN: Attr("vlan", u16),
    _nd.NDA_IFINDEX: Attr("ifindex", u32),
    _nd.NDA_MASTER: Attr("master", u32),
    _nd.NDA_LINK_NETNSID: Attr("link_netnsid", s32),
    _nd.NDA_PROTOCOL: Attr("protocol", u8),
}

ROUTE_ATTRS: Dict[int, Attr] = {
    _rt.RTA_DST: Attr("dst", ip_address),
    _rt.RTA_SRC: Attr("src", ip_address),
    _rt.RTA_IIF: Attr("iif", u32),
    _rt.RTA_OIF: Attr("oif", u32),
    _rt.RTA_GATEWAY: Attr("gateway", ip_address),
    _rt.RTA_PRIORITY: Attr("priority", u32),
    _rt.RTA_PREFSRC: Attr("prefsrc", ip_address),
    _rt.RTA_CACHEINFO: Attr("cacheinfo", raw),
    _rt.RTA_TABLE: Attr("table", u32),
    _rt.RTA_MARK: Attr("mark", u32),
    _rt.RTA_PREF: Attr("pref", u8),
    _rt.RTA_UID: Attr("uid", u32),
}

ERROR_ATTRS: Dict[int, Attr] = {
    _nl.NLMSGERR_ATTR_MSG: Attr("msg", string),
    _nl.NLMSGERR_ATTR_OFFS: Attr("offs", u32),
    _nl.NLMSGERR_ATTR_COOKIE: Attr("cookie", raw),
    _nl.NLMSGERR_ATTR_POLICY: Attr("policy", raw),
    _nl.NLMSGERR_ATTR_MISS_TYPE: Attr("miss_type", u32),
    _nl.NLMSGERR_ATTR_MISS_NEST: Attr("miss_nest", u32),
}

# message type -> (family header structure, attribute table)
_LINK = (_rt.ifinfomsg, LINK_ATTRS)
_ADDR = (_ifa.ifaddrmsg, ADDR_ATTRS)
_NEIGH = (_nd.ndmsg, NEIGH_ATTRS)
_ROUTE = (_rt.rtmsg, ROUTE_ATTRS)
MESSAGE_LAYOUTS: Dict[int, Tuple[Type[ctypes.Structure], Dict[int, Attr]]] = {
    _rt.RTM_NEWLINK: _LINK, _rt.RTM_DELLINK: _LINK, _rt.RTM_GETLINK: _LINK, _rt.RTM_SETLINK: _LINK,
    _rt.RTM_NEWADDR: _ADDR, _rt.RTM_DELADDR: _ADDR, _rt.RTM_GETADDR: _ADDR,
    _rt.RTM_NEWNEIGH: _NEIGH, _rt.RTM_DELNEIGH: _NEIGH, _rt.RTM_GETNEIGH: _NEIGH,
    _rt.RTM_NEWROUTE: _ROUTE, _rt.RTM_DELROUTE: _ROUTE, _rt.RTM_GETROUTE: _ROUTE,
}

MESSAGE_NAMES: Dict[int, str] = {
    _nl.NLMSG_NOOP: "NLMSG_NOOP", _nl.NLMSG_ERROR: "NLMSG_ERROR",
    _nl.NLMSG_DONE: "NLMSG_DONE", _nl.NLMSG_OVERRUN: "NLMSG_OVERRUN",
    _rt.RTM_NEWLINK: "RTM_NEWLINK", _rt.RTM_DELLINK: "RTM_DELLINK",
    _rt.RTM_GETLINK: "RTM_GETLINK", _rt.RTM_SETLINK: "RTM_SETLINK",
    _rt.RTM_NEWADDR: "RTM_NEWADDR", _rt.RTM_DELADDR: "RTM_DELADDR", _rt.RTM_GETADDR: "RTM_GETADDR",
    _rt.RTM_NEWNEIGH: "RTM_NEWNEIGH", _rt.RTM_DELNEIGH: "RTM_DELNEIGH",
    _rt.RTM_GETNEIGH: "RTM_GETNEIGH", _rt.RTM_NEWROUTE: "RTM_NEWROUTE",
    _rt.RTM_DELROUTE: "RTM_DELROUTE", _rt.RTM_GETROUTE: "RTM_GETROUTE",
}


def decode_attrs(data: bytes, table: Dict[int, Attr]) -> Attrs:
    """Walk the attributes in ``data`` into a dict, by ``table``.

    Known types get the table's name and decoded value (a list for ``many``
    types; a dict for nests); unknown types keep their number and raw bytes.
    The NLA_F_NESTED and NLA_F_NET_BYTEORDER bits are not part of the type.
    """
    data = bytes(data)
    out: Attrs = {}
    pos = 0
    while pos < len(data):
        left = len(data) - pos
        if left < _nl.NLA_HDRLEN:
            raise NetlinkDecodeError("%d stray bytes after the last attribute" % left)
        head = _nl.nlattr.from_buffer_copy(data, pos)
        if not _nl.NLA_HDRLEN <= head.nla_len <= left:
            raise NetlinkDecodeError("attribute at byte %d claims %d bytes, %d are left"
                                     % (pos, head.nla_len, left))
        kind = head.nla_type & _nl.NLA_TYPE_MASK
        payload = data[pos + _nl.NLA_HDRLEN: pos + head.nla_len]
        spec = table.get(kind)
        if spec is None:
            out[kind] = payload
        else:
            value = decode_attrs(payload, spec.decode) if isinstance(spec.decode, dict) \
                else spec.decode(payload)
            if spec.many:
                listed = out.get(spec.name)
                if isinstance(listed, list):
                    listed.append(value)
                else:                           # the first of its type
                    out[spec.name] = [value]
            else:
                out[spec.name] = value
        pos += nla_align(head.nla_len)
    return out


class Message(NamedTuple):
    """One decoded netlink message.

    ``header`` is the family header as a dict of its fields (``ifi_index``,
    ...), for NLMSG_ERROR and NLMSG_DONE ``{"error": -errno or 0, ...}``, and
    the raw payload bytes for a type pyxsk has no layout for.  ``attrs`` is
    the decoded attribute dict (the extended-ack attributes for errors).
    """
    type: int
    flags: int
    seq: int
    pid: int
    header: Union[Fields, bytes]
    attrs: Attrs

    @property
    def type_name(self) -> str:
        return MESSAGE_NAMES.get(self.type, str(self.type))


def _decode_error(flags: int, payload: bytes) -> Tuple[Fields, Attrs]:
    """NLMSG_ERROR: nlmsgerr, then the echoed request unless NLM_F_CAPPED,
    then the extended-ack attributes if NLM_F_ACK_TLVS."""
    header = struct_fields(_nl.nlmsgerr, payload, "NLMSG_ERROR payload")
    if flags & _nl.NLM_F_CAPPED:
        tlv_at = ctypes.sizeof(_nl.nlmsgerr)
    else:
        # cast: nlmsgerr's msg is a nested nlmsghdr, whose fields are ints
        echoed = cast(int, cast(Fields, header["msg"])["nlmsg_len"])
        echo_at = _nl.nlmsgerr.msg.offset
        if not _nl.NLMSG_HDRLEN <= echoed <= len(payload) - echo_at:
            raise NetlinkDecodeError("NLMSG_ERROR echoes a request of %d bytes in %d"
                                     % (echoed, len(payload) - echo_at))
        tlv_at = echo_at + nlmsg_align(echoed)
    attrs = decode_attrs(payload[tlv_at:], ERROR_ATTRS) if flags & _nl.NLM_F_ACK_TLVS else {}
    return header, attrs


class _done_payload(ctypes.Structure):
    """NLMSG_DONE carries the dump's final error as a bare int."""
    _fields_ = [("error", ctypes.c_int)]
    error: Field[ctypes.c_int, int]


def _decode_done(flags: int, payload: bytes) -> Tuple[Fields, Attrs]:
    """NLMSG_DONE: an int error (negative if the dump failed midway), then
    extended-ack attributes if NLM_F_ACK_TLVS.  Some families send nothing."""
    if not payload:
        return {"error": 0}, {}
    header = struct_fields(_done_payload, payload, "NLMSG_DONE payload")
    tlv_at = nlmsg_align(ctypes.sizeof(_done_payload))
    attrs = decode_attrs(payload[tlv_at:], ERROR_ATTRS) if flags & _nl.NLM_F_ACK_TLVS else {}
    return header, attrs


def _decode_one(head: _nl.nlmsghdr, payload: bytes) -> Message:
    flags = head.nlmsg_flags
    header: Union[Fields, bytes]
    attrs: Attrs
    if head.nlmsg_type == _nl.NLMSG_ERROR:
        header, attrs = _decode_error(flags, payload)
    elif head.nlmsg_type == _nl.NLMSG_DONE:
        header, attrs = _decode_done(flags, payload)
    elif head.nlmsg_type in MESSAGE_LAYOUTS:
        cls, table = MESSAGE_LAYOUTS[head.nlmsg_type]
        header = struct_fields(cls, payload)
        attrs = decode_attrs(payload[nlmsg_align(ctypes.sizeof(cls)):], table)
    else:
        header, attrs = bytes(payload), {}
    return Message(head.nlmsg_type, flags, head.nlmsg_seq, head.nlmsg_pid, header, attrs)


def decode_messages(data: bytes) -> List[Message]:
    """Every message in a datagram, in order, as :class:`Message` tuples."""
    data = bytes(data)
    out: List[Message] = []
    pos = 0
    while pos < len(data):
        left = len(data) - pos
        if left < _nl.NLMSG_HDRLEN:
            raise NetlinkDecodeError("%d stray bytes after the last message" % left)
        head = _nl.nlmsghdr.from_buffer_copy(data, pos)
        if not _nl.NLMSG_HDRLEN <= head.nlmsg_len <= left:
            raise NetlinkDecodeError("message at byte %d claims %d bytes, %d are left"
                                     % (pos, head.nlmsg_len, left))
        out.append(_decode_one(head, data[pos + _nl.NLMSG_HDRLEN: pos + head.nlmsg_len]))
        pos += nlmsg_align(head.nlmsg_len)
    return out


def _permission_hint() -> str:
    """The hint for an rtnetlink request refused with EPERM.  Reading needs
    nothing; every change (links, addresses, routes, XDP programs) needs
    CAP_NET_ADMIN in the user namespace that owns the network namespace."""
    return capabilities.hint("changing a network namespace through rtnetlink",
                             ("CAP_NET_ADMIN",))


def raise_for_error(msg: Message, call: str, hints: Optional[_libc.Hints] = None) -> None:
    """Return if ``msg`` (NLMSG_ERROR or NLMSG_DONE) reports success;
    otherwise raise the :class:`~pyxsk.errors.NetlinkError` it describes.

    The kernel sends ``-errno``; it is negated here, once.  ``hints`` maps an
    errno to the likely cause for this call, on top of :data:`DEFAULT_HINTS`;
    EPERM names CAP_NET_ADMIN and says whether this process lacks it.
    """
    # cast: NLMSG_ERROR and NLMSG_DONE decode to {"error": int, ...}
    error = cast(int, cast(Fields, msg.header)["error"])
    if error >= 0:
        return
    err = -error
    hint = (hints or {}).get(err)
    if hint is None and err == errno.EPERM:
        hint = _permission_hint()
    if hint is None:
        hint = DEFAULT_HINTS.get(err)
    # cast: ERROR_ATTRS reads "msg" as a string and "offs" as a u32
    raise syscall_error(err, call, hint, cls=NetlinkError,
                        message=cast(Optional[str], msg.attrs.get("msg")),
                        offset=cast(Optional[int], msg.attrs.get("offs")))


# -- the socket ---------------------------------------------------------------

def _set_option(fd: int, option: int, name: str, required: bool = True) -> None:
    try:
        _libc.setsockopt_int(fd, _nl.SOL_NETLINK, option, 1, call="setsockopt(SOL_NETLINK, %s)" % name)
    except OSError as e:
        if required or e.errno != errno.ENOPROTOOPT:
            raise


def _open_socket() -> int:
    fd = _libc.socket(_libc.AF_NETLINK, _libc.SOCK_RAW, _nl.NETLINK_ROUTE,
                      call="socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)")
    try:
        _set_option(fd, _nl.NETLINK_EXT_ACK, "NETLINK_EXT_ACK")
        _set_option(fd, _nl.NETLINK_CAP_ACK, "NETLINK_CAP_ACK")
        _set_option(fd, _nl.NETLINK_GET_STRICT_CHK, "NETLINK_GET_STRICT_CHK", required=False)
    except BaseException:
        _libc.close(fd)
        raise
    return fd


class NetlinkSocket:
    """An rtnetlink socket with extended acks on: ``request`` and ``dump``.

    ``netns`` (a namespace name, a path such as ``/proc/PID/ns/net``, or an
    open namespace fd) picks the network namespace the socket talks to; the
    socket stays bound to it.  ``timeout`` (seconds) bounds every request.
    Use it as a context manager, or call :meth:`close` (idempotent).
    """

    _fd: int
    netns: Optional[_netns.Netns]
    timeout: float
    _seq: int
    _buf: ctypes.Array[ctypes.c_char]

    def __init__(self, netns: Optional[_netns.Netns] = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self._fd = _CLOSED
        self.netns = netns
        self.timeout = timeout
        if netns is None:
            fd = _open_socket()
        else:
            with _netns.entered(netns):
                fd = _open_socket()
        self._fd = fd
        self._seq = int(time.time()) & _SEQ_MASK     # as iproute2 does: differs from run to run
        self._buf = ctypes.create_string_buffer(RECV_BUFFER_START)

    # -- lifetime

    @property
    def closed(self) -> bool:
        return self._fd < 0

    @property
    def buffer_size(self) -> int:
        """Bytes the receive buffer holds now; it grows to fit the largest datagram seen."""
        return len(self._buf)

    def fileno(self) -> int:
        if self._fd < 0:
            raise ValueError("I/O operation on a closed NetlinkSocket")
        return self._fd

    def close(self) -> None:
        fd, self._fd = self._fd, _CLOSED
        if fd >= 0:
            _libc.close(fd, call="close(netlink socket)")

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_fd", _CLOSED) >= 0:       # __init__ may have failed before it was set
            warnings.warn("unclosed %r" % self, ResourceWarning, source=self)
            self.close()

    def __repr__(self) -> str:
        if self._fd < 0:
            return "<NetlinkSocket [closed]>"
        where = "" if self.netns is None else " netns=%r" % (self.netns,)
        return "<NetlinkSocket fd=%d%s seq=%d>" % (self._fd, where, self._seq)

    # -- requests

    def request(self, msg: bytes, call: str, hints: Optional[_libc.Hints] = None,
                timeout: Optional[float] = None) -> List[Message]:
        """Send ``msg`` (bytes from :func:`message`) with NLM_F_REQUEST |
        NLM_F_ACK and return the answers that came before the ack (a GET
        answers with one message; a NEW/SET/DEL with none).  Raises
        :class:`~pyxsk.errors.NetlinkError` if the kernel refuses; ``call``
        names the request in that error."""
        seq = self._send(msg, _nl.NLM_F_REQUEST | _nl.NLM_F_ACK, call)
        answers, last, _interrupted = self._collect(seq, (_nl.NLMSG_ERROR,), call, timeout)
        raise_for_error(last, call, hints)
        return answers

    def dump(self, msg: bytes, call: str, hints: Optional[_libc.Hints] = None,
             timeout: Optional[float] = None) -> List[Message]:
        """Send ``msg`` with NLM_F_REQUEST | NLM_F_DUMP and return every
        message up to NLMSG_DONE.  A dump the kernel marks NLM_F_DUMP_INTR
        (the table changed while it was read) is asked for again."""
        for _attempt in range(DUMP_ATTEMPTS):
            seq = self._send(msg, _nl.NLM_F_REQUEST | _nl.NLM_F_DUMP, call)
            answers, last, interrupted = self._collect(
                seq, (_nl.NLMSG_DONE, _nl.NLMSG_ERROR), call, timeout)
            raise_for_error(last, call, hints)
            if not interrupted:
                return answers
        raise syscall_error(errno.EAGAIN, call, "the table changed during each of %d dumps"
                            % DUMP_ATTEMPTS, cls=NetlinkError)

    def _collect(self, seq: int, final_types: Tuple[int, ...], call: str,
                 timeout: Optional[float]) -> Tuple[List[Message], Message, bool]:
        """Read the answers to request ``seq`` up to the first message of one
        of ``final_types``: (answers before it, that message, whether any
        was flagged NLM_F_DUMP_INTR).  Messages with another sequence number
        (answers to an earlier request that timed out) are dropped."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        answers: List[Message] = []
        interrupted = False
        while True:
            for reply in decode_messages(self._receive(deadline, limit, call)):
                if reply.seq != seq:
                    continue
                interrupted |= bool(reply.flags & _nl.NLM_F_DUMP_INTR)
                if reply.type in final_types:
                    return answers, reply, interrupted
                answers.append(reply)

    def _send(self, msg: bytes, flags: int, call: str) -> int:
        msg = bytes(msg)
        if len(msg) < _nl.NLMSG_HDRLEN:
            raise ConfigError("%s: %d bytes are not a netlink message" % (call, len(msg)))
        head = _nl.nlmsghdr.from_buffer_copy(msg)
        if head.nlmsg_len != len(msg):
            raise ConfigError("%s: nlmsg_len says %d bytes, the message has %d"
                              % (call, head.nlmsg_len, len(msg)))
        self._seq = (self._seq + 1) & _SEQ_MASK
        head.nlmsg_seq = self._seq
        head.nlmsg_flags |= flags
        data = bytes(head) + msg[_nl.NLMSG_HDRLEN:]
        buf = ctypes.create_string_buffer(data, len(data))
        kernel = _nl.sockaddr_nl(nl_family=_libc.AF_NETLINK)
        _libc.sendto(self.fileno(), ctypes.addressof(buf), len(data), 0, kernel,
                     call="sendto(netlink, %s)" % call, hints=DEFAULT_HINTS)
        return self._seq

    def _receive(self, deadline: float, limit: float, call: str) -> bytes:
        """One datagram: poll until readable, peek its size (MSG_TRUNC makes
        recv return the full length), grow the buffer if needed, read it."""
        fds = (_libc.pollfd * 1)(_libc.pollfd(self.fileno(), _libc.POLLIN, 0))
        hints = dict(DEFAULT_HINTS)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise syscall_error(errno.ETIMEDOUT, call, "no answer from the kernel within %g s"
                                    % limit, cls=NetlinkError)
            if _libc.poll(fds, remaining) == 0:
                continue
            try:
                size = _libc.recvfrom(self._fd, ctypes.addressof(self._buf), len(self._buf),
                                      _libc.MSG_PEEK | _libc.MSG_TRUNC | _libc.MSG_DONTWAIT,
                                      call="recvfrom(netlink, %s)" % call, hints=hints)
                if size > len(self._buf):
                    self._buf = ctypes.create_string_buffer(size)
                size = _libc.recvfrom(self._fd, ctypes.addressof(self._buf), len(self._buf),
                                      _libc.MSG_DONTWAIT, call="recvfrom(netlink, %s)" % call,
                                      hints=hints)
            except BlockingIOError:
                continue
            return ctypes.string_at(self._buf, size)
