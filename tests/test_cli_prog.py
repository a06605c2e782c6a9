"""``pyxsk prog`` (show on one or every interface, load, unload, detach) and
the JSON output of ``prog show`` and ``doctor``, run as users run them, with
``ip -j link`` and ``bpftool -j`` as the witnesses."""

import json
import os
import shutil
import subprocess

import pytest

from test_cli import assert_one_line_error, pyxsk
from pyxsk import bpf
from pyxsk.bpf import xdp
from pyxsk.bpf.asm import ALU64, JMP, R0, Program
from pyxsk.cli import progs
from pyxsk.net import link
from pyxsk.testing import unique_name
from pyxsk.uapi import bpf as k
from pyxsk.uapi import if_link as ifla

EXIT_USAGE, EXIT_FAILED = 2, 1
# IFLA_XDP_ATTACHED as `ip -j link` prints it -> pyxsk's mode word
IP_MODES = {ifla.XDP_ATTACHED_DRV: "drv", ifla.XDP_ATTACHED_SKB: "skb",
            ifla.XDP_ATTACHED_HW: "hw"}
SHOW_KEYS = ["ifindex", "ifname", "mode", "id", "name", "tag", "map_count"]
DOCTOR_KEYS = ["platform", "interface", "netns", "queue", "findings", "works", "missing"]

needs_bpftool = pytest.mark.skipif(shutil.which("bpftool") is None, reason="needs bpftool")


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
