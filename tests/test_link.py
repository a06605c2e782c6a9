"""Links and XDP against the real kernel, with iproute2 and sysfs as independent oracles.

Everything that changes state happens in namespaces these tests create and
remove; the root namespace is only read.
"""

import contextlib
import errno
import ipaddress
import json
import os
import subprocess
import time

import pytest

from minimal_prog import xdp_pass_program
from pyxsk import _libc
from pyxsk.net import link, netlink, netns
from pyxsk.errors import ConfigError, NetlinkError
from pyxsk.testing import unique_name
from pyxsk.uapi import if_ as iff
from pyxsk.uapi import if_link as ifla


# the flag words ``ip link`` prints, and their bits (RUNNING is never printed;
# NO-CARRIER means UP without RUNNING)
IP_FLAGS = {
    "LOOPBACK": iff.IFF_LOOPBACK, "BROADCAST": iff.IFF_BROADCAST, "POINTOPOINT": iff.IFF_POINTOPOINT,
    "MULTICAST": iff.IFF_MULTICAST, "NOARP": iff.IFF_NOARP, "ALLMULTI": iff.IFF_ALLMULTI,
    "PROMISC": iff.IFF_PROMISC, "MASTER": iff.IFF_MASTER, "SLAVE": iff.IFF_SLAVE,
    "DEBUG": iff.IFF_DEBUG, "DYNAMIC": iff.IFF_DYNAMIC, "AUTOMEDIA": iff.IFF_AUTOMEDIA,
    "PORTSEL": iff.IFF_PORTSEL, "NOTRAILERS": iff.IFF_NOTRAILERS, "UP": iff.IFF_UP,
    "LOWER_UP": iff.IFF_LOWER_UP, "DORMANT": iff.IFF_DORMANT, "ECHO": iff.IFF_ECHO,
}
NO_CARRIER = "NO-CARRIER"
M_DOWN = "M-DOWN"          # operstate LOWERLAYERDOWN (a veth whose peer is down)
# bits sysfs's "flags" (dev->flags) and ifi_flags (dev_get_flags()) report differently
DERIVED_FLAGS = iff.IFF_RUNNING | iff.IFF_LOWER_UP | iff.IFF_DORMANT | iff.IFF_PROMISC | iff.IFF_ALLMULTI
MODE_ATTACHED = {"skb": ifla.XDP_ATTACHED_SKB, "drv": ifla.XDP_ATTACHED_DRV}
CYCLES = 3


def ip_json(*args, namespace=None):
    where = ["-n", namespace] if namespace else []
    out = subprocess.run(["ip", "-j"] + where + list(args), capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out) if out.strip() else []


def ip_link(name, namespace):
    (shown,) = ip_json("-d", "link", "show", "dev", name, namespace=namespace)
    return shown


def flags_from_ip(words):
    return sum(IP_FLAGS[w] for w in words if w not in (NO_CARRIER, M_DOWN))


def sysfs_links(namespace=None):
    """{name: (ifindex, mtu, address, flags)} from /sys/class/net (remounted
    for the namespace by ``ip netns exec``)."""
    script = ('for d in /sys/class/net/*; do echo "${d##*/} $(cat $d/ifindex) $(cat $d/mtu) '
              '$(cat $d/address) $(cat $d/flags)"; done')
    cmd = ["sh", "-c", script]
    if namespace:
        cmd = ["ip", "netns", "exec", namespace] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    table = {}
    for line in out.splitlines():
        name, index, mtu, address, flags = line.split()
        table[name] = (int(index), int(mtu), address, int(flags, 16))
    return table


def assert_matches_oracles(ours, shown, sysfs):
    """One Link against its ``ip -d -j link`` entry and its sysfs line."""
    assert ours.index == shown["ifindex"] and ours.name == shown["ifname"]
    assert ours.mtu == shown["mtu"]
    assert ours.mac == shown.get("address")
    assert ours.flags & ~iff.IFF_RUNNING == flags_from_ip(shown["flags"])
    assert (NO_CARRIER in shown["flags"]) == (ours.up and not ours.flags & iff.IFF_RUNNING)
    assert ours.operstate == shown["operstate"]
    assert (M_DOWN in shown["flags"]) == (ours.operstate == "LOWERLAYERDOWN")
    assert (ours.num_tx_queues, ours.num_rx_queues) == (shown["num_tx_queues"], shown["num_rx_queues"])
    assert ours.kind == shown.get("linkinfo", {}).get("info_kind")
    index, mtu, address, flags = sysfs[ours.name]
    assert (ours.index, ours.mtu, ours.mac) == (index, mtu, address)
    assert ours.flags & ~DERIVED_FLAGS == flags & ~DERIVED_FLAGS


def _key(record):
    return record._replace(attrs=None)


def test_root_namespace_dump_matches_ip_and_sysfs():
    """Read-only.  Other programs may change links meanwhile: compare those
    that look the same in a dump before and a dump after the oracles ran."""
    before = {lk.index: lk for lk in link.links()}
    shown = {entry["ifindex"]: entry for entry in ip_json("-d", "link", "show")}
    sysfs = sysfs_links()
    after = {lk.index: lk for lk in link.links()}
    stable = [i for i in before if i in after and i in shown and before[i].name in sysfs
              and _key(before[i]) == _key(after[i])]
    assert 1 in stable and before[1].name == "lo" and before[1].flags & iff.IFF_LOOPBACK
    for index in stable:
        assert_matches_oracles(before[index], shown[index], sysfs)
        assert _key(link.get_link(index)) == _key(before[index])
        assert _key(link.get_link(before[index].name)) == _key(before[index])


@pytest.fixture
def own_netns():
    """A named namespace of this test's own, gone afterwards (checked)."""
    name = unique_name("ns")
    netns.create(name)
    try:
        yield name
    finally:
        netns.delete(name)
        assert name not in netns.names()
        assert name not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                          text=True, check=True).stdout.split()


@pytest.mark.root
def settled_links(namespace, with_carrier, timeout=5.0):
    """The namespace's links once linkwatch has caught up: the kernel turns
    carrier (LOWER_UP) into RUNNING and operstate later, on its own time, so
    two snapshots taken right after set_link can disagree."""
    deadline = time.monotonic() + timeout
    while True:
        ours = link.links(netns=namespace)
        running = {lk.name for lk in ours if lk.flags & iff.IFF_RUNNING}
        if set(with_carrier) <= running and all(
                bool(lk.flags & iff.IFF_LOWER_UP) == bool(lk.flags & iff.IFF_RUNNING)
                for lk in ours if lk.up):
            return ours
        assert time.monotonic() < deadline, "links not settled after %g s: %s" % (timeout, ours)
        time.sleep(0.01)


def test_own_namespace_dump_matches_ip_and_sysfs(own_netns):
    made = [("a", "b", dict(queues=3, mtu=1280, mac="02:00:00:00:0a:01", peer_mac="02:00:00:00:0b:01")),
            ("c", "d", dict(queues=1, mtu=9000))]
    names = [(unique_name(x), unique_name(y), opts) for x, y, opts in made]
    for name, peer, opts in names:
        link.add_veth(name, peer, netns=own_netns, **opts)
    link.set_link(names[0][0], up=True, netns=own_netns)       # peer down: NO-CARRIER
    link.set_link(names[1][0], up=True, netns=own_netns)
    link.set_link(names[1][1], up=True, netns=own_netns)
    link.set_link("lo", up=True, netns=own_netns)
    ours = settled_links(own_netns, [names[1][0], names[1][1]])
    shown = {entry["ifindex"]: entry for entry in ip_json("-d", "link", "show", namespace=own_netns)}
    sysfs = sysfs_links(own_netns)
    assert sorted(lk.name for lk in ours) == sorted(["lo"] + [n for pair in names for n in pair[:2]])
    assert sorted(shown) == sorted(lk.index for lk in ours)
    for record in ours:
        assert_matches_oracles(record, shown[record.index], sysfs)
    by_name = {lk.name: lk for lk in ours}
    first, first_peer = by_name[names[0][0]], by_name[names[0][1]]
    assert (first.mac, first_peer.mac, first.mtu) == ("02:00:00:00:0a:01", "02:00:00:00:0b:01", 1280)
    assert (first.num_tx_queues, first.num_rx_queues, first.kind) == (3, 3, "veth")
    assert first.up and not first.flags & iff.IFF_RUNNING and first.link_index == first_peer.index
    assert by_name[names[1][0]].flags & iff.IFF_RUNNING and by_name[names[1][0]].mtu == 9000
    for name, _peer, _opts in names:
        link.delete_link(name, netns=own_netns)
    assert [lk.name for lk in link.links(netns=own_netns)] == ["lo"]


@pytest.mark.root
def test_lookups_by_name_and_index(veth_pair):
    a = veth_pair.a
    by_name = link.get_link(a.name, netns=a.netns)
    assert _key(link.get_link(a.index, netns=a.netns)) == _key(by_name)
    assert link.ifindex(a.name, netns=a.netns) == a.index == by_name.index
    assert link.ifname(a.index, netns=a.netns) == a.name
    assert link.ifindex(a.index) == a.index        # an index is taken as it is
    with pytest.raises(NetlinkError) as caught:
        link.get_link("pxnosuchlink", netns=a.netns)
    assert caught.value.errno == errno.ENODEV and "pxnosuchlink" in caught.value.hint
    assert a.name not in {lk.name for lk in link.links()}       # not in the root namespace


@pytest.mark.root
def test_anonymous_namespace_holds_only_loopback(no_leaks):
    fd = netns.create_anonymous()
    try:
        assert [lk.name for lk in link.links(netns=fd)] == ["lo"]
    finally:
        os.close(fd)


# -- XDP ----------------------------------------------------------------------

def assert_attached(end, mode, prog_id):
    state = link.get_link(end.name, netns=end.netns).xdp
    assert state.attached == mode and state.prog_id == prog_id
    assert state.prog_ids() == {mode: prog_id}
    shown = ip_link(end.name, end.netns)["xdp"]
    assert shown["mode"] == MODE_ATTACHED[mode] and shown["prog"]["id"] == prog_id


def assert_detached(end):
    assert link.get_link(end.name, netns=end.netns).xdp == link.XdpState()
    assert "xdp" not in ip_link(end.name, end.netns)


@pytest.mark.root
@pytest.mark.parametrize("mode", ["skb", "drv"])
def test_attach_detach_cycles(make_veth_pair, mode, no_leaks):
    pair = make_veth_pair(queues=2)
    end = pair.b
    with xdp_pass_program() as (fd, prog_id):
        for _cycle in range(CYCLES):
            assert link.attach_xdp(end.name, fd, mode=mode, netns=end.netns) == mode
            assert_attached(end, mode, prog_id)
            assert link.detach_xdp(end.index, mode=mode, netns=end.netns) == prog_id
            assert_detached(end)
        link.attach_xdp(end.index, fd, mode=mode, netns=end.netns)
        assert link.detach_xdp(end.name, netns=end.netns) == prog_id       # mode found by itself
        assert link.detach_xdp(end.name, netns=end.netns) == 0             # nothing left: no-op
        assert_detached(end)


@pytest.mark.root
def test_replace_swaps_only_the_expected_program(veth_pair, no_leaks):
    end = veth_pair.a
    with xdp_pass_program() as (old_fd, old_id), xdp_pass_program() as (new_fd, new_id):
        link.attach_xdp(end.name, old_fd, "skb", netns=end.netns)
        with pytest.raises(FileExistsError) as caught:
            link.attach_xdp(end.name, new_fd, "skb", replace=True, expected_fd=new_fd,
                            netns=end.netns)
        assert caught.value.message == "Active program does not match expected"
        assert "expected_fd" in caught.value.hint
        assert_attached(end, "skb", old_id)
        link.attach_xdp(end.name, new_fd, "skb", replace=True, expected_fd=old_fd, netns=end.netns)
        assert_attached(end, "skb", new_id)
        with pytest.raises(FileExistsError):
            link.detach_xdp(end.name, "skb", expected_fd=old_fd, netns=end.netns)
        assert link.detach_xdp(end.name, "skb", expected_fd=new_fd, netns=end.netns) == new_id
        assert_detached(end)


@pytest.mark.root
def test_update_if_noexist_refuses_with_the_kernel_words(veth_pair):
    end = veth_pair.a
    with xdp_pass_program() as (fd, prog_id), xdp_pass_program() as (other_fd, _other_id):
        link.attach_xdp(end.name, fd, "skb", update_if_noexist=True, netns=end.netns)
        with pytest.raises(NetlinkError) as caught:
            link.attach_xdp(end.name, other_fd, "skb", update_if_noexist=True, netns=end.netns)
        e = caught.value
        assert e.errno == errno.EBUSY and e.message == "XDP program already attached"
        assert "XDP program already attached" in str(e) and "detach it first" in str(e)
        assert_attached(end, "skb", prog_id)
        link.detach_xdp(end.name, "skb", netns=end.netns)


@pytest.mark.root
def test_attach_to_a_missing_ifindex(veth_pair):
    missing = max(lk.index for lk in link.links(netns=veth_pair.a.netns)) + 1000
    with xdp_pass_program() as (fd, _prog_id):
        with pytest.raises(NetlinkError) as caught:
            link.attach_xdp(missing, fd, "skb", netns=veth_pair.a.netns)
    e = caught.value
    assert e.errno == errno.ENODEV and "No such device" in str(e)
    assert "no interface with index %d" % missing in e.hint
    assert "attach_xdp(ifindex %d" % missing in e.call


@pytest.mark.root
def test_detach_in_the_wrong_mode_is_refused_and_leaves_the_program(veth_pair):
    end = veth_pair.a
    with xdp_pass_program() as (fd, prog_id):
        link.attach_xdp(end.name, fd, "skb", netns=end.netns)
        # the kernel itself takes it as a no-op and says nothing ...
        with netlink.NetlinkSocket(end.netns) as sock:
            sock.request(link.xdp_request(end.index, -1, ifla.XDP_FLAGS_DRV_MODE), "raw detach")
        assert_attached(end, "skb", prog_id)
        # ... so pyxsk checks first
        with pytest.raises(FileNotFoundError) as caught:
            link.detach_xdp(end.name, "drv", netns=end.netns)
        assert "attached in skb mode" in caught.value.hint and "mode='skb'" in caught.value.hint
        assert_attached(end, "skb", prog_id)
        link.detach_xdp(end.name, "skb", netns=end.netns)
        assert_detached(end)


@pytest.mark.root
def test_native_over_generic_is_refused(veth_pair):
    end = veth_pair.a
    with xdp_pass_program() as (fd, prog_id):
        link.attach_xdp(end.name, fd, "skb", netns=end.netns)
        with pytest.raises(FileExistsError) as caught:
            link.attach_xdp(end.name, fd, "drv", netns=end.netns)
        assert caught.value.message == "Native and generic XDP can't be active at the same time"
        assert "mode='skb'" in caught.value.hint
        assert_attached(end, "skb", prog_id)
        link.detach_xdp(end.name, "skb", netns=end.netns)


@contextlib.contextmanager
def veth_in(namespace, **options):
    name, peer = unique_name("q"), unique_name("r")
    link.add_veth(name, peer, netns=namespace, **options)
    try:
        link.set_link(name, up=True, netns=namespace)
        link.set_link(peer, up=True, netns=namespace)
        yield name
    finally:
        link.delete_link(name, netns=namespace)


@pytest.mark.root
def test_native_xdp_on_veth_with_fewer_rx_queues_than_the_peer_sends_on(own_netns):
    with veth_in(own_netns, queues=1, peer_queues=2) as name, xdp_pass_program() as (fd, prog_id):
        with pytest.raises(NetlinkError) as caught:
            link.attach_xdp(name, fd, "drv", netns=own_netns)
        e = caught.value
        assert e.errno == errno.ENOSPC
        assert e.message == "veth: XDP expects number of rx queues not less than peer tx queues"
        assert "same number of queues" in e.hint
        assert link.attach_xdp(name, fd, "auto", netns=own_netns) == "skb"
        assert link.get_link(name, netns=own_netns).xdp.skb_prog_id == prog_id


@pytest.mark.root
def test_native_xdp_on_veth_with_a_large_peer_mtu(own_netns):
    with veth_in(own_netns, mtu=1500, peer_mtu=9000) as name, xdp_pass_program() as (fd, _prog_id):
        with pytest.raises(NetlinkError) as caught:
            link.attach_xdp(name, fd, "drv", netns=own_netns)
        assert caught.value.errno == errno.ERANGE
        assert caught.value.message == "veth: Peer MTU is too large to set XDP"
        assert "MTU" in caught.value.hint


@pytest.mark.root
def test_auto_mode_prefers_native(make_veth_pair):
    end = make_veth_pair(queues=2).a
    with xdp_pass_program() as (fd, prog_id):
        assert link.attach_xdp(end.name, fd, "auto", netns=end.netns) == "drv"
        assert_attached(end, "drv", prog_id)
        link.detach_xdp(end.name, netns=end.netns)


@pytest.mark.root
def test_auto_mode_reports_both_refusals(veth_pair):
    end = veth_pair.a
    with xdp_pass_program() as (fd, _prog_id), xdp_pass_program() as (other_fd, _other_id):
        link.attach_xdp(end.name, fd, "skb", netns=end.netns)
        with pytest.raises(NetlinkError) as caught:
            link.attach_xdp(end.name, other_fd, "auto", update_if_noexist=True, netns=end.netns)
        assert caught.value.errno == errno.EBUSY and "mode='skb'" in caught.value.call
        assert caught.value.__cause__.errno == errno.EEXIST      # drv refused first
        link.detach_xdp(end.name, netns=end.netns)


def test_xdp_options_are_checked_before_the_kernel_is_asked():
    with pytest.raises(ConfigError, match="mode"):
        link.attach_xdp(1, 0, mode="native")
    with pytest.raises(ConfigError, match="expected_fd"):
        link.attach_xdp(1, 0, replace=True)
    with pytest.raises(ConfigError, match="replace=True"):
        link.attach_xdp(1, 0, expected_fd=3)
    assert link.xdp_flags("drv", replace=True, update_if_noexist=True) == (
        ifla.XDP_FLAGS_DRV_MODE | ifla.XDP_FLAGS_REPLACE | ifla.XDP_FLAGS_UPDATE_IF_NOEXIST)
    assert set(link.XDP_AUTO_ORDER) <= set(link.XDP_MODE_FLAGS)


# -- link settings, addresses, neighbours -------------------------------------

@pytest.mark.root
def test_set_link_changes_what_ip_shows(own_netns):
    with veth_in(own_netns) as name:
        link.set_link(name, mtu=1400, mac="02:11:22:33:44:55", netns=own_netns)
        shown = ip_link(name, own_netns)
        assert (shown["mtu"], shown["address"]) == (1400, "02:11:22:33:44:55")
        link.set_link(name, up=False, netns=own_netns)
        assert "UP" not in ip_link(name, own_netns)["flags"]
        new_name = unique_name("n")
        link.set_link(name, name=new_name, netns=own_netns)
        assert link.get_link(new_name, netns=own_netns).mtu == 1400
        link.set_link(new_name, name=name, up=True, netns=own_netns)
        assert "UP" in ip_link(name, own_netns)["flags"]


@pytest.mark.root
def test_move_link_between_namespaces(own_netns):
    other = unique_name("ns")
    netns.create(other)
    try:
        with veth_in(own_netns) as name:
            peer = link.get_link(link.get_link(name, netns=own_netns).link_index, netns=own_netns)
            link.move_link(peer.name, other, netns=own_netns)
            moved = ip_json("link", "show", "dev", peer.name, namespace=other)
            assert [entry["ifname"] for entry in moved] == [peer.name]
            assert peer.name not in {lk.name for lk in link.links(netns=own_netns)}
        assert [lk.name for lk in link.links(netns=other)] == ["lo"]    # deleted with its peer
    finally:
        netns.delete(other)


@pytest.mark.root
def test_addresses_match_ip(own_netns):
    with veth_in(own_netns) as name:
        link.add_address(name, "10.33.0.1/24", netns=own_netns)
        link.add_address(name, ipaddress.ip_interface("fd00:33::1/64"), netns=own_netns)
        with pytest.raises(FileExistsError):
            link.add_address(name, "10.33.0.1/24", netns=own_netns)
        ours = link.addresses(name, netns=own_netns)
        (shown,) = ip_json("addr", "show", "dev", name, namespace=own_netns)
        theirs = {ipaddress.ip_interface("%s/%d" % (a["local"], a["prefixlen"]))
                  for a in shown["addr_info"]}
        assert {a.address for a in ours} == theirs
        assert {ipaddress.ip_interface("10.33.0.1/24"), ipaddress.ip_interface("fd00:33::1/64")} <= theirs
        v6 = next(a for a in ours if str(a.address) == "fd00:33::1/64")
        assert v6.flags & link._ifa.IFA_F_NODAD and not v6.flags & link._ifa.IFA_F_TENTATIVE
        index = link.ifindex(name, netns=own_netns)
        assert all(a.index == index for a in ours)
        everything = link.addresses(netns=own_netns)
        assert set(ours) <= set(everything)


@pytest.mark.root
def test_neighbours_match_ip(own_netns):
    with veth_in(own_netns) as name:
        link.add_neighbour(name, "10.44.0.2", "02:00:00:00:44:02", netns=own_netns)
        link.add_neighbour(name, "fd00:44::2", "02:00:00:00:44:02", netns=own_netns)
        shown = ip_json("neigh", "show", "dev", name, namespace=own_netns)
        assert {(n["dst"], n["lladdr"], tuple(n["state"])) for n in shown} == {
            ("10.44.0.2", "02:00:00:00:44:02", ("PERMANENT",)),
            ("fd00:44::2", "02:00:00:00:44:02", ("PERMANENT",))}


@pytest.mark.root
def test_route_to_matches_ip_route_get(veth_pair):
    a, b = veth_pair.a, veth_pair.b
    for namespace, target in ((b.netns, b.ipv4.ip), (b.netns, b.ipv6.ip), (a.netns, b.ipv4.ip),
                              (a.netns, b.ipv6.ip)):
        ours = link.route_to(target, netns=namespace)
        (shown,) = ip_json("route", "get", str(target), namespace=namespace)
        assert ours.dst == ipaddress.ip_address(shown["dst"])
        assert ours.type == shown.get("type", "unicast")
        assert link.ifname(ours.oif, netns=namespace) == shown["dev"]
    assert link.route_to(b.ipv4.ip, netns=b.netns).type == "local"
    assert link.route_to(b.ipv4.ip, netns=a.netns).oif == a.index
    with pytest.raises(NetlinkError) as caught:
        link.route_to("192.0.2.1", netns=a.netns)          # no default route in there
    assert caught.value.errno == errno.ENETUNREACH


@pytest.mark.root
@pytest.mark.parametrize("mode", ["skb", "drv", "auto"])
def test_attach_through_a_bpf_link(make_veth_pair, mode, no_leaks):
    """bpf_link=True: BPF_LINK_CREATE holds the program until the link closes,
    and netlink cannot displace or detach it meanwhile."""
    pair = make_veth_pair(queues=2)
    end = pair.b
    expect = "drv" if mode == "auto" else mode
    with xdp_pass_program() as (fd, prog_id), xdp_pass_program() as (other_fd, _other):
        held = link.attach_xdp(end.name, fd, mode=mode, netns=end.netns, bpf_link=True)
        with held:
            assert held.mode == expect
            assert held.prog_id == prog_id and held.ifindex == end.index
            assert_attached(end, expect, prog_id)
            with pytest.raises(OSError) as caught:
                link.attach_xdp(end.name, other_fd, mode=expect, netns=end.netns)
            assert caught.value.errno == errno.EBUSY
            assert "bpf_link owns the hook" in str(caught.value)
        assert_detached(end)
        with pytest.raises(ConfigError, match="netlink options"):
            link.attach_xdp(end.name, fd, replace=True, expected_fd=fd, netns=end.netns,
                            bpf_link=True)


@pytest.mark.root
def test_the_own_namespace_as_netns_makes_no_setns(veth_pair, monkeypatch, no_leaks):
    """XskSocket hands these functions an fd of the caller's own namespace.
    setns(2) there would need CAP_SYS_ADMIN for nothing, so none may happen:
    lookups, attaching (netlink and BPF link) and detaching all without it."""
    end = veth_pair.b

    def no_setns(fd, nstype, call="setns", hints=None):
        raise AssertionError("setns(2) called: %s" % call)

    with netns.entered(end.netns), xdp_pass_program() as (fd, prog_id):
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            with monkeypatch.context() as patch:
                patch.setattr(_libc, "setns", no_setns)
                assert end.name in [found.name for found in link.links(netns=own)]
                assert link.attach_xdp(end.name, fd, mode="skb", netns=own) == "skb"
                assert link.get_link(end.index, netns=own).xdp.skb_prog_id == prog_id
                assert link.detach_xdp(end.name, netns=own) == prog_id
                with link.attach_xdp(end.name, fd, mode="skb", netns=own, bpf_link=True) as held:
                    assert held.prog_id == prog_id
                assert link.get_link(end.name, netns="/proc/thread-self/ns/net").xdp.attached is None
        finally:
            os.close(own)
