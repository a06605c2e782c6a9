"""pyxsk's object loader against libbpf: every object of the C corpus
(tests/bpf_src) loaded by ``bpftool prog loadall`` and by
``bpf.load_object``, and what the kernel reports about both loads compared
field by field -- instructions after verification, BTF function and line
records, map definitions and contents, the maps each program holds, and
BPF_PROG_TEST_RUN on a set of frames (with the map contents after).

Where libbpf is no oracle, the kernel is: bpftool 7 (libbpf >= 1.0)
refuses legacy ``maps`` sections, so legacy_maps.o is checked against its
C definitions and a model of its program; bpftool cannot set ``const
volatile`` variables, so constants are checked in .rodata and in the
programs' output.
"""

import collections
import contextlib
import errno
import json
import os
import random
import struct

import pytest

import frames as fr
from bpfobj import (ToolError, bpffs, bpftool_json, bpftool_snapshot, describe_run, diff_dicts,
                    diff_lists, fail_if, in_private_pin_root, loadall_command, pinned_program_ids,
                    pyxsk_snapshot, run_frames, sources, Snapshot)
from bpfobj import bpffs_dir, corpus  # noqa: F401  (fixtures)
from pyxsk import bpf
from pyxsk.net import link, netns
from pyxsk.uapi import bpf as k

pytestmark = pytest.mark.root

# object -> how both loaders are told to load it
Options = collections.namedtuple("Options", "prog_type pinmaps")
OBJECTS = {
    "cli_count": Options(None, True),
    "cli_custom": Options("xdp", True),      # a section name of its own
    "cli_two": Options(None, True),
    "global_data": Options(None, True),
    "large": Options(None, True),
    "maps_btf": Options(None, True),
    "output": Options(None, True),
    "pinning": Options(None, False),        # a map pinned by name refuses bpftool's second pin
    "sections": Options(None, True),
    "subprogs": Options(None, True),
    "tailcall": Options(None, True),
    "tc_classifier": Options("tc", True),   # libbpf 1.x does not know "tc/classifier"
    "udp_xsk": Options(None, True),
}
# the objects of tests/bpf_src this module does not load through OBJECTS
NOT_IN_OBJECTS = {"legacy_maps": "libbpf >= 1.0 refuses it: see test_legacy_maps_*"}


def test_every_source_is_checked():
    assert sorted(set(sources()) - set(NOT_IN_OBJECTS)) == sorted(OBJECTS)


# -- frames for the test runs -------------------------------------------------

def _opcode_frame(op, key, arg, ipv4=(10, 0, 0, 1), size=64):
    """maps_btf's xdp_maps reads an opcode, a key and an argument after the
    Ethernet header."""
    body = bytes((op, key, arg)) + bytes(ipv4)
    return (fr.DST_MAC + fr.SRC_MAC + struct.pack("!H", 0x88B5) + body).ljust(size, b"\0")


def run_set():
    """The frames every program of the corpus runs on, in this order: IPv4,
    IPv6 and VLAN traffic (UDP to the ports the programs look for, TCP,
    ICMP), ARP, a bare Ethernet header, each opcode of maps_btf twice, and
    seeded random frames of 14 to 1514 bytes."""
    frames = [fr.udp4(53), fr.udp4(4242), fr.udp4(4242, vlan=7), fr.udp6(4242), fr.tcp4(80),
              fr.tcp6(443), fr.ether(fr.ETH_P_IP, fr.ipv4(fr.ICMP, b"\x08\x00\x00\x00ping")),
              fr.arp(), fr.DST_MAC + fr.SRC_MAC + b"\x88\xb5",
              fr.ether(0x88a8, struct.pack("!HH", 5, 0x8100) + struct.pack("!HH", 6, 0x0800)
                       + fr.ipv4(fr.UDP, fr.udp(1, 4242)))]
    for op in range(14):
        for key in (0, 1, 1):
            frames.append(_opcode_frame(op, key, 3 + op))
    rng = random.Random(11)
    for size in (14, 15, 60, 61, 128, 333, 1024, 1514):
        frames.append(bytes(rng.getrandbits(8) for _ in range(size)))
    return frames


@contextlib.contextmanager
def one_cpu():
    """Keeps this thread on one CPU: per-CPU maps (and what programs read
    from them) then match between two runs of the same frames."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# -- one load by each side, per object -----------------------------------------

class Pair:
    def __init__(self, name, path, obj, ours, theirs):
        self.name, self.path, self.obj = name, path, obj
        self.ours, self.theirs = ours, theirs      # Snapshots right after loading


@pytest.fixture(scope="module", params=sorted(OBJECTS))
def pair(request, corpus):
    name = request.param
    options = OBJECTS[name]
    path = corpus(name)
    with bpffs() as pins:
        theirs = bpftool_snapshot(path, pins, options.prog_type, options.pinmaps)
        with bpf.load_object(path, prog_type=options.prog_type, pin_root=pins) as obj:
            yield Pair(name, path, obj, pyxsk_snapshot(obj), theirs)


def test_same_programs(pair):
    ours, theirs = pair.ours, pair.theirs
    assert sorted(ours.progs) == sorted(theirs.progs), "programs (by function name) differ"
    fields = ("type", "name", "gpl_compatible")
    fail_if(*(diff_dicts("program %s" % name, {f: ours.progs[name].get(f) for f in fields},
                         {f: theirs.progs[name].get(f) for f in fields})
              for name in sorted(ours.progs)))


def test_same_instructions(pair):
    """The kernel's view after verification (``prog dump xlated``), map ids
    replaced by map names: same relocations, same subprogram layout."""
    ours, theirs = pair.ours, pair.theirs
    fail_if(*(diff_lists("%s: %s instructions" % (pair.name, prog), ours.instructions(prog),
                         theirs.instructions(prog))
              for prog in sorted(set(ours.progs) & set(theirs.progs))))


def test_same_btf_functions_and_lines(pair):
    """func_info (the prototype shown at each function start) and
    line_info (the source line of each instruction) as the kernel has them."""
    ours, theirs = pair.ours, pair.theirs
    messages = []
    for prog in sorted(set(ours.progs) & set(theirs.progs)):
        messages.append(diff_lists("%s: %s func_info" % (pair.name, prog), ours.functions(prog),
                                   theirs.functions(prog)))
        messages.append(diff_lists("%s: %s line_info" % (pair.name, prog), ours.source_lines(prog),
                                   theirs.source_lines(prog)))
    fail_if(*messages)


def test_same_maps(pair):
    """Type, key and value sizes, max_entries, flags, frozen, by kernel name."""
    ours, theirs = pair.ours, pair.theirs
    assert sorted(ours.maps) == sorted(theirs.maps), "maps (by kernel name) differ"
    fail_if(*(diff_dicts("%s: map %s" % (pair.name, name), ours.map_fields(name),
                         theirs.map_fields(name))
              for name in sorted(ours.maps)))


def test_same_map_btf(pair):
    """Which maps carry key/value BTF (the kernel refuses it for some types)."""
    ours, theirs = pair.ours, pair.theirs
    fail_if(diff_dicts("%s: maps with BTF" % pair.name,
                       {name: ours.map_has_btf(name) for name in ours.maps},
                       {name: theirs.map_has_btf(name) for name in theirs.maps}))


def test_same_initial_contents(pair):
    """Every map's contents right after loading: global data, statically
    initialised PROG_ARRAY and map-in-map slots (by program and map name)."""
    ours, theirs = pair.ours, pair.theirs
    fail_if(*(diff_lists("%s: map %s contents" % (pair.name, name), _entries(ours.contents[name]),
                         _entries(theirs.contents[name]))
              for name in sorted(set(ours.maps) & set(theirs.maps))))


def _entries(contents):
    """A map dump as sorted lines: a hash map's order depends on its random seed."""
    if isinstance(contents, tuple):          # ("error", text): bpftool could not dump it
        return [contents]
    return sorted("%s -> %s" % (key.hex(), _value_text(value)) for key, value in contents)


def _value_text(value):
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple) and value and value[0] != "error":      # per CPU
        return " ".join(v.hex() if isinstance(v, bytes) else str(v) for v in value)
    return str(value)


def test_same_maps_per_program(pair):
    """The maps the kernel holds for each program: those its instructions
    use, and the read-only data maps libbpf binds to every program
    (BPF_PROG_BIND_MAP) so that tools find the object's metadata."""
    ours, theirs = pair.ours, pair.theirs
    fail_if(diff_dicts("%s: maps per program" % pair.name,
                       {p: ours.program_maps(p) for p in ours.progs},
                       {p: theirs.program_maps(p) for p in theirs.progs}))


def test_same_test_runs(pair):
    """Every program on the same frames, in the same order: same return
    value and output frame each time; then the same map contents."""
    frames = run_set()
    messages = []
    with one_cpu():
        for prog in sorted(set(pair.ours.progs) & set(pair.theirs.progs)):
            with bpf.prog_by_id(pair.theirs.prog_ids[prog]) as their_prog:
                ours = run_frames(pair.obj.programs[prog], frames)
                theirs = run_frames(their_prog, frames)
            messages.append(diff_lists("%s: %s test runs" % (pair.name, prog),
                                       [describe_run(r) for r in ours],
                                       [describe_run(r) for r in theirs], context=1))
            refused = [r for r in theirs if r[0] == "errno"]
            if prog in KERNEL_REFUSES_TEST_RUN:
                assert refused == [("errno", "EINVAL")] * len(frames), prog
            else:
                assert not refused, "%s: the kernel refused test runs: %s" % (prog, refused[:3])
    after_ours = Snapshot(pair.ours.prog_ids, pair.ours.map_ids.values())
    after_theirs = Snapshot(pair.theirs.prog_ids, pair.theirs.map_ids.values())
    for name in sorted(set(after_ours.maps) & set(after_theirs.maps)):
        messages.append(diff_lists("%s: map %s contents after the runs" % (pair.name, name),
                                   _entries(after_ours.contents[name]),
                                   _entries(after_theirs.contents[name])))
    fail_if(*messages)


# BPF_PROG_TEST_RUN refuses programs meant for DEVMAP and CPUMAP entries
KERNEL_REFUSES_TEST_RUN = {"sec_xdp_devmap", "sec_xdp_cpumap"}


def test_the_comparison_sees_a_difference(corpus):
    """The harness itself: two pyxsk loads of global_data.o, one with
    another cfg_port, differ in .rodata and nowhere else; a map left out
    of the instructions' normalisation would show as a difference too."""
    spec = bpf.open_object(corpus("global_data"))
    with spec.load() as a, spec.load(constants={"cfg_port": 4242}) as b:
        one, two = pyxsk_snapshot(a), pyxsk_snapshot(b)
    assert one.prog_ids != two.prog_ids and one.map_ids != two.map_ids
    for prog in one.progs:
        assert diff_lists(prog, one.instructions(prog), two.instructions(prog)) is None
        assert any("map[global_d.rodata]" in insn for insn in one.instructions("xdp_globals"))
    differ = [name for name in one.maps
              if diff_lists(name, _entries(one.contents[name]), _entries(two.contents[name]))]
    assert differ == ["global_d.rodata"]
    message = diff_lists("rodata", _entries(one.contents["global_d.rodata"]),
                         _entries(two.contents["global_d.rodata"]))
    assert "1 differ, the first at 0" in message and "3500" in message and "9210" in message


# -- attach types, as the kernel enforces them ---------------------------------

def _both_loads(path, pins, prog_type=None):
    """(pyxsk Object, {name: bpftool-loaded Prog}) for one object."""
    ids = pinned_program_ids_after_load(path, pins, prog_type)
    return bpf.load_object(path, prog_type=prog_type), {n: bpf.prog_by_id(i) for n, i in ids.items()}


def pinned_program_ids_after_load(path, pins, prog_type=None):
    progs_dir = os.path.join(pins, "progs")
    in_private_pin_root([loadall_command(path, progs_dir, prog_type)])
    return pinned_program_ids(progs_dir)


def _prog_slot(map_type, first, prog):
    """Puts ``prog`` in slot 0 of a new DEVMAP or CPUMAP (struct
    bpf_devmap_val / bpf_cpumap_val: ``first`` -- an ifindex or a queue
    size -- then the program fd); returns None or the errno name of the
    refusal."""
    with bpf.Map(map_type, 4, 8, 1) as m:
        try:
            m[0] = struct.pack("=Ii", first, prog.fileno())
        except OSError as e:
            return errno.errorcode[e.errno]
    return None


def test_devmap_and_cpumap_programs_are_accepted_where_libbpf_s_are(corpus, bpffs_dir, veth_pair):
    """A DEVMAP entry takes only a program loaded with expected_attach_type
    BPF_XDP_DEVMAP, a CPUMAP entry only one with BPF_XDP_CPUMAP: the
    sections xdp/devmap and xdp/cpumap must set them as libbpf does."""
    obj, theirs = _both_loads(corpus("sections"), bpffs_dir)
    got = {}
    with obj, netns.entered(veth_pair.a.netns):     # DEVMAP looks the ifindex up here
        try:
            for side, progs in (("pyxsk", obj.programs), ("libbpf", theirs)):
                for name in ("sec_xdp", "sec_xdp_devmap", "sec_xdp_cpumap"):
                    got[side, name, "devmap"] = _prog_slot(k.BPF_MAP_TYPE_DEVMAP, veth_pair.a.index,
                                                           progs[name])
                    got[side, name, "cpumap"] = _prog_slot(k.BPF_MAP_TYPE_CPUMAP, 64, progs[name])
        finally:
            for prog in theirs.values():
                prog.close()
    for (side, name, where), refusal in sorted(got.items()):
        assert refusal == got["libbpf", name, where], "%s in a %s: pyxsk %s, libbpf %s" % (
            name, where, refusal, got["libbpf", name, where])
    assert got["libbpf", "sec_xdp_devmap", "devmap"] is None
    assert got["libbpf", "sec_xdp_cpumap", "cpumap"] is None
    assert got["libbpf", "sec_xdp", "devmap"] is not None
    assert got["libbpf", "sec_xdp", "cpumap"] is not None
    assert got["libbpf", "sec_xdp_devmap", "cpumap"] is not None


def test_xdp_frags_programs_attach_where_libbpf_s_do(corpus, bpffs_dir, make_veth_pair):
    """veth takes a native XDP program while the peer's MTU exceeds a page
    only if it was loaded with BPF_F_XDP_HAS_FRAGS (section xdp.frags)."""
    pair = make_veth_pair(mtu=9000)
    end = pair.b
    obj, theirs = _both_loads(corpus("sections"), bpffs_dir)
    got = {}
    with obj:
        try:
            for side, progs in (("pyxsk", obj.programs), ("libbpf", theirs)):
                for name in ("sec_xdp", "sec_xdp_frags"):
                    try:
                        link.attach_xdp(end.index, progs[name].fileno(), mode="drv", netns=end.netns)
                    except OSError as e:
                        got[side, name] = errno.errorcode[e.errno]
                    else:
                        got[side, name] = None
                        link.detach_xdp(end.index, mode="drv", netns=end.netns)
        finally:
            for prog in theirs.values():
                prog.close()
    assert got == {("pyxsk", "sec_xdp"): "ERANGE", ("pyxsk", "sec_xdp_frags"): None,
                   ("libbpf", "sec_xdp"): "ERANGE", ("libbpf", "sec_xdp_frags"): None}


def test_section_names_give_libbpf_s_types(corpus):
    """The parsed object says what each section means, as libbpf 1.x's
    section table does (the kernel checks the rest above)."""
    spec = bpf.open_object(corpus("sections"))
    got = {name: (p.section, p.prog_type, p.expected_attach_type, p.flags)
           for name, p in spec.programs.items()}
    assert got == {
        "sec_xdp": ("xdp", k.BPF_PROG_TYPE_XDP, k.BPF_XDP, 0),
        "sec_xdp_frags": ("xdp.frags", k.BPF_PROG_TYPE_XDP, k.BPF_XDP, k.BPF_F_XDP_HAS_FRAGS),
        "sec_xdp_devmap": ("xdp/devmap", k.BPF_PROG_TYPE_XDP, k.BPF_XDP_DEVMAP, 0),
        "sec_xdp_cpumap": ("xdp/cpumap", k.BPF_PROG_TYPE_XDP, k.BPF_XDP_CPUMAP, 0),
        "sec_socket_all": ("socket", k.BPF_PROG_TYPE_SOCKET_FILTER, 0, 0),
        "sec_socket_short": ("socket", k.BPF_PROG_TYPE_SOCKET_FILTER, 0, 0),
        "sec_tc": ("tc", k.BPF_PROG_TYPE_SCHED_CLS, 0, 0),
    }


def test_unknown_section_needs_a_type_like_bpftool(corpus, bpffs_dir):
    """Without ``type tc`` bpftool refuses tc/classifier; so must pyxsk
    without prog_type, before loading anything."""
    with pytest.raises(ToolError) as refused:
        in_private_pin_root([loadall_command(corpus("tc_classifier"), os.path.join(bpffs_dir, "p"))])
    assert "tc/classifier" in refused.value.stderr
    with pytest.raises(bpf.ObjectError, match="tc/classifier"):
        bpf.load_object(corpus("tc_classifier"))


# -- pinning by name -----------------------------------------------------------

def _map_id(obj, name):
    return obj.maps[name].info().id


def test_pinned_map_is_reused_by_a_second_load_like_libbpf(corpus, bpffs_dir):
    """LIBBPF_PIN_BY_NAME: the first load pins <root>/pinned_totals, the
    second reuses it (same map id, shared counts); the unpinned map is new
    each time.  bpftool shows the same with its pin root, /sys/fs/bpf."""
    path = corpus("pinning")
    p1, p2 = os.path.join(bpffs_dir, "p1"), os.path.join(bpffs_dir, "p2")
    out = in_private_pin_root([
        loadall_command(path, p1), loadall_command(path, p2),
        ["bpftool", "-j", "map", "show", "pinned", "/sys/fs/bpf/pinned_totals"]])
    pinned_id = json.loads(out[2])["id"]
    theirs = [Snapshot(pinned_program_ids(p)) for p in (p1, p2)]
    assert [s.map_ids["pinned_totals"] for s in theirs] == [pinned_id, pinned_id]
    assert theirs[0].map_ids["private_totals"] != theirs[1].map_ids["private_totals"]

    root = os.path.join(bpffs_dir, "pyxsk")
    os.mkdir(root)
    with bpf.load_object(path, pin_root=root) as first, bpf.load_object(path, pin_root=root) as second:
        pinned_id = bpftool_json("map", "show", "pinned", os.path.join(root, "pinned_totals"))["id"]
        assert _map_id(first, "pinned_totals") == _map_id(second, "pinned_totals") == pinned_id
        assert _map_id(first, "private_totals") != _map_id(second, "private_totals")
        frame = fr.udp4(9)
        runs = [prog.test_run(frame).frame[14:16]
                for prog in (first.programs["xdp_pinned_count"], second.programs["xdp_pinned_count"])]
        assert runs == [b"\x01\x01", b"\x02\x01"], "shared, then own counts: %r" % runs


def test_incompatible_pinned_map_is_refused_like_libbpf(corpus, bpffs_dir):
    """A map pinned under the name with another definition (3 entries, not
    2) is not reused: libbpf refuses the load, and so does pyxsk, with an
    ObjectError naming the difference; the pin stays as it was."""
    path = corpus("pinning")
    with bpf.ArrayMap(3, 8, name="pinned_totals") as other:
        other.pin(os.path.join(bpffs_dir, "pinned_totals"))
        with pytest.raises(bpf.ObjectError, match="max_entries"):
            bpf.load_object(path, pin_root=bpffs_dir)
        assert bpftool_json("map", "show", "pinned",
                            os.path.join(bpffs_dir, "pinned_totals"))["id"] == other.id
    shown = ["bpftool", "map", "create", "/sys/fs/bpf/pinned_totals", "type", "array", "key", "4",
             "value", "8", "entries", "3", "name", "pinned_totals"]
    with pytest.raises(ToolError) as refused:
        in_private_pin_root([shown, loadall_command(path, os.path.join(bpffs_dir, "p"))])
    assert "pinned_totals" in refused.value.stderr
    assert not os.path.exists(os.path.join(bpffs_dir, "p"))


# -- constants -----------------------------------------------------------------

def _rodata(obj):
    """The object's .rodata as the kernel holds it (BPF_MAP_LOOKUP_ELEM by bpftool)."""
    snap = pyxsk_snapshot(obj)
    name = obj.maps[".rodata"].info().name
    ((key, value),) = snap.contents[name]
    return value


def test_constants_are_set_before_load_and_frozen(corpus):
    """bpftool cannot set const volatile variables; the kernel shows what
    pyxsk did: .rodata holds the new values at the variables' offsets
    (clang's layout, read from the C declarations' order), the map is
    frozen, and the program returns the new action with the new port."""
    spec = bpf.open_object(corpus("global_data"))
    assert {"cfg_port", "cfg_action", "cfg_tag", "cfg_unset"} <= set(spec.constants)
    assert "seen" not in spec.constants and "packets" not in spec.constants
    with spec.load() as default, spec.load(constants={
            "cfg_port": 4242, "cfg_action": int(bpf.XdpAction.PASS), "cfg_tag": b"\x02PYXSK",
            "cfg_unset": 1 << 40}) as changed:
        assert _rodata(default)[:16] == struct.pack("<H2xI6s", 53, 3, b"\x02pyxsk") + b"\0\0"
        new = _rodata(changed)
        assert new[:16] == struct.pack("<H2xI6s", 4242, 2, b"\x02PYXSK") + b"\0\0"
        assert new[-8:] == struct.pack("<Q", 1 << 40)
        assert _rodata(default)[16:-8] == new[16:-8], "the squares table must not move"
        for obj in (default, changed):
            info = bpftool_json("map", "show", "id", obj.maps[".rodata"].info().id)
            assert info["frozen"] == 1
        run = changed.programs["xdp_globals"].test_run(bytes(60))
        assert run.action == bpf.XdpAction.PASS
        assert run.frame[14:22] == struct.pack("<H6s", 4242, b"\x02PYXSK")
        assert run.frame[52] == 1        # cfg_unset, now set
        run = default.programs["xdp_globals"].test_run(bytes(60))
        assert run.action == bpf.XdpAction.TX and run.frame[14:16] == struct.pack("<H", 53)


@pytest.mark.parametrize("constants, error", [
    ({"no_such_thing": 1}, bpf.ObjectError),
    ({"cfg_port": 1 << 16}, bpf.ObjectError),
    ({"cfg_tag": b"short"}, bpf.ObjectError),
    ({"cfg_tag": 5}, bpf.ObjectError),
    ({"cfg_port": "53"}, TypeError),
])
def test_bad_constants_are_refused_before_anything_loads(corpus, constants, error):
    before = _bpf_ids()
    with pytest.raises(error):
        bpf.load_object(corpus("global_data"), constants=constants)
    assert not _bpf_ids() - before, "a refused load left maps or programs behind"


def _bpf_ids():
    """Ids of the maps and programs this process holds fds of (fdinfo)."""
    ids = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            with open("/proc/self/fdinfo/%s" % fd) as f:
                for line in f:
                    if line.startswith(("map_id:", "prog_id:")):
                        ids.add(line.strip())
        except OSError:
            continue
    return ids


# -- legacy maps: the kernel is the oracle --------------------------------------

LEGACY_MAPS = {      # legacy_maps.c's struct bpf_map_def, as bpftool map show reports it
    "legacy_counts": {"type": "array", "key": 4, "value": 8, "max_entries": 4, "flags": 0,
                      "frozen": 0},
    "legacy_flows": {"type": "hash", "key": 4, "value": 4, "max_entries": 16,
                     "flags": k.BPF_F_NO_PREALLOC, "frozen": 0},
    "legacy_xsks": {"type": "xskmap", "key": 4, "value": 4, "max_entries": 8, "flags": 0,
                    "frozen": 0},
}


def test_legacy_maps_are_refused_by_libbpf(corpus, bpffs_dir):
    """Why legacy_maps.o has no libbpf oracle: bpftool 7 / libbpf 1.x say so."""
    with pytest.raises(ToolError) as refused:
        in_private_pin_root([loadall_command(corpus("legacy_maps"), os.path.join(bpffs_dir, "p"))])
    assert "legacy map definitions" in refused.value.stderr


def test_legacy_maps_are_made_as_defined(corpus):
    with bpf.load_object(corpus("legacy_maps")) as obj:
        snap = pyxsk_snapshot(obj)
        fail_if(diff_dicts("legacy maps", {n: snap.map_fields(n) for n in snap.maps}, LEGACY_MAPS))
        text = "\n".join(snap.instructions("xdp_legacy"))
        for name in LEGACY_MAPS:
            assert "map[%s]" % name in text, "xdp_legacy does not refer to %s:\n%s" % (name, text)
        assert snap.program_maps("xdp_legacy") == sorted(LEGACY_MAPS)


def test_legacy_maps_program_runs_as_its_model(corpus):
    """xdp_legacy counts frames per key (payload byte 0 & 3) in an ARRAY and
    a HASH, writes the counts into bytes 1 and 2, and redirects to an empty
    XSKMAP slot (falling back to XDP_PASS) when byte 3 is 0x55."""
    rng = random.Random(5)
    counts, flows = collections.Counter(), collections.Counter()
    with bpf.load_object(corpus("legacy_maps")) as obj:
        prog = obj.programs["xdp_legacy"]
        for _ in range(200):
            body = bytes((rng.randrange(256), 0, 0, rng.choice((0x55, 0x00)))) + bytes(20)
            frame = fr.DST_MAC + fr.SRC_MAC + b"\x88\xb5" + body
            key = body[0] & 3
            counts[key] += 1
            expect = bytearray(frame)
            expect[15] = counts[key] & 0xff
            if flows[key]:
                flows[key] += 1
                expect[16] = flows[key] & 0xff
            else:
                flows[key] = 1
            run = prog.test_run(frame)
            want = bpf.XdpAction.PASS if body[3] == 0x55 else bpf.XdpAction.TX
            assert (run.action, run.frame) == (want, bytes(expect))
        assert dict(obj.maps["legacy_counts"].items()) == {i: counts[i] for i in range(4)}
        assert dict(obj.maps["legacy_flows"].items()) == {key: n for key, n in flows.items()}
