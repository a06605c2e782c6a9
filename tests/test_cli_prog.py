"""``pyxsk prog`` (show on one or every interface, load, unload, detach) and
the JSON output of ``prog show`` and ``doctor``, run as users run them, with
``ip -j link`` and ``bpftool -j`` as the witnesses."""

import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from test_cli import assert_one_line_error, pyxsk
from pyxsk import bpf
from pyxsk.bpf import xdp
from pyxsk.bpf.asm import ALU64, JMP, R0, Program
from pyxsk.cli import progs
from pyxsk.net import link, netns
from pyxsk.testing import unique_name
from pyxsk.uapi import bpf as k
from pyxsk.uapi import if_link as ifla

EXIT_USAGE, EXIT_FAILED = 2, 1
# IFLA_XDP_ATTACHED as `ip -j link` prints it -> pyxsk's mode word
IP_MODES = {ifla.XDP_ATTACHED_DRV: "drv", ifla.XDP_ATTACHED_SKB: "skb",
            ifla.XDP_ATTACHED_HW: "hw"}
SHOW_KEYS = ["ifindex", "ifname", "mode", "id", "name", "tag", "map_count"]
DOCTOR_KEYS = ["platform", "interface", "netns", "queue", "findings", "works", "missing"]

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = ("cli_count", "cli_two", "cli_custom")       # tests/bpf_src/NAME.c
BUILD_TIMEOUT = 60
ETH_P_TEST = 0x88B5              # what cli_count counts and drops
FRAMES = 5
COUNT_TIMEOUT = 5.0              # seconds for the frames sent to show in the counter
COUNT_POLL = 0.02

needs_bpftool = pytest.mark.skipif(shutil.which("bpftool") is None, reason="needs bpftool")


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """{name: path of the object} for the cli_*.c programs, built by clang
    (-I the multiarch include directory, for <asm/types.h>)."""
    clang, gcc = shutil.which("clang"), shutil.which("gcc")
    if clang is None or gcc is None:
        pytest.skip("building the test programs needs clang and gcc")
    multiarch = subprocess.run([gcc, "-dumpmachine"], capture_output=True, text=True,
                               check=True).stdout.strip()
    out = tmp_path_factory.mktemp("cli_objects")
    built = {}
    for name in SOURCES:
        built[name] = str(out / (name + ".o"))
        subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-I/usr/include/" + multiarch,
                        "-c", os.path.join(HERE, "bpf_src", name + ".c"), "-o", built[name]],
                       check=True, timeout=BUILD_TIMEOUT)
    return built


def send_test_frames(src, dst_mac, count=FRAMES):
    """``count`` frames of the test EtherType from veth end ``src`` (AF_PACKET)."""
    frame = (bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src.mac.replace(":", ""))
             + ETH_P_TEST.to_bytes(2, "big") + bytes(46))
    with netns.entered(src.netns), socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((src.name, 0))
        for _ in range(count):
            sock.send(frame)


def counter(*where):
    """cli_count's counter, read by bpftool from map ``where`` ("id", N or "pinned", PATH)."""
    out = subprocess.run(["bpftool", "-j", "map", "lookup"] + [str(w) for w in where]
                         + ["key", "0", "0", "0", "0"], capture_output=True, text=True,
                         check=True).stdout
    return int.from_bytes(bytes(int(b, 16) for b in json.loads(out)["value"]), "little")


def wait_for_count(want, *where):
    deadline = time.monotonic() + COUNT_TIMEOUT
    while counter(*where) < want:
        if time.monotonic() >= deadline:
            pytest.fail("counter %d, not %d, after %g s" % (counter(*where), want, COUNT_TIMEOUT))
        time.sleep(COUNT_POLL)
    return counter(*where)


def ip_xdp(end):
    """`ip -j link`'s "xdp" object for a veth end, or None."""
    out = subprocess.run(["ip", "-n", end.netns, "-j", "link", "show", "dev", end.name],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0].get("xdp")


def bpftool_json(*args):
    return json.loads(subprocess.run(["bpftool", "-j"] + list(args), capture_output=True,
                                     text=True, check=True).stdout)


def run_json(*args):
    """Run pyxsk with ``args``; its stdout as one JSON document on one line."""
    result = pyxsk(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and result.stderr == "", result.stdout + result.stderr
    return json.loads(result.stdout)


def ip_attached(netns):
    """What `ip -j link` says is attached in ``netns``: a set of
    (ifindex, ifname, mode, id, name, tag)."""
    out = subprocess.run(["ip", "-n", netns, "-j", "link", "show"], capture_output=True,
                         text=True, check=True).stdout
    found = set()
    for device in json.loads(out):
        state = device.get("xdp")
        if state is None:
            continue
        for one in state.get("attached", [state]):
            prog = one["prog"]
            found.add((device["ifindex"], device["ifname"], IP_MODES[one["mode"]], prog["id"],
                       prog["name"], prog["tag"]))
    return found


def bpftool_prog(prog_id):
    out = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(prog_id)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def drop_program(name):
    return bpf.load(Program([ALU64.MOV.imm(R0, k.XDP_DROP), JMP.EXIT()]), name=name)


# -- help and usage ---------------------------------------------------------------------

@pytest.mark.parametrize("words, phrases", [
    (("prog", "show"), ["[IFACE]", "every interface of the namespace", "--json", "map_count"]),
    (("doctor",), ["--json"]),
])
def test_help_names_the_new_options(words, phrases):
    result = pyxsk(*(list(words) + ["--help"]))
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    for phrase in phrases:
        assert phrase in flat, (phrase, flat)


# -- show -------------------------------------------------------------------------------

@pytest.mark.root
@needs_bpftool
def test_prog_show_lists_every_interface_of_the_namespace(veth_pair):
    b = veth_pair.b
    c, d = unique_name("vc"), unique_name("vd")
    link.add_veth(c, d, netns=b.netns)           # a second pair, both ends in b's namespace
    with bpf.XskMap(max_entries=1) as xskmap, \
            bpf.load(xdp.redirect_all(xskmap), name="pyxsk_redir") as redirect, \
            drop_program("pyxsk_drop") as drop:
        link.attach_xdp(b.name, redirect.fd, mode="skb", netns=b.netns)
        link.attach_xdp(c, drop.fd, mode="drv", netns=b.netns)
        records = run_json("prog", "show", "-n", b.netns, "--json")
        text = pyxsk("prog", "show", "-n", b.netns)
        only_c = run_json("prog", "show", c, "-n", b.netns, "-j")
    assert all(list(record) == SHOW_KEYS for record in records)
    shown = {(r["ifindex"], r["ifname"], r["mode"], r["id"], r["name"], r["tag"])
             for r in records}
    assert shown == ip_attached(b.netns) and len(records) == 2
    for record in records:
        tool = bpftool_prog(record["id"])
        assert (tool["type"], tool["name"], tool["tag"]) == ("xdp", record["name"], record["tag"])
        assert record["map_count"] == len(tool.get("map_ids", []))
    by_name = {r["ifname"]: r for r in records}
    assert (by_name[b.name]["id"], by_name[b.name]["mode"], by_name[b.name]["map_count"]) == (
        redirect.id, "skb", 1)
    assert (by_name[c]["id"], by_name[c]["mode"], by_name[c]["map_count"]) == (drop.id, "drv", 0)
    assert only_c == [by_name[c]]
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines() == [progs.Attached(**r).line() for r in records]
    assert "%s: XDP program id %d, mode skb (generic (skb)), name pyxsk_redir, tag %s, 1 maps" \
        % (b.name, redirect.id, redirect.tag) in text.stdout


@pytest.mark.root
def test_prog_show_with_nothing_attached(veth_pair):
    a = veth_pair.a
    assert run_json("prog", "show", "-n", a.netns, "-j") == []
    assert run_json("prog", "show", a.name, "-n", a.netns, "-j") == []
    assert pyxsk("prog", "show", "-n", a.netns).stdout == \
        "no XDP program attached to any interface in network namespace %s\n" % a.netns
    assert pyxsk("prog", "show", a.name, "-n", a.netns).stdout == \
        "%s: no XDP program attached\n" % a.name
    line = assert_one_line_error(pyxsk("prog", "show", "pxnosuch0", "-n", a.netns, "-j"),
                                 EXIT_FAILED)
    assert "no interface 'pxnosuch0'" in line


def test_a_program_unloaded_meanwhile_has_no_name_or_tag(monkeypatch):
    def gone(prog_id):
        raise FileNotFoundError(2, "no loaded program has id %d" % prog_id)
    monkeypatch.setattr(bpf, "prog_by_id", gone)
    record = progs.describe(7, "veth0", "skb", 12)
    assert record.json() == {"ifindex": 7, "ifname": "veth0", "mode": "skb", "id": 12,
                             "name": None, "tag": None, "map_count": None}
    assert record.line() == "veth0: XDP program id 12, mode skb (unloaded meanwhile)"


# -- load, detach, unload -----------------------------------------------------------------

@pytest.mark.root
@needs_bpftool
def test_load_attaches_by_netlink_and_the_program_stays_after_exit(objects, veth_pair):
    a, b = veth_pair.a, veth_pair.b
    result = pyxsk("prog", "load", objects["cli_count"], b.name, "-n", b.netns)
    assert result.returncode == 0, result.stderr
    xdp_state = ip_xdp(b)                              # the command has exited
    assert xdp_state is not None and xdp_state["mode"] == ifla.XDP_ATTACHED_DRV   # auto: native
    prog = xdp_state["prog"]
    assert prog["name"] == "cli_count"
    assert result.stdout == ("%s: attached XDP program cli_count (id %d) from %s in drv mode by "
                             "netlink; it stays attached after pyxsk exits (remove it: pyxsk "
                             "prog detach %s -n %s)\n" % (b.name, prog["id"],
                                                          objects["cli_count"], b.name, b.netns))
    (map_id,) = bpftool_json("prog", "show", "id", str(prog["id"]))["map_ids"]
    send_test_frames(a, b.mac)
    assert wait_for_count(FRAMES, "id", map_id) == FRAMES   # the program runs, with its map
    again = assert_one_line_error(pyxsk("prog", "load", objects["cli_count"], b.name, "-n",
                                        b.netns), EXIT_FAILED)
    assert "already has XDP program %d in drv mode" % prog["id"] in again
    detached = pyxsk("prog", "detach", b.name, "-n", b.netns)
    assert detached.returncode == 0, detached.stderr
    assert ip_xdp(b) is None


@pytest.mark.root
@needs_bpftool
def test_load_with_pin_keeps_a_pinned_link_until_unload(objects, veth_pair, bpffs):
    a, b = veth_pair.a, veth_pair.b
    pin = os.path.join(bpffs, "count")
    result = pyxsk("prog", "load", objects["cli_count"], b.name, "-n", b.netns, "--mode", "skb",
                   "--pin", pin)
    assert result.returncode == 0, result.stderr
    xdp_state = ip_xdp(b)
    assert xdp_state is not None and xdp_state["mode"] == ifla.XDP_ATTACHED_SKB
    prog_id = xdp_state["prog"]["id"]
    assert sorted(os.listdir(pin)) == ["link", "maps", "progs"]
    assert os.listdir(os.path.join(pin, "progs")) == ["cli_count"]
    assert os.listdir(os.path.join(pin, "maps")) == ["cli_counts"]
    tool_link = bpftool_json("link", "show", "pinned", os.path.join(pin, "link"))
    assert (tool_link["type"], tool_link["prog_id"]) == ("xdp", prog_id)   # bpftool 7.1: no ifindex
    assert bpftool_json("prog", "show", "pinned", os.path.join(pin, "progs", "cli_count"))[
        "id"] == prog_id
    assert result.stdout.startswith("%s: attached XDP program cli_count (id %d) from %s in skb "
                                    "mode through BPF link id %d, pinned at %s/link with 1 "
                                    "program and 1 map" % (b.name, prog_id, objects["cli_count"],
                                                           tool_link["id"], pin))
    send_test_frames(a, b.mac)
    assert wait_for_count(FRAMES, "pinned", os.path.join(pin, "maps", "cli_counts")) == FRAMES

    refused = assert_one_line_error(pyxsk("prog", "detach", b.name, "-n", b.netns), EXIT_FAILED)
    assert "held by a BPF link" in refused and "prog unload DIR" in refused
    assert ip_xdp(b)["prog"]["id"] == prog_id
    unloaded = pyxsk("prog", "unload", pin)
    assert unloaded.returncode == 0, unloaded.stderr
    assert unloaded.stdout == "%s: detached XDP program id %d from ifindex %d (link id %d); " \
                              "removed 3 pins\n" % (pin, prog_id, b.index, tool_link["id"])
    assert ip_xdp(b) is None and not os.path.lexists(pin)    # detached at once, all unpinned
    missing = assert_one_line_error(pyxsk("prog", "unload", pin), EXIT_FAILED)
    assert "not a directory that pyxsk prog load --pin made" in missing


@pytest.mark.root
def test_unload_after_the_interface_went_removes_the_pins(objects, make_veth_pair, bpffs):
    b = make_veth_pair().b
    pin = os.path.join(bpffs, "gone")
    loaded = pyxsk("prog", "load", objects["cli_two"], b.name, "-n", b.netns, "-p", "cli_pass",
                   "--pin", pin)
    assert loaded.returncode == 0, loaded.stderr
    link.delete_link(b.name, netns=b.netns)            # the veth pair goes; the link is defunct
    with bpf.Link.from_pinned(os.path.join(pin, "link")) as held:
        link_id = held.id
        assert held.ifindex == 0
    unloaded = pyxsk("prog", "unload", pin)
    assert unloaded.returncode == 0, unloaded.stderr
    assert unloaded.stdout == "%s: link id %d was attached nowhere any more; removed 4 pins\n" % (
        pin, link_id)                                 # the link and 3 programs (no maps)
    assert not os.path.lexists(pin)


@pytest.mark.root
def test_load_chooses_a_program_or_says_which_there_are(objects, veth_pair):
    b = veth_pair.b
    two = objects["cli_two"]
    cases = [
        ([], "has 2 XDP programs: cli_pass, cli_drop; choose one with --program"),
        (["--program", "nope"], "has no program 'nope'; its programs: cli_pass, cli_drop, "
                                "cli_socket"),
        (["--program", "cli_socket"], "(section 'socket') is not an XDP program an interface "
                                      "takes; those are: cli_pass, cli_drop"),
    ]
    for extra, says in cases:
        line = assert_one_line_error(pyxsk("prog", "load", two, b.name, "-n", b.netns, *extra),
                                     EXIT_FAILED)
        assert says in line, (extra, line)
        assert ip_xdp(b) is None
    chosen = pyxsk("prog", "load", two, b.name, "-n", b.netns, "-p", "cli_drop", "-m", "generic")
    assert chosen.returncode == 0, chosen.stderr
    xdp_state = ip_xdp(b)
    assert (xdp_state["mode"], xdp_state["prog"]["name"]) == (ifla.XDP_ATTACHED_SKB, "cli_drop")
    link.detach_xdp(b.name, netns=b.netns)


@pytest.mark.root
def test_load_of_a_section_without_a_type_needs_type(objects, veth_pair):
    b = veth_pair.b
    custom = objects["cli_custom"]
    line = assert_one_line_error(pyxsk("prog", "load", custom, b.name, "-n", b.netns),
                                 EXIT_FAILED)
    assert "section 'pyxsk_custom'" in line and "--type xdp" in line
    loaded = pyxsk("prog", "load", custom, b.name, "-n", b.netns, "--type", "xdp")
    assert loaded.returncode == 0, loaded.stderr
    assert ip_xdp(b)["prog"]["name"] == "cli_custom"
    link.detach_xdp(b.name, netns=b.netns)


@pytest.mark.root
def test_load_refuses_a_pin_directory_it_cannot_use(objects, veth_pair, bpffs, tmp_path):
    b = veth_pair.b
    count = objects["cli_count"]
    busy = os.path.join(bpffs, "busy")
    os.mkdir(busy)
    os.mkdir(os.path.join(busy, "other"))
    cases = [
        (str(tmp_path / "pins"), "is on %s, not a bpffs" % progs.mount_type(str(tmp_path))),
        (os.path.join(bpffs, "no", "such"), "no directory %s/no to make it in" % bpffs),
        (busy, "the directory is not empty"),
        (count, "not a directory"),
    ]
    for pin, says in cases:
        line = assert_one_line_error(pyxsk("prog", "load", count, b.name, "-n", b.netns,
                                           "--pin", pin), EXIT_FAILED)
        assert says in line, (pin, line)
    assert ip_xdp(b) is None and not os.path.lexists(tmp_path / "pins")
    assert os.listdir(busy) == ["other"]


@pytest.mark.root
def test_a_failed_attach_leaves_no_pin_behind(objects, make_veth_pair, bpffs):
    """hw mode: veth has no offload, so the kernel refuses the link after
    every program and map was pinned; all of that must go again."""
    b = make_veth_pair().b
    pin = os.path.join(bpffs, "count")
    line = assert_one_line_error(pyxsk("prog", "load", objects["cli_count"], b.name, "-n",
                                       b.netns, "--pin", pin, "--mode", "hw"), EXIT_FAILED)
    assert "BPF_LINK_CREATE" in line
    assert not os.path.lexists(pin) and ip_xdp(b) is None


def test_load_usage_errors():
    for args, says in [
        (["prog", "load"], "required: OBJ, IFACE"),
        (["prog", "load", "x.o", "veth0", "--mode", "fast"], "'fast' is not an XDP mode"),
        (["prog", "load", "x.o", "veth0", "--type", "tc"], "invalid choice: 'tc'"),
        (["prog", "unload"], "required: DIR"),
    ]:
        line = assert_one_line_error(pyxsk(*args), EXIT_USAGE)
        assert says in line, (args, line)


@pytest.mark.root
def test_load_of_a_missing_or_broken_file_gives_one_line(veth_pair, tmp_path):
    b = veth_pair.b
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"not an ELF file")
    for path, says in [(str(tmp_path / "none.o"), "none.o: No such file or directory"),
                       (str(junk), "junk.o is not an ELF file")]:
        line = assert_one_line_error(pyxsk("prog", "load", path, b.name, "-n", b.netns),
                                     EXIT_FAILED)
        assert says in line, line


def test_mount_type_reads_the_deepest_mount(tmp_path, monkeypatch):
    table = tmp_path / "mountinfo"
    table.write_text(
        "21 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "30 21 0:30 / /sys/fs/bpf rw - bpf bpf rw\n"
        "31 21 0:31 / /mnt/with\\040space rw shared:5 - bpf bpf rw\n"
        "32 31 0:32 / /mnt/with\\040space/tmp rw - tmpfs tmpfs rw\n")
    monkeypatch.setattr(progs, "MOUNTINFO", str(table))
    monkeypatch.setattr(os.path, "realpath", lambda p: p)
    assert progs.mount_type("/sys/fs/bpf/pins") == "bpf"
    assert progs.mount_type("/sys/fs/bpfx") == "ext4"
    assert progs.mount_type("/mnt/with space/a") == "bpf"
    assert progs.mount_type("/mnt/with space/tmp/b") == "tmpfs"
    assert progs.mount_type("/") == "ext4"


# -- doctor --json ----------------------------------------------------------------------

def _text_findings(stdout):
    """{feature: status} from doctor's text lines ("ok    feature ...")."""
    found = {}
    for line in stdout.splitlines():
        status, _, rest = line.partition("  ")
        if status.strip() in ("ok", "no", "skip"):
            found[rest.strip()[:26].rstrip()] = status.strip()
    return found


@pytest.mark.root
def test_doctor_json_says_what_the_text_says():
    document = run_json("doctor", "--json")
    assert list(document) == DOCTOR_KEYS
    assert (document["interface"], document["netns"], document["queue"]) == (None, None, None)
    assert document["works"] is True and document["missing"] == []
    assert document["platform"].startswith("Linux %s " % os.uname().release)
    findings = {f["feature"]: f for f in document["findings"]}
    assert all(list(f) == ["feature", "status", "detail", "fallback"]
               for f in document["findings"])
    assert findings["AF_XDP sockets"]["status"] == "ok"
    assert findings["zero-copy"]["status"] == "no"          # veth has none
    assert findings["zero-copy"]["fallback"].startswith("pyxsk binds in copy mode")
    text = pyxsk("doctor")
    assert {f: v["status"] for f, v in findings.items()} == _text_findings(text.stdout)


@pytest.mark.root
def test_doctor_json_on_an_interface(veth_pair):
    b = veth_pair.b
    document = run_json("doctor", b.name, "-n", b.netns, "-j")
    assert (document["interface"], document["netns"], document["queue"]) == (b.name, b.netns, 0)
    findings = {f["feature"]: f for f in document["findings"]}
    assert findings["native XDP"]["status"] == "skip"     # not without --attach
    assert document["works"] is True
