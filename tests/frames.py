"""Crafted frames for the XDP program tests, built with struct from the RFC
header layouts (independent of pyxsk.bpf.xdp' offsets)."""

import ipaddress
import struct

DST_MAC = bytes.fromhex("020000000002")
SRC_MAC = bytes.fromhex("020000000001")
ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_ARP, ETH_P_1588 = 0x0800, 0x86dd, 0x8100, 0x0806, 0x88f7
UDP, TCP, ICMP, SCTP, HOPOPTS = 17, 6, 1, 132, 0
IP_MF = 0x2000
PAD_TO = 96          # every frame is padded so that all truncation lengths 0..64 exist


def ether(ethertype, payload, vlan=None):
    hdr = DST_MAC + SRC_MAC
    if vlan is not None:
        hdr += struct.pack("!HH", ETH_P_8021Q, vlan)
    frame = hdr + struct.pack("!H", ethertype) + payload
    return frame.ljust(PAD_TO, b"\xee")


def ipv4(proto, payload, dst="192.0.2.2", src="192.0.2.1", frag=0, options=b""):
    ihl = 5 + len(options) // 4
    total = ihl * 4 + len(payload)
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, frag, 64, proto, 0,
                       ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed) \
        + options + payload


def ipv6(nexthdr, payload, dst="2001:db8::2", src="2001:db8::1"):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nexthdr, 64,
                       ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed) + payload


def udp(sport, dport, payload=b"hello"):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport, dport):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 65535, 0, 0)


def udp4(dport=9, sport=1234, vlan=None, **ip):
    return ether(ETH_P_IP, ipv4(UDP, udp(sport, dport), **ip), vlan)


def udp6(dport=9, sport=1234, vlan=None, **ip):
    return ether(ETH_P_IPV6, ipv6(UDP, udp(sport, dport), **ip), vlan)


def tcp4(dport=9, sport=1234, vlan=None, **ip):
    return ether(ETH_P_IP, ipv4(TCP, tcp(sport, dport), **ip), vlan)


def tcp6(dport=9, sport=1234, vlan=None, **ip):
    return ether(ETH_P_IPV6, ipv6(TCP, tcp(sport, dport), **ip), vlan)


def arp():
    return ether(ETH_P_ARP, bytes(28))
