"""Pinning on a bpffs: pyxsk.testing.bpffs (a private mount), Prog.from_pinned,
Link.from_pinned and link_by_id, against the running kernel.

A pin's object is released only after an RCU grace period once the pin is
unlinked (bpffs frees its inodes through RCU), so the tests that watch
something go wait for it with a deadline instead of looking once."""

import json
import os
import subprocess
import time

import pytest

from pyxsk import bpf, testing
from pyxsk.bpf import syscall as bpf_syscall
from pyxsk.bpf.asm import ALU64, JMP, R0, Program
from pyxsk.errors import ConfigError, SyscallError
from pyxsk.net import netns
from pyxsk.testing import CleanupError
from pyxsk.uapi import bpf as k
from pyxsk.uapi import if_link as ifla

pytestmark = pytest.mark.root

GONE_TIMEOUT = 5.0       # seconds for the kernel to release what an unlinked pin held
GONE_POLL = 0.01
# files a new bpffs instance shows when the kernel has CONFIG_BPF_PRELOAD
PRELOADED = {"progs.debug", "maps.debug"}


def xdp_program(action=k.XDP_PASS, name="pyxsk_pin"):
    return bpf.load(Program([ALU64.MOV.imm(R0, action), JMP.EXIT()]), name=name)


def pins(path):
    """What a bpffs directory holds beyond the kernel's preloaded files."""
    return set(os.listdir(path)) - PRELOADED


def mounts_at(path):
    """The filesystem types mounted at ``path`` (/proc/self/mountinfo)."""
    types = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            separator = fields.index("-")
            if fields[4] == path:
                types.append(fields[separator + 1])
    return types


def wait_until(condition, what):
    deadline = time.monotonic() + GONE_TIMEOUT
    while not condition():
        if time.monotonic() >= deadline:
            pytest.fail("%s not within %g s" % (what, GONE_TIMEOUT))
        time.sleep(GONE_POLL)


def prog_gone(prog_id):
    try:
        bpf.prog_by_id(prog_id).close()
    except FileNotFoundError:
        return True
    return False


def ip_xdp(end):
    """The "xdp" object of ``ip -j link show`` for a veth end (None: no program)."""
    out = subprocess.run(["ip", "-n", end.netns, "-j", "link", "show", "dev", end.name],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0].get("xdp")


# -- the bpffs helper --------------------------------------------------------------

def test_bpffs_mounts_a_fresh_instance_and_removes_it():
    with testing.bpffs() as one, testing.bpffs() as two:
        assert one != two
        for path in (one, two):
            assert os.path.isabs(path) and os.path.ismount(path)
            assert mounts_at(path) == ["bpf"] and pins(path) == set()
        with xdp_program() as prog:
            prog.pin(os.path.join(one, "prog"))
        assert pins(one) == {"prog"} and pins(two) == set()   # separate instances
    for path in (one, two):
        assert not os.path.lexists(path) and mounts_at(path) == []


def test_bpffs_is_removed_when_the_body_raises():
    with pytest.raises(KeyError):
        with testing.bpffs() as path:
            os.mkdir(os.path.join(path, "dir"))
            raise KeyError("body")
    assert not os.path.lexists(path) and mounts_at(path) == []


def test_bpffs_unmount_releases_the_pins_and_survives_a_cwd_inside():
    cwd = os.getcwd()
    try:
        with testing.bpffs() as path:
            with xdp_program() as prog:
                prog_id = prog.id
                prog.pin(os.path.join(path, "prog"))
            assert not prog_gone(prog_id)      # the pin alone holds it
            os.chdir(path)                     # a plain umount would fail with EBUSY
    finally:
        os.chdir(cwd)
    assert not os.path.lexists(path)
    wait_until(lambda: prog_gone(prog_id), "program %d released by the unmount" % prog_id)


def test_bpffs_cleanup_failure_is_a_cleanup_error(monkeypatch):
    def refuse(path):
        raise PermissionError(1, "refused", path)
    with pytest.raises(CleanupError, match="bpffs .*refused"):
        with testing.bpffs() as path:
            monkeypatch.setattr(os, "rmdir", refuse)
    monkeypatch.undo()
    assert mounts_at(path) == []          # unmounted before rmdir failed
    os.rmdir(path)


def test_bpffs_fixture_is_a_private_mount(bpffs):
    assert mounts_at(bpffs) == ["bpf"] and pins(bpffs) == set()


# -- programs -------------------------------------------------------------------------

def test_program_from_pinned_is_the_same_program(bpffs, no_leaks):
    pin = os.path.join(bpffs, "prog")
    with xdp_program(k.XDP_DROP) as prog:
        prog_id, tag = prog.id, prog.tag
        prog.pin(pin)
    with bpf.Prog.from_pinned(pin) as again:
        assert (again.id, again.tag, again.name, again.type) == (
            prog_id, tag, "pyxsk_pin", k.BPF_PROG_TYPE_XDP)
        assert again.prog_type == k.BPF_PROG_TYPE_XDP and again.section == ""
        assert again.test_run(bytes(64)).action == bpf.XdpAction.DROP
    with bpf.Prog.from_pinned(os.fsencode(pin)) as third:     # bytes and str paths alike
        assert third.id == prog_id
    assert not prog_gone(prog_id)
    os.unlink(pin)
    wait_until(lambda: prog_gone(prog_id), "program %d released after its pin went" % prog_id)


def test_prog_keeps_the_name_and_section_its_loader_gives():
    with xdp_program() as prog:
        named = bpf.Prog(os.dup(prog.fd), k.BPF_PROG_TYPE_XDP, name="a_longer_function_name",
                         section="xdp")
        with named:
            assert (named.name, named.section, named.id) == ("a_longer_function_name", "xdp",
                                                             prog.id)
            assert "a_longer_function_name" in repr(named)
        assert prog.name == "pyxsk_pin" and prog.section == ""


def test_from_pinned_refuses_what_is_not_a_pinned_program(bpffs, tmp_path, no_leaks):
    with bpf.ArrayMap(max_entries=1) as arr:
        arr.pin(os.path.join(bpffs, "map"))
    with pytest.raises(ConfigError, match="holds a map, not a program"):
        bpf.Prog.from_pinned(os.path.join(bpffs, "map"))
    with pytest.raises(ConfigError, match="holds a map, not a link"):
        bpf.Link.from_pinned(os.path.join(bpffs, "map"))
    with xdp_program() as prog:
        prog.pin(os.path.join(bpffs, "prog"))
    with pytest.raises(ConfigError, match="holds a program, not a link"):
        bpf.Link.from_pinned(os.path.join(bpffs, "prog"))
    with pytest.raises(FileNotFoundError, match="nothing is pinned") as e:
        bpf.Prog.from_pinned(os.path.join(bpffs, "none"))
    assert isinstance(e.value, SyscallError) and e.value.call.startswith("bpf(BPF_OBJ_GET")
    plain = tmp_path / "file"
    plain.write_text("")
    for path in (str(plain), bpffs):           # a file outside a bpffs; a bpffs directory
        with pytest.raises(PermissionError, match="holds no pinned object"):
            bpf.Prog.from_pinned(path)
    with pytest.raises(ConfigError, match="for maps"):
        bpf.Prog.from_pinned(os.path.join(bpffs, "prog"), flags=k.BPF_F_RDONLY)
    for flags in (-1, True, "0"):
        with pytest.raises(ConfigError, match="flags"):
            bpf.Prog.from_pinned(os.path.join(bpffs, "prog"), flags=flags)
    with pytest.raises(ConfigError, match="non-empty path"):
        bpf.Prog.from_pinned("")


def test_pinning_outside_a_bpffs_says_so(tmp_path):
    with xdp_program() as prog:
        with pytest.raises(PermissionError, match="not on a bpffs mount"):
            prog.pin(str(tmp_path / "prog"))


def test_fd_kind_tells_maps_programs_and_links_apart(veth_pair):
    b = veth_pair.b
    with bpf.ArrayMap(max_entries=1) as arr, xdp_program() as prog, netns.entered(b.netns), \
            bpf.link_xdp(prog, b.index, ifla.XDP_FLAGS_SKB_MODE) as link:
        assert [bpf_syscall.fd_kind(o.fileno()) for o in (arr, prog, link)] == [
            "map", "program", "link"]
        r, w = os.pipe()
        try:
            assert bpf_syscall.fd_kind(r) is None
        finally:
            os.close(r)
            os.close(w)
    with pytest.raises(ConfigError, match="kind must be"):
        bpf_syscall.obj_get_kind("/sys/fs/bpf/x", "btf")


# -- links ----------------------------------------------------------------------------

def test_pinned_xdp_link_outlives_every_fd_until_unlinked(bpffs, veth_pair, no_leaks):
    b = veth_pair.b
    pin = os.path.join(bpffs, "link")
    with netns.entered(b.netns):
        with xdp_program(name="pyxsk_linked") as prog:
            prog_id = prog.id
            with bpf.link_xdp(prog, b.index, ifla.XDP_FLAGS_SKB_MODE) as link:
                link_id = link.id
                link.pin(pin)
        # every fd is closed: the pin alone holds the link, the link the program
        xdp = ip_xdp(b)
        assert xdp is not None and xdp["mode"] == ifla.XDP_ATTACHED_SKB
        assert (xdp["prog"]["id"], xdp["prog"]["name"]) == (prog_id, "pyxsk_linked")
        with bpf.Link.from_pinned(pin) as again:
            info = again.info()
            assert (info.id, info.type, info.prog_id, info.ifindex) == (
                link_id, k.BPF_LINK_TYPE_XDP, prog_id, b.index)
            assert again.mode is None and "prog_id=%d" % prog_id in repr(again)
        assert ip_xdp(b) is not None          # closing the new fd did not detach
        os.unlink(pin)
    wait_until(lambda: ip_xdp(b) is None, "XDP program gone after the link's pin was unlinked")
    wait_until(lambda: prog_gone(prog_id), "program %d released with its link" % prog_id)


def test_pinned_link_detach_takes_the_program_off_at_once(bpffs, veth_pair):
    b = veth_pair.b
    pin = os.path.join(bpffs, "link")
    with netns.entered(b.netns), xdp_program() as prog:
        with bpf.link_xdp(prog, b.index, ifla.XDP_FLAGS_SKB_MODE) as link:
            link.pin(pin)
        with bpf.Link.from_pinned(pin) as again:
            again.detach()
            assert again.ifindex == 0
        assert ip_xdp(b) is None
        with bpf.Link.from_pinned(pin) as defunct:     # the pin still holds the detached link
            assert defunct.info().ifindex == 0


def test_link_by_id_finds_a_link(veth_pair):
    b = veth_pair.b
    with netns.entered(b.netns), xdp_program() as prog, \
            bpf.link_xdp(prog, b.index, ifla.XDP_FLAGS_SKB_MODE) as link:
        with bpf.link_by_id(link.id) as found:
            assert found.info() == link.info()
        link_id = link.id
    wait_until(lambda: not _link_exists(link_id), "link %d released" % link_id)
    with pytest.raises(FileNotFoundError, match="no BPF link has id"):
        bpf.link_by_id(link_id)
    for bad in (0, -1, True, 1 << 32, "7"):
        with pytest.raises(ConfigError):
            bpf.link_by_id(bad)


def _link_exists(link_id):
    try:
        bpf.link_by_id(link_id).close()
    except FileNotFoundError:
        return False
    return True
