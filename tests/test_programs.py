"""pyxsk.bpf.xdp: every ready program loads into the kernel and, under
BPF_PROG_TEST_RUN, redirects what matches and passes the rest — VLAN-tagged,
IPv6, fragments, IP options, and frames truncated at every length 0..64."""

import itertools

import pytest

import frames as F
from pyxsk import _libc, bpf
from pyxsk.bpf import programs as bpf_programs
from pyxsk.bpf import xdp
from pyxsk.bpf.asm import Program
from pyxsk.errors import ConfigError
from pyxsk.bpf.xdp import Filter, parse_filter
from pyxsk.uapi import if_xdp

PASS, REDIRECT = bpf.XdpAction.PASS, bpf.XdpAction.REDIRECT
ETH, VLAN, IP4, IP6, PORTS = 14, 4, 20, 40, 4     # header bytes a filter needs to see whole
MAX_TRUNCATION = 64


@pytest.fixture
def xsk_fd():
    fd = _libc.socket(if_xdp.AF_XDP, _libc.SOCK_RAW, 0)
    yield fd
    _libc.close(fd)


@pytest.fixture
def xskmap(xsk_fd):
    """An XSKMAP whose slot 0 (the queue test runs use) holds a socket, so a
    frame the program redirects comes back as XDP_REDIRECT."""
    with bpf.XskMap(max_entries=4) as m:
        m[0] = xsk_fd
        yield m


def run(prog, frame, linear_size=None):
    return prog.test_run(frame, linear_size=linear_size).action


# -- redirect_all ------------------------------------------------------------------------

@pytest.mark.root
def test_redirect_all_falls_back_to_pass(xsk_fd):
    with bpf.XskMap(max_entries=1) as m, xdp.ActionCounters() as counters, \
            bpf.load(xdp.redirect_all(m, counters), name="pyxsk_all") as prog:
        assert run(prog, F.arp()) == PASS           # no socket in the slot
        m[0] = xsk_fd
        assert run(prog, F.arp()) == REDIRECT
        assert run(prog, F.udp6()) == REDIRECT
        counts = counters.counts()
        assert counts[PASS] == 1 and counts[REDIRECT] == 2 and counts[bpf.XdpAction.DROP] == 0


def test_redirect_all_reads_the_queue_and_passes_on_empty_slot():
    prog = str(xdp.redirect_all(1))
    assert "r2 = *(u32 *)(r1 +16)" in prog          # ctx->rx_queue_index
    assert "r3 = 2" in prog                          # XDP_PASS as the fallback action
    assert "call bpf_redirect_map#51" in prog


# -- redirect_matching: what matches ------------------------------------------------------

CASES = [
    # filter text, frame, expected action
    ("udp dst port 9", F.udp4(9), REDIRECT),
    ("udp dst port 9", F.udp4(10), PASS),
    ("udp dst port 9", F.tcp4(9), PASS),
    ("udp dst port 9", F.udp6(9), REDIRECT),
    ("udp dst port 9", F.udp4(9, vlan=10), REDIRECT),
    ("udp dst port 9", F.udp6(9, vlan=4095), REDIRECT),
    ("udp dst port 9", F.ether(F.ETH_P_IP, F.ipv4(F.UDP, F.udp(1, 9), frag=1)), PASS),   # later fragment
    ("udp dst port 9", F.ether(F.ETH_P_IP, F.ipv4(F.UDP, F.udp(1, 9), frag=F.IP_MF)), REDIRECT),
    ("udp dst port 9", F.ether(F.ETH_P_IP, F.ipv4(F.UDP, F.udp(9, 1), options=bytes(8))), PASS),
    ("udp dst port 9", F.ether(F.ETH_P_IP, F.ipv4(F.UDP, F.udp(1, 9), options=bytes(8))), REDIRECT),
    ("udp dst port 9", F.ether(F.ETH_P_IPV6, F.ipv6(F.HOPOPTS, bytes(8) + F.udp(1, 9))), PASS),
    ("udp dst port 9", F.arp(), PASS),
    ("udp src port 53", F.udp4(9, sport=53), REDIRECT),
    ("udp src port 53", F.udp4(53, sport=9), PASS),
    ("dst port 443", F.tcp4(443), REDIRECT),
    ("dst port 443", F.udp6(443), REDIRECT),
    ("dst port 443", F.ether(F.ETH_P_IP, F.ipv4(F.SCTP, F.udp(1, 443))), PASS),
    ("tcp src port 1 and dst port 2", F.tcp6(2, sport=1), REDIRECT),
    ("tcp src port 1 and dst port 2", F.tcp6(2, sport=3), PASS),
    ("ip", F.udp4(), REDIRECT),
    ("ip", F.udp6(), PASS),
    ("ip6", F.udp6(), REDIRECT),
    ("ip6", F.tcp4(), PASS),
    ("ip6", F.arp(), PASS),
    ("tcp", F.tcp6(), REDIRECT),
    ("tcp", F.tcp4(vlan=1), REDIRECT),
    ("tcp", F.udp4(), PASS),
    ("icmp", F.ether(F.ETH_P_IP, F.ipv4(F.ICMP, bytes(8))), REDIRECT),
    ("vlan 10", F.udp4(vlan=10), REDIRECT),
    ("vlan 10", F.udp4(vlan=11), PASS),
    ("vlan 10", F.udp4(), PASS),
    ("vlan", F.arp(), PASS),
    ("vlan", F.udp6(vlan=0), REDIRECT),
    ("ether proto 0x88f7", F.ether(F.ETH_P_1588, bytes(44)), REDIRECT),
    ("ether proto 0x88f7", F.ether(F.ETH_P_1588, bytes(44), vlan=3), REDIRECT),
    ("ether proto 0x88f7", F.udp4(), PASS),
    ("dst host 192.0.2.2", F.udp4(dst="192.0.2.2"), REDIRECT),
    ("dst host 192.0.2.2", F.udp4(dst="192.0.2.3"), PASS),
    ("dst host 192.0.2.2", F.udp4(src="192.0.2.2", dst="192.0.2.9"), PASS),
    ("dst net 10.0.0.0/8", F.udp4(dst="10.1.2.3"), REDIRECT),
    ("dst net 10.0.0.0/8", F.udp4(dst="11.0.0.1"), PASS),
    ("dst net 10.0.0.0/8", F.udp6(dst="::ffff:10.1.2.3"), PASS),
    ("dst net fd00::/64 and udp", F.udp6(dst="fd00::5"), REDIRECT),
    ("dst net fd00::/64 and udp", F.udp6(dst="fd00:0:0:1::5"), PASS),
    ("dst net fd00::/64 and udp", F.tcp6(dst="fd00::5"), PASS),
    ("dst host 2001:db8::2 and udp dst port 9", F.udp6(9), REDIRECT),
    ("dst host 2001:db8::2 and udp dst port 9", F.udp6(9, dst="2001:db8::3"), PASS),
    ("dst net 2001:db0::/28", F.udp6(dst="2001:db8::1"), REDIRECT),     # 0db8 & fff0 = 0db0
    ("dst net 2001:db0::/28", F.udp6(dst="2001:dc0::1"), PASS),
    ("all", F.arp(), REDIRECT),
]


@pytest.mark.root
@pytest.mark.parametrize("text,frame,expected", CASES,
                         ids=["%s:%d" % (c[0], i) for i, c in enumerate(CASES)])
def test_redirect_matching(xskmap, text, frame, expected):
    with bpf.load(xdp.redirect_matching(xskmap, text), name="pyxsk_match") as prog:
        assert run(prog, frame) == expected


# -- truncated frames pass -------------------------------------------------------------

TRUNCATION = [
    # filter, matching frame, bytes the filter must see whole before it can match
    ("all", F.udp4(), ETH),
    ("vlan 10", F.udp4(vlan=10), ETH + VLAN),
    ("ether proto 0x88f7", F.ether(F.ETH_P_1588, bytes(44), vlan=7), ETH + VLAN),
    ("ip", F.udp4(), ETH + IP4),
    ("ip6", F.udp6(), ETH + IP6),
    ("udp", F.udp4(vlan=2), ETH + VLAN + IP4),
    ("udp dst port 9", F.udp4(9), ETH + IP4 + PORTS),
    ("udp dst port 9", F.udp4(9, vlan=10), ETH + VLAN + IP4 + PORTS),
    ("tcp src port 1234", F.tcp6(), ETH + IP6 + PORTS),
    ("dst port 9", F.ether(F.ETH_P_IP, F.ipv4(F.UDP, F.udp(1, 9), options=bytes(8))),
     ETH + IP4 + 8 + PORTS),
    ("dst host 192.0.2.2", F.udp4(), ETH + IP4),
    ("dst net 2001:db8::/32 and udp", F.udp6(vlan=5), ETH + VLAN + IP6),
]


@pytest.mark.root
@pytest.mark.parametrize("text,frame,needed", TRUNCATION, ids=[t[0] for t in TRUNCATION])
def test_truncated_frames_pass_at_every_length(xskmap, text, frame, needed):
    with bpf.load(xdp.redirect_matching(xskmap, text)) as prog:
        assert run(prog, frame) == REDIRECT
        for length in range(MAX_TRUNCATION + 1):
            expected = REDIRECT if length >= needed else PASS
            # the program sees only `length` bytes: the rest sits in a fragment
            assert run(prog, frame, linear_size=length) == expected, length
            if length >= bpf_programs.ETH_HLEN:       # and a frame really cut short
                assert run(prog, frame[:length]) == expected, length


# -- counters -----------------------------------------------------------------------------

@pytest.mark.root
def test_counters_count_each_action(xskmap):
    with xdp.ActionCounters(name="pyxsk_counts") as counters, \
            bpf.load(xdp.redirect_matching(xskmap, "udp dst port 9", counters=counters)) as prog:
        for _ in range(3):
            run(prog, F.udp4(9))
        for _ in range(5):
            run(prog, F.udp4(10))
        prog.test_run(F.udp6(9), repeat=7)
        counts = counters.counts()
        assert counts == {bpf.XdpAction.ABORTED: 0, bpf.XdpAction.DROP: 0, bpf.XdpAction.PASS: 5,
                          bpf.XdpAction.TX: 0, bpf.XdpAction.REDIRECT: 10}
        assert counters.info().name == "pyxsk_counts"


# -- every combination loads ---------------------------------------------------------------

def _combinations():
    for ip, proto, ports, vlan, dst in itertools.product(
            (None, 4, 6), (None, "udp", "tcp", "icmp"), ((None, None), (53, None), (None, 9), (1, 2)),
            (None, True, 10), (None, "198.51.100.0/24", "2001:db8::1")):
        try:
            yield Filter(ip=ip, proto=proto, src_port=ports[0], dst_port=ports[1], vlan=vlan, dst=dst)
        except ConfigError:
            continue


COMBINATIONS = list(_combinations())


@pytest.mark.root
def test_every_filter_combination_passes_the_verifier(xskmap):
    assert len(COMBINATIONS) > 200
    for f in COMBINATIONS:
        with bpf.load(xdp.redirect_matching(xskmap, f)) as prog:
            assert run(prog, F.arp()) in (PASS, REDIRECT), f
    with xdp.ActionCounters() as counters:
        for f in COMBINATIONS[::17]:
            bpf.load(xdp.redirect_matching(xskmap, f, counters)).close()


# -- the filter language --------------------------------------------------------------------

@pytest.mark.parametrize("text,fields", [
    ("udp dst port 9", dict(proto=17, dst_port=9)),
    ("UDP and DST PORT 9", dict(proto=17, dst_port=9)),
    ("vlan 10 and ip6 and tcp src port 443", dict(vlan=10, ip=6, proto=6, src_port=443)),
    ("vlan", dict(vlan=True)),
    ("ip and dst net 10.0.0.0/8", dict(ip=4, dst="10.0.0.0/8")),
    ("dst host fd00::1 and proto 132", dict(dst="fd00::1", proto=132)),
    ("proto sctp", dict(proto=132)),
    ("ether proto 0x88f7", dict(ethertype=0x88f7)),
    ("ether proto 0x0800 and udp", dict(proto=17)),      # implied by the IP match
    ("all", dict()),
    ("", dict()),
])
def test_parse_filter(text, fields):
    f = parse_filter(text)
    assert f == Filter(**fields)
    assert parse_filter(str(f)) == f


@pytest.mark.parametrize("text,match", [
    ("udp port 9", "cannot parse at 'port 9'"),
    ("dst port", "cannot parse"),
    ("dst port nine", "not a number"),
    ("icmp dst port 9", "ports need UDP or TCP"),
    ("ether proto 0x0806 and udp", "cannot carry IP"),
    ("ether proto 0x86dd and ip", "cannot carry IPv4"),
    ("ether proto 0x05dc", "ethertype must be"),
    ("ip6 and dst host 10.0.0.1", "is IPv4, the filter says ip 6"),
    ("dst net 10.0.0.1/8", "has host bits set"),
    ("dst host 999.0.0.1", "dst:"),
    ("vlan 4096", "vlan id must be"),
    ("udp dst port 70000", "dst_port must be"),
    ("udp and tcp", "proto given twice"),
    ("proto 300", "proto must be"),
])
def test_bad_filters_raise_config_error(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_filter(text)


def test_filter_keywords_and_text_build_the_same_program():
    a = xdp.redirect_matching(3, "vlan 10 and udp dst port 9")
    b = xdp.redirect_matching(3, vlan=10, proto="udp", dst_port=9)
    c = xdp.redirect_matching(3, Filter(vlan=10, proto=17, dst_port=9))
    assert a.assemble() == b.assemble() == c.assemble()
    assert isinstance(a, Program)
    with pytest.raises(ConfigError, match="not both"):
        xdp.redirect_matching(3, "udp", dst_port=9)
    with pytest.raises(TypeError):
        xdp.redirect_matching(3, 42)
    with pytest.raises(ConfigError, match="unknown IP protocol"):
        Filter(proto="gre")
