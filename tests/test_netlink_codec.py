"""The netlink encoder and decoder.

Golden bytes: every request pyxsk sends, written out field by field by hand
(little-endian), held against the builders; one root test sends the golden
bytes themselves to the kernel, in a fresh namespace where the indexes are
known, and the kernel accepts each.  Then the decoder on hand-made answers,
and the socket's own behaviour (timeouts, stale answers, buffer growth).
"""

import contextlib
import ctypes
import errno
import ipaddress
import os
import struct
import sys

import pytest

from pyxsk.net import link, netlink, netns
from pyxsk.errors import ConfigError, NetlinkDecodeError, NetlinkError
from pyxsk.uapi import if_link as ifla
from pyxsk.uapi import netlink as unl
from pyxsk.uapi import rtnetlink as rt

from minimal_prog import xdp_pass_program

little_endian_only = pytest.mark.skipif(
    sys.byteorder != "little", reason="golden bytes are written little-endian")

PROG_FD = 200          # the program fd number written into the XDP goldens
NETNS_FD = 201         # the namespace fd number written into the move golden
# In a fresh namespace lo is 1; a veth pair registers its peer first: pxg1 2, pxg0 3.
PEER_INDEX, MAIN_INDEX = 2, 3


def golden(*fields):
    return bytes.fromhex("".join(fields))


# name -> (builder call, golden bytes, answers the kernel gives: "ack" or "dump")
GOLDEN = {
    "veth": (lambda: link.veth_request("pxg0", "pxg1", queues=2), golden(
        "80000000 1000 0506 00000000 00000000",   # nlmsghdr: 128, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE
        "00 00 0000 00000000 00000000 00000000",  # ifinfomsg: all 0, the kernel picks the index
        "0900 0300 70786730 00 000000",           # IFLA_IFNAME "pxg0\0" + 3 padding
        "0800 1f00 02000000",                     # IFLA_NUM_TX_QUEUES 2
        "0800 2000 02000000",                     # IFLA_NUM_RX_QUEUES 2
        "4400 1280",                              # IFLA_LINKINFO | NLA_F_NESTED, 68 bytes
        "0900 0100 76657468 00 000000",           # .. IFLA_INFO_KIND "veth\0"
        "3400 0280",                              # .. IFLA_INFO_DATA | NLA_F_NESTED, 52 bytes
        "3000 0100",                              # .... VETH_INFO_PEER, 48 bytes:
        "00 00 0000 00000000 00000000 00000000",  # ...... ifinfomsg of the peer
        "0900 0300 70786731 00 000000",           # ...... IFLA_IFNAME "pxg1\0"
        "0800 1f00 02000000",                     # ...... IFLA_NUM_TX_QUEUES 2
        "0800 2000 02000000"), "ack"),            # ...... IFLA_NUM_RX_QUEUES 2
    "getlink_by_name": (lambda: link.getlink_request("pxg0"), golden(
        "34000000 1200 0500 00000000 00000000",   # 52, RTM_GETLINK, REQUEST|ACK
        "00 00 0000 00000000 00000000 00000000",  # ifi_index 0: look the name up
        "0900 0300 70786730 00 000000",           # IFLA_IFNAME "pxg0\0"
        "0800 1d00 08000000"), "ack"),            # IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS
    "getlink_by_index": (lambda: link.getlink_request(MAIN_INDEX), golden(
        "28000000 1200 0500 00000000 00000000",   # 40, RTM_GETLINK, REQUEST|ACK
        "00 00 0000 03000000 00000000 00000000",  # ifi_index 3
        "0800 1d00 08000000"), "ack"),
    "setlink": (lambda: link.setlink_request(PEER_INDEX, up=True, mtu=1400, mac="02:00:00:00:00:01"),
                golden(
        "34000000 1300 0500 00000000 00000000",   # 52, RTM_SETLINK, REQUEST|ACK
        "00 00 0000 02000000 01000000 01000000",  # ifi_index 2, ifi_flags IFF_UP, ifi_change IFF_UP
        "0800 0400 78050000",                     # IFLA_MTU 1400
        "0a00 0100 020000000001 0000"), "ack"),   # IFLA_ADDRESS, 6 bytes + 2 padding
    "newaddr_v4": (lambda: link.newaddr_request(PEER_INDEX, "10.0.0.1/24"), golden(
        "28000000 1400 0506 00000000 00000000",   # 40, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE
        "02 18 00 00 02000000",                   # ifaddrmsg: AF_INET, /24, flags 0, scope 0, index 2
        "0800 0200 0a000001",                     # IFA_LOCAL 10.0.0.1
        "0800 0100 0a000001"), "ack"),            # IFA_ADDRESS 10.0.0.1
    "newaddr_v6": (lambda: link.newaddr_request(PEER_INDEX, "fd00::1/64"), golden(
        "2c000000 1400 0506 00000000 00000000",   # 44, RTM_NEWADDR
        "0a 40 02 00 02000000",                   # AF_INET6, /64, IFA_F_NODAD, scope 0, index 2
        "1400 0100 fd000000000000000000000000000001"), "ack"),   # IFA_ADDRESS fd00::1
    "newneigh": (lambda: link.newneigh_request(PEER_INDEX, "10.0.0.2", "02:00:00:00:00:02"), golden(
        "30000000 1c00 0505 00000000 00000000",   # 48, RTM_NEWNEIGH, REQUEST|ACK|REPLACE|CREATE
        "02 00 0000 02000000 8000 00 00",         # ndmsg: AF_INET, ifindex 2, NUD_PERMANENT
        "0800 0100 0a000002",                     # NDA_DST 10.0.0.2
        "0a00 0200 020000000002 0000"), "ack"),   # NDA_LLADDR
    "getroute": (lambda: link.getroute_request("10.0.0.1"), golden(
        "24000000 1a00 0500 00000000 00000000",   # 36, RTM_GETROUTE, REQUEST|ACK
        "02 20 00 00 00 00 00 00 00000000",       # rtmsg: AF_INET, dst_len 32, the rest 0
        "0800 0100 0a000001"), "ack"),            # RTA_DST 10.0.0.1
    "getaddr_dump": (lambda: link.getaddr_dump_request(), golden(
        "18000000 1600 0103 00000000 00000000",   # 24, RTM_GETADDR, REQUEST|ROOT|MATCH (dump)
        "00 00 00 00 00000000"), "dump"),
    "getlink_dump": (lambda: link.getlink_dump_request(), golden(
        "28000000 1200 0103 00000000 00000000",   # 40, RTM_GETLINK, dump
        "00 00 0000 00000000 00000000 00000000",
        "0800 1d00 08000000"), "dump"),
    "xdp_attach": (lambda: link.xdp_request(MAIN_INDEX, PROG_FD, ifla.XDP_FLAGS_SKB_MODE), golden(
        "34000000 1300 0500 00000000 00000000",   # 52, RTM_SETLINK, REQUEST|ACK
        "00 00 0000 03000000 00000000 00000000",  # ifi_index 3
        "1400 2b80",                              # IFLA_XDP | NLA_F_NESTED, 20 bytes
        "0800 0100 c8000000",                     # .. IFLA_XDP_FD 200
        "0800 0300 02000000"), "ack"),            # .. IFLA_XDP_FLAGS XDP_FLAGS_SKB_MODE
    "xdp_replace": (lambda: link.xdp_request(
        MAIN_INDEX, PROG_FD, ifla.XDP_FLAGS_SKB_MODE | ifla.XDP_FLAGS_REPLACE, expected_fd=PROG_FD),
        golden(
        "3c000000 1300 0500 00000000 00000000",   # 60
        "00 00 0000 03000000 00000000 00000000",
        "1c00 2b80",                              # IFLA_XDP, 28 bytes
        "0800 0100 c8000000",                     # .. IFLA_XDP_FD 200
        "0800 0300 12000000",                     # .. IFLA_XDP_FLAGS SKB_MODE | REPLACE
        "0800 0800 c8000000"), "ack"),            # .. IFLA_XDP_EXPECTED_FD 200
    "xdp_detach": (lambda: link.xdp_request(MAIN_INDEX, -1, ifla.XDP_FLAGS_SKB_MODE), golden(
        "34000000 1300 0500 00000000 00000000",
        "00 00 0000 03000000 00000000 00000000",
        "1400 2b80",
        "0800 0100 ffffffff",                     # .. IFLA_XDP_FD -1: detach
        "0800 0300 02000000"), "ack"),
    "move": (lambda: link.setlink_request(PEER_INDEX, netns_fd=NETNS_FD), golden(
        "28000000 1300 0500 00000000 00000000",   # 40, RTM_SETLINK
        "00 00 0000 02000000 00000000 00000000",  # ifi_index 2, no flag change
        "0800 1c00 c9000000"), "ack"),            # IFLA_NET_NS_FD 201
    "dellink": (lambda: link.dellink_request("pxg0"), golden(
        "2c000000 1100 0500 00000000 00000000",   # 44, RTM_DELLINK, REQUEST|ACK
        "00 00 0000 00000000 00000000 00000000",
        "0900 0300 70786730 00 000000"), "ack"),  # IFLA_IFNAME "pxg0\0"
}
KERNEL_ORDER = ["veth", "getlink_by_name", "getlink_by_index", "setlink", "newaddr_v4",
                "newaddr_v6", "newneigh", "getroute", "getaddr_dump", "getlink_dump", "xdp_attach",
                "xdp_replace", "xdp_detach", "move", "dellink"]


@little_endian_only
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_request_matches_golden(name):
    build, expected, _answer = GOLDEN[name]
    assert build().hex() == expected.hex()


def test_every_golden_is_sent_to_the_kernel():
    assert sorted(KERNEL_ORDER) == sorted(GOLDEN)


@contextlib.contextmanager
def _fd_at(fd, number):
    """``fd`` duplicated onto descriptor ``number`` (which must be free)."""
    with pytest.raises(OSError) as free:
        os.fstat(number)
    assert free.value.errno == errno.EBADF, "fd %d is in use; the golden test needs it" % number
    os.dup2(fd, number)
    try:
        yield number
    finally:
        os.close(number)


@little_endian_only
@pytest.mark.root
def test_kernel_accepts_every_golden_request(no_leaks):
    first, second = netns.create_anonymous(), netns.create_anonymous()
    try:
        with xdp_pass_program() as (prog_fd, prog_id), _fd_at(prog_fd, PROG_FD), \
                _fd_at(second, NETNS_FD), netlink.NetlinkSocket(first) as sock:
            for name in KERNEL_ORDER:
                _build, msg, answer = GOLDEN[name]
                if answer == "dump":
                    assert sock.dump(msg, name), name
                else:
                    sock.request(msg, name)
                if name == "getlink_by_name":
                    found = sock.request(msg, name)[0]
                    assert found.header["ifi_index"] == MAIN_INDEX
                    assert found.attrs["num_rx_queues"] == 2
                if name == "getroute":
                    assert sock.request(msg, name)[0].header["rtm_type"] == rt.RTN_LOCAL
                if name == "xdp_attach":
                    assert link.get_link(MAIN_INDEX, first).xdp.skb_prog_id == prog_id
            assert [lk.name for lk in link.links(first)] == ["lo"]
            assert [lk.name for lk in link.links(second)] == ["lo"]
    finally:
        os.close(first)
        os.close(second)


# -- encoder ------------------------------------------------------------------

def test_attr_pads_to_four_bytes_and_counts_only_the_payload():
    assert netlink.attr(1, b"abcde") == golden("0900 0100 6162636465 000000")
    assert netlink.attr(1, b"abcd") == golden("0800 0100 61626364")
    assert netlink.attr(7) == golden("0400 0700")


def test_nest_sets_the_nested_flag_and_sums_the_children():
    inner = netlink.attr_u8(2, 1)
    assert netlink.nest(5, inner, inner) == golden("1400 0580", "0500 0200 01 000000" * 2)


def test_scalar_encoders_use_host_order_and_check_the_range():
    assert netlink.attr_u16(1, 0x1234) == struct.pack("=HHH", 6, 1, 0x1234) + b"\0\0"
    assert netlink.attr_s32(1, -1) == golden("0800 0100 ffffffff")
    assert netlink.attr_u64(1, 1 << 40) == struct.pack("=HHQ", 12, 1, 1 << 40)
    with pytest.raises(ConfigError, match="does not fit in u8"):
        netlink.attr_u8(1, 256)
    with pytest.raises(ConfigError, match="does not fit in u32"):
        netlink.attr_u32(1, -1)
    with pytest.raises(TypeError):
        netlink.attr_u32(1, "1")
    with pytest.raises(TypeError):
        netlink.attr_u32(1, True)


def test_encoder_refuses_what_the_header_cannot_say():
    with pytest.raises(ConfigError, match="nla_len"):
        netlink.attr(1, bytes(0xFFFF))
    netlink.attr(1, bytes(0xFFFF - unl.NLA_HDRLEN))       # exactly fits
    with pytest.raises(ConfigError, match="nla_type"):
        netlink.attr(0x10000)
    with pytest.raises(ConfigError, match="NUL"):
        netlink.attr_str(3, "a\0b")


def test_message_pads_the_family_header():
    class three_bytes(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint8 * 3)]
    msg = netlink.message(rt.RTM_GETLINK, 0, three_bytes(), [netlink.attr_u8(1, 9)])
    assert msg == golden("1c000000 1200 0000 00000000 00000000", "000000 00", "0500 0100 09 000000")


def test_link_requests_reject_bad_input_before_sending():
    with pytest.raises(ConfigError):
        link.getlink_request("a" * 16)
    with pytest.raises(ConfigError):
        link.getlink_request("has/slash")
    with pytest.raises(ConfigError):
        link.getlink_request(0)
    with pytest.raises(TypeError):
        link.getlink_request(1.5)
    with pytest.raises(ConfigError):
        link.veth_request("a", "b", queues=0)
    with pytest.raises(ConfigError):
        link.setlink_request(1, mac="02:00:00:00:00")
    with pytest.raises(ConfigError):
        link.setlink_request(1, mac="02:00:00:00:00:zz")
    with pytest.raises(ConfigError):
        link.newaddr_request(1, "10.0.0.300/24")
    with pytest.raises(ConfigError, match="mode"):
        link.xdp_flags("native")


# -- decoder ------------------------------------------------------------------

NEWLINK_ANSWER = golden(
    "68000000 1000 0200 07000000 d2040000",   # 104, RTM_NEWLINK, NLM_F_MULTI, seq 7, pid 1234
    "00 00 0100 05000000 43100100 00000000",  # ARPHRD_ETHER, index 5, flags UP|BROADCAST|MULTICAST|LOWER_UP
    "0800 0300 76657468",                     # IFLA_IFNAME "veth" (no NUL: ends with the attribute)
    "0800 0400 dc050000",                     # IFLA_MTU 1500
    "1c00 2b80",                              # IFLA_XDP nested, 28 bytes
    "0500 0200 02 000000",                    # .. IFLA_XDP_ATTACHED XDP_ATTACHED_SKB
    "0800 0600 2a000000",                     # .. IFLA_XDP_SKB_PROG_ID 42
    "0800 0400 2a000000",                     # .. IFLA_XDP_PROG_ID 42
    "1400 3480",                              # IFLA_PROP_LIST nested, 20 bytes
    "0600 3500 6100 0000",                    # .. IFLA_ALT_IFNAME "a\0"
    "0600 3500 6200 0000",                    # .. IFLA_ALT_IFNAME "b\0"
    "0600 e703 abcd 0000")                    # type 999, unknown: kept raw


def test_decode_link_answer_into_plain_values():
    (msg,) = netlink.decode_messages(NEWLINK_ANSWER)
    assert (msg.type, msg.flags, msg.seq, msg.pid) == (rt.RTM_NEWLINK, unl.NLM_F_MULTI, 7, 1234)
    assert msg.type_name == "RTM_NEWLINK"
    assert msg.header == {"ifi_family": 0, "__ifi_pad": 0, "ifi_type": 1, "ifi_index": 5,
                          "ifi_flags": 0x11043, "ifi_change": 0}
    assert msg.attrs == {
        "ifname": "veth", "mtu": 1500,
        "xdp": {"attached": ifla.XDP_ATTACHED_SKB, "skb_prog_id": 42, "prog_id": 42},
        "prop_list": {"alt_ifname": ["a", "b"]},
        999: b"\xab\xcd",
    }


def test_link_record_from_decoded_answer():
    record = link._link_from(netlink.decode_messages(NEWLINK_ANSWER)[0])
    assert (record.index, record.name, record.mtu, record.up) == (5, "veth", 1500, True)
    assert record.xdp == link.XdpState("skb", 42, 42, 0, 0)
    assert record.xdp.prog_ids() == {"skb": 42}
    assert record.mac is None and record.kind is None


def test_several_messages_in_one_datagram():
    noop = golden("15000000 0100 0000 00000000 00000000 0102030405 000000")  # 21 bytes + padding
    done = netlink.message(unl.NLMSG_DONE, unl.NLM_F_MULTI, ctypes.c_int(0))
    data = noop + NEWLINK_ANSWER + done
    types = [m.type for m in netlink.decode_messages(data)]
    assert types == [unl.NLMSG_NOOP, rt.RTM_NEWLINK, unl.NLMSG_DONE]


EBUSY_WITH_EXTACK = golden(
    "44000000 0200 0003 09000000 00000000",   # 68, NLMSG_ERROR, NLM_F_CAPPED|NLM_F_ACK_TLVS, seq 9
    "f0ffffff",                               # error -EBUSY
    "34000000 1300 0500 09000000 00000000",   # the request's header (capped: no body)
    "1500 0100", "58445020 70726f67 72616d20 626f6f6d 00 000000",   # MSG "XDP program boom\0"
    "0800 0200 20000000")                     # OFFS 32


def test_error_with_extended_ack_raises_netlink_error_once_negated():
    (msg,) = netlink.decode_messages(EBUSY_WITH_EXTACK)
    assert msg.header["error"] == -errno.EBUSY
    assert msg.header["msg"]["nlmsg_type"] == rt.RTM_SETLINK
    assert msg.attrs == {"msg": "XDP program boom", "offs": 32}
    with pytest.raises(NetlinkError) as caught:
        netlink.raise_for_error(msg, "attach_xdp(test)", {errno.EBUSY: "detach it first"})
    e = caught.value
    assert (e.errno, e.message, e.offset, e.call, e.hint) == (
        errno.EBUSY, "XDP program boom", 32, "attach_xdp(test)", "detach it first")
    assert "XDP program boom" in str(e) and "detach it first" in str(e)


def test_uncapped_error_skips_the_echoed_request():
    request = link.getlink_request(3)                  # 40 bytes echoed in full
    payload = bytes(ctypes.c_int(-errno.ENODEV)) + request
    payload += netlink.attr_str(unl.NLMSGERR_ATTR_MSG, "gone")
    err = netlink.message(unl.NLMSG_ERROR, unl.NLM_F_ACK_TLVS, None, [payload])
    (msg,) = netlink.decode_messages(err)
    assert msg.attrs == {"msg": "gone"}
    with pytest.raises(NetlinkError) as caught:
        netlink.raise_for_error(msg, "get")
    assert caught.value.errno == errno.ENODEV and caught.value.message == "gone"
    assert caught.value.offset is None


def test_ack_is_success_and_permission_errors_get_the_capability_hint():
    ack = netlink.message(unl.NLMSG_ERROR, unl.NLM_F_CAPPED, None,
                          [bytes(ctypes.c_int(0)) + link.dellink_request(3)[:unl.NLMSG_HDRLEN]])
    (msg,) = netlink.decode_messages(ack)
    assert netlink.raise_for_error(msg, "ok") is None
    denied = msg._replace(header=dict(msg.header, error=-errno.EPERM))
    with pytest.raises(PermissionError) as caught:
        netlink.raise_for_error(denied, "delete")
    assert isinstance(caught.value, NetlinkError) and "CAP_NET_ADMIN" in caught.value.hint


def test_done_carries_the_dump_error():
    done = netlink.message(unl.NLMSG_DONE, unl.NLM_F_MULTI, ctypes.c_int(-errno.EINVAL))
    (msg,) = netlink.decode_messages(done)
    with pytest.raises(NetlinkError) as caught:
        netlink.raise_for_error(msg, "dump")
    assert caught.value.errno == errno.EINVAL
    (empty,) = netlink.decode_messages(netlink.message(unl.NLMSG_DONE))
    assert empty.header == {"error": 0}


def test_address_and_unknown_type_payloads():
    v6 = netlink.message(rt.RTM_NEWADDR, 0, link._ifa.ifaddrmsg(ifa_family=10, ifa_prefixlen=64),
                         [netlink.attr(1, ipaddress.ip_address("fd00::1").packed),
                          netlink.attr_u32(8, 0x80)])
    (msg,) = netlink.decode_messages(v6)
    assert msg.attrs == {"address": ipaddress.ip_address("fd00::1"), "flags": 0x80}
    (other,) = netlink.decode_messages(netlink.message(0x7777, 0, None, [b"\x01\x02\x03\x04"]))
    assert other.header == b"\x01\x02\x03\x04" and other.attrs == {}


@pytest.mark.parametrize("data, complaint", [
    (b"\x10\x00\x00", "stray bytes after the last message"),
    (golden("0f000000 1000 0000 00000000 00000000"), "claims 15 bytes"),
    (golden("20000000 1000 0000 00000000 00000000"), "claims 32 bytes"),
    (NEWLINK_ANSWER[:40], "claims 104 bytes"),
    (golden("14000000 0200 0000 00000000 00000000 00000000"), "NLMSG_ERROR payload needs 20"),
    (golden("13000000 0300 0000 00000000 00000000 0000 00"), "NLMSG_DONE payload needs 4"),
    (golden("24000000 1000 0000 00000000 00000000", "00" * 16, "0300 0400"), "claims 3 bytes"),
    (golden("24000000 1000 0000 00000000 00000000", "00" * 16, "0500 0400"), "claims 5 bytes, 4"),
    (golden("26000000 1000 0000 00000000 00000000", "00" * 16, "0600 0400 dc05"), "u32 attribute holds 2"),
    (golden("26000000 1000 0000 00000000 00000000", "00" * 16, "0400 e703 dc05"), "2 stray bytes"),
    (golden("1c000000 1000 0000 00000000 00000000", "00" * 12), "ifinfomsg needs 16"),
])
def test_malformed_input_raises_decode_error(data, complaint):
    with pytest.raises(NetlinkDecodeError, match=complaint):
        netlink.decode_messages(data)


def test_uncapped_error_with_impossible_echo_length():
    bad = netlink.message(unl.NLMSG_ERROR, 0, None, [bytes(ctypes.c_int(-1)) + golden(
        "ff000000 1000 0000 00000000 00000000")])
    with pytest.raises(NetlinkDecodeError, match="echoes a request of 255"):
        netlink.decode_messages(bad)


def test_strings_that_are_not_utf8_survive():
    (msg,) = netlink.decode_messages(netlink.message(
        rt.RTM_NEWLINK, 0, rt.ifinfomsg(), [netlink.attr(ifla.IFLA_IFNAME, b"\xff\xfe\0")]))
    assert os.fsencode(msg.attrs["ifname"]) == b"\xff\xfe"


def test_round_trip_of_a_veth_request_header_and_attributes():
    (msg,) = netlink.decode_messages(link.veth_request("va", "vb", queues=3, mtu=2000))
    assert msg.attrs["ifname"] == "va" and msg.attrs["mtu"] == 2000
    assert msg.attrs["num_tx_queues"] == msg.attrs["num_rx_queues"] == 3
    assert msg.attrs["linkinfo"]["kind"] == "veth"


# -- the socket ---------------------------------------------------------------

def test_socket_lifetime(no_leaks):
    sock = netlink.NetlinkSocket()
    assert "fd=%d" % sock.fileno() in repr(sock) and not sock.closed
    sock.close()
    sock.close()
    assert sock.closed and repr(sock) == "<NetlinkSocket [closed]>"
    with pytest.raises(ValueError, match="closed"):
        sock.fileno()
    with netlink.NetlinkSocket() as inner:
        assert not inner.closed
    assert inner.closed


def test_timeout_then_the_stale_answer_is_dropped(no_leaks):
    with netlink.NetlinkSocket() as sock:
        with pytest.raises(TimeoutError) as caught:
            sock.request(link.getlink_request(1), "get lo", timeout=0)
        assert isinstance(caught.value, NetlinkError) and caught.value.errno == errno.ETIMEDOUT
        # lo's answer to the timed-out request is still queued; it must not
        # be taken for the answer to this one
        (answer,) = sock.request(link.getlink_request(1), "get lo again")
        assert answer.attrs["ifname"] == "lo"
        dump = sock.dump(link.getlink_dump_request(), "dump")
        assert [m.type for m in dump] == [rt.RTM_NEWLINK] * len(dump) and dump


def test_receive_buffer_grows_for_a_large_datagram(monkeypatch, no_leaks):
    monkeypatch.setattr(netlink, "RECV_BUFFER_START", unl.NLMSG_HDRLEN)
    with netlink.NetlinkSocket() as sock:
        assert sock.buffer_size == unl.NLMSG_HDRLEN
        links = sock.dump(link.getlink_dump_request(), "dump")
        assert links[0].attrs["ifname"] == "lo"
        assert sock.buffer_size > unl.NLMSG_HDRLEN


def test_socket_refuses_a_message_whose_length_lies(no_leaks):
    msg = bytearray(link.getlink_request(1))
    msg[0] += 4
    with netlink.NetlinkSocket() as sock:
        with pytest.raises(ConfigError, match="nlmsg_len"):
            sock.request(bytes(msg), "bad")
        with pytest.raises(ConfigError, match="not a netlink message"):
            sock.request(b"\0" * 4, "short")


@pytest.mark.root
def test_kernel_extended_ack_reaches_the_exception(no_leaks):
    # strict checking refuses a link dump filtered by index, and says why
    bad_dump = netlink.message(rt.RTM_GETLINK, 0, rt.ifinfomsg(ifi_index=1))
    with netlink.NetlinkSocket() as sock:
        with pytest.raises(NetlinkError) as caught:
            sock.dump(bad_dump, "filtered dump")
    assert caught.value.errno == errno.EINVAL
    assert caught.value.message == "Filter by device index not supported for link dumps"
