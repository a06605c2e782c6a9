"""The test helpers themselves: what the veth fixtures build, that traffic
flows through it at once, and that nothing is left afterwards."""

import errno
import json
import socket
import struct
import subprocess
import sys

import pytest

from pyxsk.net import link, netns


PORT = 40404
ETH_P_PYXSK = 0x88B5          # IEEE 802 "local experimental" EtherType
ETH_HEADER = struct.Struct("!6s6sH")
RECV_TIMEOUT = 5.0            # seconds; traffic between two veth ends takes microseconds


@pytest.fixture
def testing(pytestconfig):
    """pyxsk.testing as pytest registered it from ``pytest_plugins`` (importing
    it at the top of this file would load it before pytest could)."""
    module = pytestconfig.pluginmanager.get_plugin("pyxsk.testing")
    assert module is not None and module.__name__ == "pyxsk.testing"
    return module


def ip_netns_list():
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True,
                         check=True).stdout
    return {entry["name"] for entry in json.loads(out)} if out.strip() else set()


def ip_addresses(end):
    (shown,) = json.loads(subprocess.run(
        ["ip", "-j", "-n", end.netns, "addr", "show", "dev", end.name],
        capture_output=True, text=True, check=True).stdout)
    return shown


def assert_gone(pair):
    names = ip_netns_list()
    assert pair.a.netns not in names and pair.b.netns not in names
    assert not {pair.a.name, pair.b.name} & {lk.name for lk in link.links()}


@pytest.mark.root
def test_veth_pair_is_built_as_described(veth_pair):
    assert {veth_pair.a.netns, veth_pair.b.netns} <= ip_netns_list()
    for end, peer in ((veth_pair.a, veth_pair.b), (veth_pair.b, veth_pair.a)):
        record = link.get_link(end.name, netns=end.netns)
        assert (record.index, record.mac, record.kind) == (end.index, end.mac, "veth")
        assert record.up and record.operstate == "UP" and record.mtu == veth_pair.mtu == 1500
        assert record.num_rx_queues == record.num_tx_queues == veth_pair.queues == 1
        shown = ip_addresses(end)
        local = {(a["local"], a["prefixlen"]) for a in shown["addr_info"]}
        assert (str(end.ipv4.ip), end.ipv4.network.prefixlen) in local
        assert (str(end.ipv6.ip), end.ipv6.network.prefixlen) in local
        v6 = next(a for a in shown["addr_info"] if a["local"] == str(end.ipv6.ip))
        assert v6.get("nodad") and not v6.get("tentative")
        neighbours = json.loads(subprocess.run(
            ["ip", "-j", "-n", end.netns, "neigh", "show", "dev", end.name],
            capture_output=True, text=True, check=True).stdout)
        permanent = {(n["dst"], n["lladdr"]) for n in neighbours if n["state"] == ["PERMANENT"]}
        assert permanent == {(str(peer.ipv4.ip), peer.mac), (str(peer.ipv6.ip), peer.mac)}
    assert veth_pair.a.netns != veth_pair.b.netns


@pytest.mark.root
def test_factory_options(make_veth_pair, testing):
    pair = make_veth_pair(queues=4, mtu=3000, ipv6=None, neighbours=False)
    other = make_veth_pair(ipv4=("192.168.77.1/30", "192.168.77.2/30"), up=False)
    a = link.get_link(pair.a.name, netns=pair.a.netns)
    assert (a.num_tx_queues, a.num_rx_queues, a.mtu, pair.mtu) == (4, 4, 3000, 3000)
    assert pair.a.ipv6 is None and str(pair.b.ipv4) == testing.DEFAULT_IPV4[1]
    assert not link.get_link(other.b.name, netns=other.b.netns).up
    assert str(other.a.ipv4) == "192.168.77.1/30"
    assert len({pair.a.netns, pair.b.netns, other.a.netns, other.b.netns}) == 4


def _socket_in(namespace, family, kind, proto=0):
    return netns.run_in(namespace, socket.socket, family, kind, proto)


@pytest.mark.root
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_udp_flows_both_ways_at_once(veth_pair, family):
    a, b = veth_pair.a, veth_pair.b
    address = (lambda end: str(end.ipv4.ip)) if family == socket.AF_INET else (lambda end: str(end.ipv6.ip))
    for sender, receiver in ((a, b), (b, a)):
        with _socket_in(receiver.netns, family, socket.SOCK_DGRAM) as rx, \
                _socket_in(sender.netns, family, socket.SOCK_DGRAM) as tx:
            rx.bind((address(receiver), PORT))
            rx.settimeout(RECV_TIMEOUT)
            payload = b"from " + sender.name.encode()
            tx.sendto(payload, (address(receiver), PORT))
            data, peer = rx.recvfrom(len(payload) + 1)
            assert data == payload and peer[0] == address(sender)


@pytest.mark.root
def test_raw_frame_crosses_the_pair(veth_pair):
    a, b = veth_pair.a, veth_pair.b
    proto = socket.htons(ETH_P_PYXSK)
    with _socket_in(b.netns, socket.AF_PACKET, socket.SOCK_RAW, proto) as rx, \
            _socket_in(a.netns, socket.AF_PACKET, socket.SOCK_RAW, proto) as tx:
        rx.bind((b.name, ETH_P_PYXSK))
        rx.settimeout(RECV_TIMEOUT)
        tx.bind((a.name, ETH_P_PYXSK))
        mac = lambda text: bytes.fromhex(text.replace(":", ""))  # noqa: E731
        frame = ETH_HEADER.pack(mac(b.mac), mac(a.mac), ETH_P_PYXSK) + b"pyxsk".ljust(46, b"\0")
        tx.send(frame)
        assert rx.recv(2048) == frame


@pytest.mark.root
def test_cleanup_removes_everything(testing):
    with testing.temporary_veth_pair(queues=2) as pair:
        assert {pair.a.netns, pair.b.netns} <= ip_netns_list()
    assert_gone(pair)


@pytest.mark.root
def test_cleanup_runs_when_the_body_fails(testing):
    with pytest.raises(KeyError, match="boom"):
        with testing.temporary_veth_pair() as pair:
            raise KeyError("boom")
    assert_gone(pair)


@pytest.mark.root
def test_cleanup_tolerates_what_the_test_removed_itself(testing):
    with testing.temporary_veth_pair() as pair:
        link.delete_link(pair.a.name, netns=pair.a.netns)
        netns.delete(pair.b.netns)
    assert_gone(pair)


@pytest.mark.root
def test_cleanup_error_names_what_is_left(testing):
    with pytest.raises(testing.CleanupError, match="still in netns"):
        with testing.temporary_veth_pair() as pair:
            # a link the helper does not know about, named like one of its own ends
            link.delete_link(pair.a.name, netns=pair.a.netns)
            link.add_veth(pair.a.name, testing.unique_name("x"), netns=pair.b.netns)
    assert_gone(pair)


def test_invalid_options_are_refused_before_anything_is_made(testing):
    before = netns.names()
    with pytest.raises(ValueError, match="two addresses"):
        with testing.temporary_veth_pair(ipv4=("10.0.0.1/24",)):
            pass
    with pytest.raises(ValueError, match="two IPv4 addresses"):
        with testing.temporary_veth_pair(ipv4=("fd00::1/64", "fd00::2/64")):
            pass
    with pytest.raises(ValueError, match="two IPv6 addresses"):
        with testing.temporary_veth_pair(ipv6=("fd00::1/64", "10.0.0.2/24")):
            pass
    assert netns.names() == before


def test_unique_names_fit_an_interface_name(testing):
    names = {testing.unique_name("va") for _ in range(1000)}
    assert len(names) == 1000 and max(len(n) for n in names) <= 15
    with pytest.raises(ValueError):
        testing.unique_name("x" * 12)


def test_the_package_imports_without_pytest():
    code = ("import sys; sys.modules['pytest'] = None\n"
            "import pyxsk.testing, pyxsk.net.link, pyxsk.net.netlink\n"
            "assert 'pytest' not in {m for m in sys.modules if sys.modules[m] is not None}\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert result.returncode == 0, result.stderr


def test_fixtures_skip_without_root(monkeypatch, testing):
    """Elsewhere the fixtures skip with the reason instead of failing."""
    monkeypatch.setattr(testing.os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="need root"):
        testing._require_root(pytest)


def test_errors_for_a_missing_namespace():
    with pytest.raises(FileNotFoundError) as caught:
        netns.open_fd("pxt-no-such-namespace")
    assert caught.value.errno == errno.ENOENT
