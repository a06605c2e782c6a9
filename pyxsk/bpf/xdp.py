"""Ready XDP programs: redirect to AF_XDP sockets, everything or what matches.

Each function returns an :class:`asm.Program`; load it with
:func:`pyxsk.bpf.load` and attach it to an interface::

    xskmap = bpf.XskMap(max_entries=64)
    prog = bpf.load(programs.redirect_matching(xskmap, "udp dst port 9"), name="pyxsk_filter")

Both programs send a frame to the socket in ``xskmap[rx_queue_index]`` with
``bpf_redirect_map(&xskmap, ctx->rx_queue_index, XDP_PASS)``.  The last
argument is the fallback: since Linux 5.3 the low bits of bpf_redirect_map's
flags are the action it returns when the map slot is empty.  XDP_PASS there
means that a queue without a socket keeps working as if no program were
attached: its traffic goes up the kernel's stack.  The seed article used
XDP_ABORTED, which *drops* every frame on a queue that has no socket bound
(and counts it as an exception in the xdp:xdp_exception tracepoint) — an
interface whose ARP, SSH or routing traffic silently disappears the moment
the program is attached, before any socket exists, and on every queue the
application does not serve.  libxdp's default program makes the same
choice.

A per-action counter map (:class:`ActionCounters`) can be given to either
program: it counts, per CPU, how many frames the program redirected, passed,
dropped... by the action it returned.  "Redirected" means bpf_redirect_map
found a socket; the socket can still drop the frame later (rx ring full,
no fill-ring entries), which its XDP_STATISTICS report.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Any, Dict, Final, List, NamedTuple, Optional, TypedDict, Union, cast

from .. import bpf
from .asm import (ALU, ALU64, JMP, JMP32, LD, LDX, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10,
                  STX, XDP_MD_DATA, XDP_MD_DATA_END, XDP_MD_RX_QUEUE_INDEX, Instruction, Label, Program,
                  label)
from ..errors import ConfigError
from ..uapi import bpf as k

__all__ = ["redirect_all", "redirect_matching", "ActionCounters", "Filter", "parse_filter"]

# Ethernet, 802.1Q, IPv4, IPv6, UDP/TCP: the sizes and offsets the filter reads
ETH_HLEN = 14
ETH_TYPE_OFF = 12
VLAN_HLEN = 4
VLAN_TCI_OFF = ETH_HLEN                 # the tag sits where the ethertype was
VLAN_VID_MASK = 0x0fff
VLAN_VID_MAX = VLAN_VID_MASK
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86dd
ETH_P_8021Q = 0x8100
ETH_P_MAX = 0xffff
ETH_P_802_3_MIN = 0x0600                # smaller values are 802.3 lengths, not types
IPV4_MIN_HLEN = 20
IPV4_IHL_MASK = 0x0f
IPV4_IHL_SHIFT = 2                      # IHL counts 32-bit words
IPV4_FRAG_OFF = 6
IPV4_FRAG_OFFSET_MASK = 0x1fff          # non-zero: not the first fragment, no L4 header
IPV4_PROTO_OFF = 9
IPV4_DADDR_OFF = 16
IPV6_HLEN = 40
IPV6_NEXTHDR_OFF = 6
IPV6_DADDR_OFF = 24
L4_PORTS_LEN = 4                        # source and destination port, UDP and TCP alike
L4_SPORT_OFF = 0
L4_DPORT_OFF = 2
PORT_MAX = 0xffff
IPPROTO_MAX = 0xff
IPPROTO = {"icmp": 1, "tcp": 6, "udp": 17, "icmp6": 58, "sctp": 132}
PORT_PROTOS = (IPPROTO["tcp"], IPPROTO["udp"])
ADDR_WORD = 4                           # addresses are compared 32 bits at a time
STACK_KEY_OFF = -4                      # where the counter key is built on the stack
COUNTER_SIZE: Final = 8                 # each counter is a u64

_U16_BYTES = 2

# the instructions and labels a program is built from
_Code = List[Union[Instruction, Label]]
_Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def _net16(value: int) -> int:
    """A 16-bit field as a u16 load from the packet sees it: network order
    bytes read in host order."""
    return int.from_bytes(value.to_bytes(_U16_BYTES, "big"), sys.byteorder)


def _net32(raw: bytes) -> int:
    return int.from_bytes(raw, sys.byteorder)


# -- counters ------------------------------------------------------------------------

class ActionCounters(bpf.PerCpuArrayMap[int]):
    """A per-CPU array indexed by XDP action: element ``XdpAction.PASS`` counts
    the frames the program passed, and so on.  ``counts()`` sums the CPUs."""

    def __init__(self, name: Optional[str] = None) -> None:
        super().__init__(max_entries=len(bpf.XdpAction), value_size=COUNTER_SIZE, name=name)

    def counts(self) -> Dict[bpf.XdpAction, int]:
        """{XdpAction: frames, summed over CPUs}."""
        return {action: self.sum(int(action)) for action in bpf.XdpAction}


def _count_and_exit(counters: Optional[Union[ActionCounters, int]]) -> _Code:
    """Add one to counters[r0] (this CPU's copy) and return r0."""
    if counters is None:
        return [JMP.EXIT()]
    return [
        ALU64.MOV.reg(R6, R0),
        STX.W(R10, STACK_KEY_OFF, R0),
        ALU64.MOV.reg(R2, R10),
        ALU64.ADD.imm(R2, STACK_KEY_OFF),
        LD.map_fd(R1, counters),
        JMP.CALL("map_lookup_elem"),
        JMP.JEQ.imm(R0, 0, "count_done"),
        LDX.DW(R1, R0, 0),
        ALU64.ADD.imm(R1, 1),
        STX.DW(R0, 0, R1),     # per-CPU value: no other CPU writes it, no atomic needed
        label("count_done"),
        ALU64.MOV.reg(R0, R6),
        JMP.EXIT(),
    ]


def _redirect(xskmap: Union[bpf.XskMap, int]) -> _Code:
    """r0 = bpf_redirect_map(xskmap, ctx->rx_queue_index, XDP_PASS); needs ctx in R1."""
    return [
        LDX.W(R2, R1, XDP_MD_RX_QUEUE_INDEX),
        LD.map_fd(R1, xskmap),
        ALU64.MOV.imm(R3, k.XDP_PASS),      # the action when the slot is empty (5.3+)
        JMP.CALL("redirect_map"),
    ]


def redirect_all(xskmap: Union[bpf.XskMap, int],
                 counters: Optional[Union[ActionCounters, int]] = None) -> Program:
    """Every frame to the AF_XDP socket of its rx queue; XDP_PASS where the
    queue has none.  ``counters``: an optional :class:`ActionCounters`."""
    return Program(_redirect(xskmap) + _count_and_exit(counters))


# -- filters ---------------------------------------------------------------------------

class _FilterFields(NamedTuple):
    ethertype: Optional[int]
    vlan: Union[bool, int, None]        # None: tagged or not; True: tagged; an int: that VLAN id
    ip: Optional[int]
    proto: Optional[int]
    src_port: Optional[int]
    dst_port: Optional[int]
    dst: Optional[_Network]


class _FilterKeywords(TypedDict, total=False):
    """Filter's fields as keywords (redirect_matching's **fields)."""
    ethertype: Optional[int]
    vlan: Union[bool, int, None]
    ip: Optional[int]
    proto: Union[int, str, None]
    src_port: Optional[int]
    dst_port: Optional[int]
    dst: Union[str, _Network, None]


class Filter(_FilterFields):
    """What :func:`redirect_matching` redirects; every field given must match.

    - ``ethertype``: the EtherType after at most one 802.1Q tag (0x0600..0xffff)
    - ``vlan``: None: tagged or not; True: tagged; an int: tagged with that VLAN id
    - ``ip``: 4 or 6
    - ``proto``: IP protocol number (or "udp", "tcp", "icmp", "icmp6", "sctp");
      IPv6 extension headers are not followed, so it is the first next-header
    - ``src_port``, ``dst_port``: UDP or TCP ports (any of the two if ``proto``
      is not given); IPv4 fragments after the first carry no ports and never match
    - ``dst``: destination address or network (``"10.0.0.1"``,
      ``"fd00::/64"``); sets ``ip``

    ``str(filter)`` is the text :func:`parse_filter` reads back.
    """

    __slots__ = ()

    def __new__(cls, ethertype: Optional[int] = None, vlan: Union[bool, int, None] = None,
                ip: Optional[int] = None, proto: Union[int, str, None] = None,
                src_port: Optional[int] = None, dst_port: Optional[int] = None,
                dst: Union[str, _Network, None] = None) -> Filter:
        if isinstance(proto, str):
            if proto not in IPPROTO:
                raise ConfigError("unknown IP protocol %r (know %s)" % (proto, ", ".join(IPPROTO)))
            proto = IPPROTO[proto]
        if dst is not None:
            try:
                dst = ipaddress.ip_network(dst, strict=True)
            except ValueError as e:
                raise ConfigError("dst: %s" % e)
            if ip is not None and ip != dst.version:
                raise ConfigError("dst %s is IPv%d, the filter says ip %d" % (dst, dst.version, ip))
            ip = dst.version
        _check_int(ethertype, ETH_P_802_3_MIN, ETH_P_MAX, "ethertype")
        if vlan is not None and vlan is not True:
            _check_int(vlan, 0, VLAN_VID_MAX, "vlan id")
        if ip not in (None, 4, 6):
            raise ConfigError("ip must be 4 or 6, not %r" % (ip,))
        _check_int(proto, 0, IPPROTO_MAX, "proto")
        _check_int(src_port, 0, PORT_MAX, "src_port")
        _check_int(dst_port, 0, PORT_MAX, "dst_port")
        if (src_port is not None or dst_port is not None) and proto is not None \
                and proto not in PORT_PROTOS:
            raise ConfigError("ports need UDP or TCP, not IP protocol %d" % proto)
        ip_needed = ip is not None or proto is not None or src_port is not None or dst_port is not None
        if ethertype is not None and ip_needed:
            wanted = {4: (ETH_P_IP,), 6: (ETH_P_IPV6,), None: (ETH_P_IP, ETH_P_IPV6)}[ip]
            if ethertype not in wanted:
                raise ConfigError("ethertype %#06x cannot carry IP%s" % (ethertype, "v%d" % ip if ip else ""))
            ethertype = None    # implied by the IP match
        return super().__new__(cls, ethertype, vlan, ip, proto, src_port, dst_port, dst)

    @property
    def needs_ip(self) -> bool:
        return any(v is not None for v in (self.ip, self.proto, self.src_port, self.dst_port, self.dst))

    def __str__(self) -> str:
        words: List[str] = []
        if self.vlan is True:
            words.append("vlan")
        elif self.vlan is not None:
            words.append("vlan %d" % self.vlan)
        if self.ethertype is not None:
            words.append("ether proto %#06x" % self.ethertype)
        if self.ip is not None and self.dst is None:
            words.append("ip" if self.ip == 4 else "ip6")
        names = {v: n for n, v in IPPROTO.items()}
        if self.proto is not None:
            words.append(names.get(self.proto, "proto %d" % self.proto))
        if self.src_port is not None:
            words.append("src port %d" % self.src_port)
        if self.dst_port is not None:
            words.append("dst port %d" % self.dst_port)
        if self.dst is not None:
            words.append("dst net %s" % self.dst if self.dst.prefixlen != self.dst.max_prefixlen
                         else "dst host %s" % self.dst.network_address)
        return " and ".join(words) or "all"


def _check_int(value: object, lo: int, hi: int, what: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError("%s must be an int %d..%d, not %r" % (what, lo, hi, value))


def _number(text: str, what: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise ConfigError("%s: %r is not a number" % (what, text))


def parse_filter(text: str) -> Filter:
    """A :class:`Filter` from tcpdump-like words, all of which must match
    (``and`` between them is optional)::

        udp dst port 9
        vlan 10 and ip6 and tcp src port 443
        ip and dst net 10.0.0.0/8
        ether proto 0x88f7
        dst host fd00::1 and proto 132

    Words: ``ip``/``ip4``, ``ip6``, ``udp``, ``tcp``, ``icmp``, ``icmp6``,
    ``sctp``, ``proto N``, ``vlan [ID]``, ``ether proto N``, ``src port N``,
    ``dst port N``, ``dst host ADDR``, ``dst net PREFIX``, ``all``.
    """
    words = [w for w in text.lower().split() if w != "and"]
    fields: Dict[str, Union[int, str]] = {}

    def put(name: str, value: Union[int, str]) -> None:
        if name in fields and fields[name] != value:
            raise ConfigError("filter %r: %s given twice" % (text, name.replace("_", " ")))
        fields[name] = value

    i = 0
    while i < len(words):
        word, rest = words[i], words[i + 1:]
        i += 1
        if word == "all" and len(words) == 1:
            continue
        if word in ("ip", "ip4"):
            put("ip", 4)
        elif word == "ip6":
            put("ip", 6)
        elif word in IPPROTO:
            put("proto", IPPROTO[word])
        elif word == "proto" and rest:
            put("proto", IPPROTO.get(rest[0]) or _number(rest[0], "proto"))
            i += 1
        elif word == "vlan":
            if rest and rest[0][:1].isdigit():
                put("vlan", _number(rest[0], "vlan"))
                i += 1
            else:
                put("vlan", True)
        elif word == "ether" and rest[:1] == ["proto"] and len(rest) > 1:
            put("ethertype", _number(rest[1], "ether proto"))
            i += 2
        elif word in ("src", "dst") and rest[:1] == ["port"] and len(rest) > 1:
            put(word + "_port", _number(rest[1], word + " port"))
            i += 2
        elif word == "dst" and rest[:1] in (["host"], ["net"]) and len(rest) > 1:
            put("dst", rest[1])
            i += 2
        else:
            raise ConfigError("filter %r: cannot parse at %r (see pyxsk.bpf.xdp.parse_filter)"
                              % (text, " ".join(words[i - 1:])))
    # cast: put() stores only Filter's fields, each with a value of its type
    return Filter(**cast("_FilterKeywords", fields))


def _as_filter(filter: object, fields: Dict[str, Any]) -> Filter:
    if filter is None:
        return Filter(**fields)
    if fields:
        raise ConfigError("give a filter or keyword fields, not both")
    if isinstance(filter, Filter):
        return filter
    if isinstance(filter, str):
        return parse_filter(filter)
    raise TypeError("filter must be a Filter or a string, not %s" % type(filter).__name__)


# Registers of the matching program:
#   R6 ctx, R7 data, R8 data_end, R9 the header being read (L3, then L4),
#   R2 the EtherType, R5 the IP protocol; R3/R4 scratch.

def _need(length: int, fail: str = "pass") -> _Code:
    """Check that R9 + length <= data_end, else jump to ``fail``."""
    return [ALU64.MOV.reg(R3, R9), ALU64.ADD.imm(R3, length), JMP.JGT.reg(R3, R8, fail)]


def _ethernet(f: Filter) -> _Code:
    """R9 = L3 header, R2 = EtherType, skipping at most one 802.1Q tag."""
    code: _Code = [
        ALU64.MOV.reg(R9, R7), ALU64.ADD.imm(R9, ETH_HLEN), JMP.JGT.reg(R9, R8, "pass"),
        LDX.H(R2, R7, ETH_TYPE_OFF),
        JMP.JNE.imm(R2, _net16(ETH_P_8021Q), "untagged"),
        ALU64.ADD.imm(R9, VLAN_HLEN), JMP.JGT.reg(R9, R8, "pass"),
    ]
    if f.vlan is not None and f.vlan is not True:
        code += [LDX.H(R3, R7, VLAN_TCI_OFF), ALU.BE(R3, 16), ALU.AND.imm(R3, VLAN_VID_MASK),
                 JMP32.JNE.imm(R3, f.vlan, "pass")]
    code += [LDX.H(R2, R7, ETH_TYPE_OFF + VLAN_HLEN), JMP.JA("ethertype"), label("untagged")]
    if f.vlan is not None:
        code.append(JMP.JA("pass"))
    code.append(label("ethertype"))
    if f.ethertype is not None:
        code.append(JMP.JNE.imm(R2, _net16(f.ethertype), "pass"))
    return code


def _dst_match(dst: _Network, offset: int) -> _Code:
    """Compare the destination address at R9 + offset with dst, 32 bits at a time."""
    code: _Code = []
    addr, mask = dst.network_address.packed, dst.netmask.packed
    for i in range(0, len(addr), ADDR_WORD):
        word_mask = _net32(mask[i:i + ADDR_WORD])
        if not word_mask:
            break
        code.append(LDX.W(R3, R9, offset + i))
        if word_mask != _net32(b"\xff" * ADDR_WORD):
            code.append(ALU.AND.imm(R3, word_mask))
        code.append(JMP32.JNE.imm(R3, _net32(addr[i:i + ADDR_WORD]), "pass"))
    return code


def _proto_match(f: Filter, load_proto: Instruction, family: str) -> _Code:
    """R5 = the IP protocol (``load_proto``), and check it against the filter."""
    code: _Code = [load_proto]
    if f.proto is not None:
        code.append(JMP.JNE.imm(R5, f.proto, "pass"))
    elif f.src_port is not None or f.dst_port is not None:
        ok = family + "_has_ports"
        code += [JMP.JEQ.imm(R5, IPPROTO["tcp"], ok), JMP.JNE.imm(R5, IPPROTO["udp"], "pass"), label(ok)]
    return code


def _ipv4(f: Filter, ports: bool) -> _Code:
    code = [label("ipv4")] + _need(IPV4_MIN_HLEN)
    code += _proto_match(f, LDX.B(R5, R9, IPV4_PROTO_OFF), "ipv4")
    if f.dst is not None:
        code += _dst_match(f.dst, IPV4_DADDR_OFF)
    if ports:
        code += [
            LDX.H(R3, R9, IPV4_FRAG_OFF), ALU.BE(R3, 16), ALU.AND.imm(R3, IPV4_FRAG_OFFSET_MASK),
            JMP.JNE.imm(R3, 0, "pass"),
            LDX.B(R4, R9, 0), ALU64.AND.imm(R4, IPV4_IHL_MASK), ALU64.LSH.imm(R4, IPV4_IHL_SHIFT),
            JMP.JLT.imm(R4, IPV4_MIN_HLEN, "pass"),
            ALU64.ADD.reg(R9, R4),
        ]
    return code + [JMP.JA("l4")]


def _ipv6(f: Filter, ports: bool) -> _Code:
    code = [label("ipv6")] + _need(IPV6_HLEN)
    code += _proto_match(f, LDX.B(R5, R9, IPV6_NEXTHDR_OFF), "ipv6")
    if f.dst is not None:
        code += _dst_match(f.dst, IPV6_DADDR_OFF)
    if ports:
        code.append(ALU64.ADD.imm(R9, IPV6_HLEN))
    return code + [JMP.JA("l4")]


def _ip(f: Filter) -> _Code:
    ports = f.src_port is not None or f.dst_port is not None
    code: _Code = []
    if f.ip in (None, 4):
        code.append(JMP.JEQ.imm(R2, _net16(ETH_P_IP), "ipv4"))
    if f.ip in (None, 6):
        code.append(JMP.JEQ.imm(R2, _net16(ETH_P_IPV6), "ipv6"))
    code.append(JMP.JA("pass"))
    if f.ip in (None, 4):
        code += _ipv4(f, ports)
    if f.ip in (None, 6):
        code += _ipv6(f, ports)
    code.append(label("l4"))
    if ports:
        code += _need(L4_PORTS_LEN)
        for port, off in ((f.src_port, L4_SPORT_OFF), (f.dst_port, L4_DPORT_OFF)):
            if port is not None:
                code += [LDX.H(R3, R9, off), JMP.JNE.imm(R3, _net16(port), "pass")]
    return code


def redirect_matching(xskmap: Union[bpf.XskMap, int], filter: Union[Filter, str, None] = None,
                      counters: Optional[Union[ActionCounters, int]] = None,
                      **fields: Any) -> Program:
    """Matching frames to the AF_XDP socket of their rx queue (XDP_PASS if
    the queue has none), all others XDP_PASS.

    ``filter`` is a :class:`Filter` or text for :func:`parse_filter`; or give
    the Filter's fields as keywords (``proto="udp", dst_port=9``).  Every
    header is bounds-checked before it is read, so truncated frames (and
    multi-buffer frames whose headers are not all in the first buffer)
    pass.  ``counters``: an optional :class:`ActionCounters`.
    """
    f = _as_filter(filter, fields)
    code: _Code = [ALU64.MOV.reg(R6, R1),
            LDX.W(R7, R6, XDP_MD_DATA),
            LDX.W(R8, R6, XDP_MD_DATA_END)]
    code += _ethernet(f)
    if f.needs_ip:
        code += _ip(f)
    code += [ALU64.MOV.reg(R1, R6)] + _redirect(xskmap) + [JMP.JA("out")]
    code += [label("pass"), ALU64.MOV.imm(R0, k.XDP_PASS), label("out")]
    return Program(code + _count_and_exit(counters))
