"""One-line summaries for the command line: of a frame, and of a socket.

A frame's line is in the manner of ``tcpdump -e -nn`` (``pyxsk dump``)::

    12:00:00.000001 02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4,
    10.0.0.1.4000 > 10.0.0.2.9: UDP, length 60

(one line, broken here to fit).  It has the time, the MAC addresses, the
EtherType (after up to two 802.1Q/802.1ad tags, which are shown), the IPv4
or IPv6 addresses, the protocol and the UDP/TCP/SCTP ports, and the frame's
length.  Any bytes at all give a line: a frame too short for a header says
where it ends ("IPv4, truncated header") instead of raising.

A socket's line says its modes (XDP native or generic, copy or zero-copy,
need_wakeup) or its XDP_STATISTICS counters.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from typing import TYPE_CHECKING, Dict, Optional, Union

if TYPE_CHECKING:
    from ..xsk import Socket

Buffer = Union[bytes, bytearray, memoryview]
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

ETH_ALEN = 6
ETH_HLEN = 14
ETH_TYPE_OFF = 12
ETH_TYPE_LEN = 2
VLAN_HLEN = 4
VLAN_VID_MASK = 0x0fff
IPV4_MIN_HLEN = 20
IPV4_IHL_MASK = 0x0f
IPV4_WORD = 4                      # IHL counts 32-bit words
IPV4_FLAGS_OFF = 6                 # flags and fragment offset
IPV4_PROTO_OFF = 9
IPV4_SADDR_OFF, IPV4_DADDR_OFF, IPV4_ALEN = 12, 16, 4
IPV4_FRAG_OFFSET_MASK = 0x1fff     # non-zero: a later fragment, no transport header
IPV4_FRAG_UNIT = 8                 # the fragment offset counts 8-byte units
IPV4_MF = 0x2000                   # more fragments follow
IPV6_HLEN = 40
IPV6_NEXTHDR_OFF = 6
IPV6_SADDR_OFF, IPV6_DADDR_OFF, IPV6_ALEN = 8, 24, 16
PORTS_LEN = 4
MAX_TAGS = 2                       # 802.1ad outer + 802.1Q inner, as switches stack them

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88a8
ETH_P_IPV6 = 0x86dd
ETH_P_802_3_MIN = 0x0600           # below: an 802.3 length, not an EtherType

ETHERTYPES = {
    ETH_P_IP: "IPv4", ETH_P_ARP: "ARP", ETH_P_IPV6: "IPv6",
    0x8035: "RARP", 0x8847: "MPLS", 0x8848: "MPLS multicast", 0x888e: "EAPOL",
    0x88cc: "LLDP", 0x88f7: "PTP", 0x8906: "FCoE",
}
IP_PROTOCOLS = {0: "HBH", 1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 47: "GRE", 50: "ESP", 51: "AH",
                58: "ICMPv6", 132: "SCTP"}
PORT_PROTOCOLS = frozenset((6, 17, 132))   # TCP, UDP, SCTP: ports first in the header

_TIME_FORMAT = "%H:%M:%S"
_USEC = 10 ** 6


def format_time(timestamp: float) -> str:
    """``HH:MM:SS.uuuuuu`` in local time, as tcpdump prints it."""
    seconds = int(timestamp)
    micro = int(round((timestamp - seconds) * _USEC))
    if micro >= _USEC:
        seconds, micro = seconds + 1, micro - _USEC
    return "%s.%06d" % (time.strftime(_TIME_FORMAT, time.localtime(seconds)), micro)


def format_mac(raw: bytes) -> str:
    return ":".join("%02x" % b for b in raw)


def summarize(frame: Buffer, timestamp: Optional[float] = None) -> str:
    """The one-line summary of ``frame`` (bytes-like), starting with the
    time if ``timestamp`` (seconds since the epoch) is given."""
    data = bytes(frame)
    line = "%s, length %d" % (describe(data), len(data))
    return line if timestamp is None else "%s %s" % (format_time(timestamp), line)


def describe(data: bytes) -> str:
    """Everything but the time and length: MACs, tags, network and transport."""
    if len(data) < ETH_HLEN:
        return "truncated Ethernet header"
    head = "%s > %s" % (format_mac(_slice(data, ETH_ALEN, ETH_ALEN)),
                        format_mac(_slice(data, 0, ETH_ALEN)))
    parts = [head]
    offset = ETH_TYPE_OFF
    ethertype = _u16(data, offset)
    for _ in range(MAX_TAGS):
        if ethertype not in (ETH_P_8021Q, ETH_P_8021AD):
            break
        if len(data) < offset + ETH_TYPE_LEN + VLAN_HLEN:
            parts.append("truncated 802.1Q tag")
            return ", ".join(parts)
        tci = _u16(data, offset + ETH_TYPE_LEN)
        parts.append("802.1%s vlan %d" % ("Q" if ethertype == ETH_P_8021Q else "ad",
                                          tci & VLAN_VID_MASK))
        offset += VLAN_HLEN
        ethertype = _u16(data, offset)
    parts.append(_network(ethertype, data, offset + ETH_TYPE_LEN))
    return ", ".join(parts)


def _u16(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("!H", data, offset)[0]
    return value


def _network(ethertype: int, data: bytes, offset: int) -> str:
    if ethertype < ETH_P_802_3_MIN:
        return "802.3 length %d" % ethertype
    if ethertype == ETH_P_IP:
        return _ipv4(data, offset)
    if ethertype == ETH_P_IPV6:
        return _ipv6(data, offset)
    name = ETHERTYPES.get(ethertype)
    return name if name else "ethertype 0x%04x" % ethertype


def _ipv4(data: bytes, offset: int) -> str:
    if len(data) < offset + IPV4_MIN_HLEN:
        return "IPv4, truncated header"
    ihl = (data[offset] & IPV4_IHL_MASK) * IPV4_WORD
    flags_frag = _u16(data, offset + IPV4_FLAGS_OFF)
    proto = data[offset + IPV4_PROTO_OFF]
    src = ipaddress.IPv4Address(_slice(data, offset + IPV4_SADDR_OFF, IPV4_ALEN))
    dst = ipaddress.IPv4Address(_slice(data, offset + IPV4_DADDR_OFF, IPV4_ALEN))
    if ihl < IPV4_MIN_HLEN:
        return "IPv4, %s > %s: bad header length %d" % (src, dst, ihl)
    later_fragment = flags_frag & IPV4_FRAG_OFFSET_MASK
    fragment = ""
    if flags_frag & (IPV4_MF | IPV4_FRAG_OFFSET_MASK):
        fragment = " (fragment offset %d)" % (later_fragment * IPV4_FRAG_UNIT)
    return "IPv4, %s%s" % (_transport(src, dst, proto, data, offset + ihl, not later_fragment),
                           fragment)


def _ipv6(data: bytes, offset: int) -> str:
    if len(data) < offset + IPV6_HLEN:
        return "IPv6, truncated header"
    nexthdr = data[offset + IPV6_NEXTHDR_OFF]
    src = ipaddress.IPv6Address(_slice(data, offset + IPV6_SADDR_OFF, IPV6_ALEN))
    dst = ipaddress.IPv6Address(_slice(data, offset + IPV6_DADDR_OFF, IPV6_ALEN))
    return "IPv6, %s" % _transport(src, dst, nexthdr, data, offset + IPV6_HLEN, True)


def _slice(data: bytes, offset: int, length: int) -> bytes:
    return data[offset:offset + length]


def _transport(src: IPAddress, dst: IPAddress, proto: int, data: bytes, offset: int,
               has_header: bool) -> str:
    """``src.port > dst.port: PROTO`` (ports only for TCP, UDP and SCTP
    when the header is there), else ``src > dst: PROTO``."""
    name = IP_PROTOCOLS.get(proto, "proto %d" % proto)
    if proto in PORT_PROTOCOLS and has_header:
        if len(data) < offset + PORTS_LEN:
            return "%s > %s: %s, truncated %s header" % (src, dst, name, name)
        sport, dport = struct.unpack_from("!HH", data, offset)
        return "%s.%d > %s.%d: %s" % (src, sport, dst, dport, name)
    return "%s > %s: %s" % (src, dst, name)


# -- sockets -----------------------------------------------------------------------

XDP_MODE_WORDS: Dict[str, str] = {"drv": "native (drv)", "skb": "generic (skb)",
                                  "hw": "offloaded (hw)"}
COPY_MODE_WORDS: Dict[Optional[bool], str] = {True: "zero-copy", False: "copy mode",
                                               None: "copy mode unknown (kernel < 5.3)"}


def socket_modes(sock: Socket) -> str:
    """How an open socket works, in words: "XDP native (drv), copy mode,
    need_wakeup" (the XDP part only for an XskSocket that attached)."""
    words = []
    xdp_mode = getattr(sock, "xdp_mode", None)
    if xdp_mode is not None:
        words.append("XDP " + XDP_MODE_WORDS.get(xdp_mode, xdp_mode))
    words.append(COPY_MODE_WORDS[sock.options().zerocopy])
    words.append("need_wakeup" if sock.need_wakeup else "no need_wakeup")
    return ", ".join(words)


def statistics(sock: Socket) -> str:
    """XDP_STATISTICS in one line: "rx_dropped 0, rx_invalid_descs 0, ..."
    (counters the kernel does not report are left out)."""
    return ", ".join("%s %d" % (name, value) for name, value in sock.statistics()._asdict().items()
                     if value is not None)
