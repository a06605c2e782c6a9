"""XskSocket with the user's own loaded program: pyxsk finds the one XSKMAP
it uses (its map ids) and puts the socket there; a program with none or
several, or one that cannot reach the xskmap= given, is refused before
anything is attached.  On a real veth pair, with real frames."""

import errno
import json
import subprocess

import pytest

from traffic import inject, make_frames, receive
from pyxsk import XskSocket, _libc, bpf
from pyxsk.bpf.asm import (ALU64, ATOMIC, JMP, LD, LDX, R0, R1, R2, R3, R6, R10, ST,
                           XDP_MD_RX_QUEUE_INDEX, Program, label)
from pyxsk.errors import ConfigError
from pyxsk.net import netns
from pyxsk.uapi import bpf as k

pytestmark = pytest.mark.root

FRAMES = 20


def counting(counts):
    """counts[0] += 1 (an ARRAY of one u64), leaving R1 (the context) in R6."""
    return [
        ALU64.MOV.reg(R6, R1),
        ST.W(R10, -4, 0),
        LD.map_fd(R1, counts), ALU64.MOV.reg(R2, R10), ALU64.ADD.imm(R2, -4),
        JMP.CALL("map_lookup_elem"),
        JMP.JEQ.imm(R0, 0, "counted"),
        ALU64.MOV.imm(R1, 1),
        ATOMIC.ADD.DW(R0, 0, R1),
        label("counted"),
    ]


def redirect(xskmap):
    """bpf_redirect_map(xskmap, ctx->rx_queue_index, XDP_PASS), context in R6."""
    return [LD.map_fd(R1, xskmap), LDX.W(R2, R6, XDP_MD_RX_QUEUE_INDEX),
            ALU64.MOV.imm(R3, k.XDP_PASS), JMP.CALL("redirect_map"), JMP.EXIT()]


def user_program(counts, *xskmaps):
    """Count every frame, then redirect into the first XSKMAP (queues below
    1000) or the second; with none, pass."""
    insns = counting(counts)
    if not xskmaps:
        return Program(insns + [ALU64.MOV.imm(R0, k.XDP_PASS), JMP.EXIT()])
    if len(xskmaps) > 1:
        insns += [LDX.W(R2, R6, XDP_MD_RX_QUEUE_INDEX), JMP.JGE.imm(R2, 1000, "other")]
        insns += redirect(xskmaps[0]) + [label("other")] + redirect(xskmaps[1])
        return Program(insns)
    return Program(insns + redirect(xskmaps[0]))


def xdp_on(end):
    """What ``ip -j link`` says is attached to ``end`` (None for nothing)."""
    out = subprocess.run(["ip", "-n", end.netns, "-j", "link", "show", "dev", end.name],
                         capture_output=True, text=True, check=True).stdout
    (entry,) = json.loads(out)
    return entry.get("xdp")


@pytest.fixture
def maps(veth_pair):
    """In end B's namespace: a counter array and two XSKMAPs of the user's."""
    with netns.entered(veth_pair.b.netns), bpf.ArrayMap(1, name="user_counts") as counts, \
            bpf.XskMap(4, name="user_xsks") as xsks, bpf.XskMap(4, name="user_other") as other:
        yield counts, xsks, other


def test_the_programs_own_xskmap_is_found_and_receives(veth_pair, maps, no_leaks):
    a, b = veth_pair.a, veth_pair.b
    counts, xsks, _ = maps
    frames = make_frames(a, b, FRAMES)
    with netns.entered(b.netns), bpf.load(user_program(counts, xsks), name="user_prog") as prog:
        for given in (prog, prog.fd):
            with XskSocket(b.name, program=given, xdp_mode="skb") as xsk:
                assert xsk.xskmap.id == xsks.id and xsk.xskmap is not xsks
                assert xsk.program.id == prog.id and xdp_on(b)["prog"]["id"] == prog.id
                assert prog.test_run(bytes(64)).action == bpf.XdpAction.REDIRECT   # slot 0 is ours
                before = counts[0]
                inject(a, frames)
                assert receive(xsk, FRAMES) == frames
                assert counts[0] >= before + FRAMES
            assert xdp_on(b) is None
            assert prog.test_run(bytes(64)).action == bpf.XdpAction.PASS           # slot emptied
        assert prog.info().id == prog.id                 # the caller's program stays loaded


def refused(end, **options):
    """The ConfigError XskSocket raises on ``end``, after checking nothing stays attached."""
    with netns.entered(end.netns), pytest.raises(ConfigError) as caught:
        XskSocket(end.name, xdp_mode="skb", **options)
    assert xdp_on(end) is None
    return str(caught.value)


def test_several_xskmaps_name_them_and_ask_for_xskmap(veth_pair, maps, no_leaks):
    b = veth_pair.b
    counts, xsks, other = maps
    with netns.entered(b.netns), bpf.load(user_program(counts, xsks, other), name="two_maps") as prog:
        message = refused(b, program=prog)
        assert "'two_maps' (id %d) uses 2 XSKMAPs" % prog.id in message
        assert "id %d XSKMAP 'user_xsks'" % xsks.id in message
        assert "id %d XSKMAP 'user_other'" % other.id in message and "xskmap=" in message
        with XskSocket(b.name, program=prog, xskmap=other, xdp_mode="skb") as xsk:
            assert xsk.xskmap is other and xdp_on(b)["prog"]["id"] == prog.id
        assert xdp_on(b) is None


def test_a_program_without_an_xskmap_is_refused(veth_pair, maps, no_leaks):
    b = veth_pair.b
    counts, _, _ = maps
    with netns.entered(b.netns), bpf.load(user_program(counts), name="no_xskmap") as prog:
        message = refused(b, program=prog)
        assert "uses no XSKMAP (its maps: id %d ARRAY 'user_counts')" % counts.id in message
        assert "cannot redirect frames to this socket" in message
        refused(b, program=prog.fd)


def test_a_program_that_does_not_use_the_given_xskmap_is_refused(veth_pair, maps, no_leaks):
    b = veth_pair.b
    counts, xsks, other = maps
    with netns.entered(b.netns), bpf.load(user_program(counts, xsks), name="uses_xsks") as prog:
        message = refused(b, program=prog, xskmap=other)
        assert "does not use xskmap= (id %d)" % other.id in message
        assert "id %d XSKMAP 'user_xsks'" % xsks.id in message
    message = refused(b, program=user_program(counts, xsks), xskmap=other)   # assembled, not loaded
    assert "does not use xskmap= (id %d)" % other.id in message


def test_a_map_of_maps_may_hold_the_given_xskmap(veth_pair, maps):
    """A program that redirects through an XSKMAP it finds in an
    ARRAY_OF_MAPS does not name that XSKMAP itself: it is accepted."""
    a, b = veth_pair.a, veth_pair.b
    counts, xsks, _ = maps
    frames = make_frames(a, b, FRAMES)
    with netns.entered(b.netns), bpf.ArrayOfMaps(1, xsks) as outer:
        outer[0] = xsks
        insns = counting(counts) + [
            LD.map_fd(R1, outer), ALU64.MOV.reg(R2, R10), ALU64.ADD.imm(R2, -4),   # key 0 at fp-4
            JMP.CALL("map_lookup_elem"),
            JMP.JEQ.imm(R0, 0, "pass"),
            ALU64.MOV.reg(R1, R0), LDX.W(R2, R6, XDP_MD_RX_QUEUE_INDEX),
            ALU64.MOV.imm(R3, k.XDP_PASS), JMP.CALL("redirect_map"), JMP.EXIT(),
            label("pass"), ALU64.MOV.imm(R0, k.XDP_PASS), JMP.EXIT()]
        with bpf.load(Program(insns), name="map_in_map") as prog:
            assert "uses no XSKMAP" in refused(b, program=prog)
            with XskSocket(b.name, program=prog, xskmap=xsks, xdp_mode="skb") as xsk:
                inject(a, frames)
                assert receive(xsk, FRAMES) == frames


def test_without_cap_sys_admin_the_error_says_to_pass_xskmap(veth_pair, maps, monkeypatch):
    """The kernel answers BPF_MAP_GET_FD_BY_ID with EPERM to a process
    without CAP_SYS_ADMIN; pyxsk then cannot see the program's maps."""
    b = veth_pair.b
    counts, xsks, _ = maps
    real = _libc.raw_bpf

    def raw_bpf(cmd, attr, size=None):
        if cmd == k.BPF_MAP_GET_FD_BY_ID:
            return -1, errno.EPERM
        return real(cmd, attr, size)

    with netns.entered(b.netns), bpf.load(user_program(counts, xsks), name="user_prog") as prog:
        monkeypatch.setattr(_libc, "raw_bpf", raw_bpf)
        message = refused(b, program=prog)
        assert "needs CAP_SYS_ADMIN" in message and "pass its XSKMAP as xskmap=" in message
        with XskSocket(b.name, program=prog, xskmap=xsks, xdp_mode="skb") as xsk:
            assert xsk.xskmap is xsks                  # used directly: nothing to look up
