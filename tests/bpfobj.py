"""The object loader's test harness: build the C corpus in tests/bpf_src with
clang, load each object with ``bpftool prog loadall`` (libbpf, the oracle)
and with pyxsk, and read back from the kernel what each load made.

Both sides are read the same way, by id through bpftool: ``prog show``,
``prog dump xlated``, ``map show``, ``map dump``.  A :class:`Snapshot` holds
that, with every map id replaced by the map's name and every program id by
the program's name, so two loads compare field by field; the ``diff_*``
functions say exactly what differs.

Objects are built once per test process, into a temporary directory
(never committed: ``clang -O2 -g -target bpf -I/usr/include/<multiarch> -c``).
bpftool runs in a private mount namespace whose /sys/fs/bpf is a fresh
bpffs, so maps pinned by name (LIBBPF_PIN_BY_NAME, which bpftool has no
option to redirect) never land on the host; the programs and maps it pins
for the test go to a bpffs the test mounted (:func:`bpffs`).
"""

import contextlib
import errno
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile

import pytest

from pyxsk import _libc

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "bpf_src")
CLANG = shutil.which("clang")
BPFTOOL = shutil.which("bpftool")
UNSHARE = shutil.which("unshare")
TIMEOUT = 120                       # seconds for one clang or bpftool run
SYS_FS_BPF = "/sys/fs/bpf"          # libbpf's pin root for LIBBPF_PIN_BY_NAME

_MAP_ID = re.compile(r"map\[id:(\d+)\]")


class ToolError(RuntimeError):
    """clang or bpftool failed: the command, its exit status and output."""

    def __init__(self, cmd, returncode, stdout, stderr):
        self.cmd, self.returncode, self.stdout, self.stderr = cmd, returncode, stdout, stderr
        super().__init__("%s exited %s\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(shlex.quote(c) for c in cmd), returncode, stdout[-4000:], stderr[-4000:]))


# -- building the corpus ------------------------------------------------------

def sources():
    """The corpus: names of the .c files in tests/bpf_src, without ".c"."""
    return sorted(f[:-2] for f in os.listdir(SRC) if f.endswith(".c"))


def _run(cmd, timeout=TIMEOUT):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)
    if proc.returncode != 0:
        raise ToolError(cmd, proc.returncode, proc.stdout, proc.stderr)
    return proc


def _multiarch_include():
    """/usr/include/<triple>: asm/types.h for the host, which the BPF target lacks."""
    for cmd in (["gcc", "-dumpmachine"], [CLANG, "-print-multiarch"]):
        if cmd[0] and shutil.which(cmd[0]):
            triple = _run(cmd).stdout.strip()
            if triple and os.path.isdir(os.path.join("/usr/include", triple)):
                return os.path.join("/usr/include", triple)
    raise RuntimeError("no /usr/include/<triple> for gcc -dumpmachine or clang -print-multiarch")


def build_command(name, out):
    return [CLANG, "-O2", "-g", "-Wall", "-target", "bpf", "-I" + _multiarch_include(),
            "-c", os.path.join(SRC, name + ".c"), "-o", out]


_built = {}           # name -> object path, for the whole test process
_build_dir = []


def build(name, tmp_path_factory=None):
    """The object file of tests/bpf_src/``name``.c, built on first use."""
    if CLANG is None:
        pytest.skip("clang is not installed (the object-loader corpus is C built at test time)")
    if name not in _built:
        if not _build_dir:
            _build_dir.append(str(tmp_path_factory.mktemp("bpfobj")) if tmp_path_factory
                              else tempfile.mkdtemp(prefix="pyxsk_bpfobj_"))
        out = os.path.join(_build_dir[0], name + ".o")
        _run(build_command(name, out))
        _built[name] = out
    return _built[name]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """Builds every object of the corpus (once per process) and returns a
    function from a source name ("maps_btf") to its object file."""
    for name in sources():
        build(name, tmp_path_factory)
    return build


# -- a private bpffs ----------------------------------------------------------

@contextlib.contextmanager
def bpffs():
    """A bpffs mounted on a fresh directory; unmounted (and everything pinned
    there released) on exit.  The path has no dot: libbpf turns every dot of
    a pin path into an underscore."""
    base = None if "." not in tempfile.gettempdir() else "/tmp"
    path = tempfile.mkdtemp(prefix="pyxsk_bpffs_", dir=base)
    try:
        _libc.mount("bpf", path, "bpf", 0, call="mount(bpf, %s)" % path)
        try:
            yield path
        finally:
            _libc.umount2(path, _libc.MNT_DETACH, call="umount2(%s)" % path)
    finally:
        os.rmdir(path)


@pytest.fixture
def bpffs_dir():
    with bpffs() as path:
        yield path


# -- bpftool ------------------------------------------------------------------

def bpftool_json(*args):
    """``bpftool -j ARGS``, parsed; ToolError if it fails."""
    if BPFTOOL is None:
        pytest.skip("bpftool is not installed (the oracle for the object loader)")
    cmd = [BPFTOOL, "-j"] + [str(a) for a in args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=TIMEOUT)
    out = json.loads(proc.stdout) if proc.stdout.strip() else None
    if proc.returncode != 0 or isinstance(out, dict) and "error" in out:
        raise ToolError(cmd, proc.returncode, proc.stdout, proc.stderr)
    return out


def in_private_pin_root(commands):
    """Run ``commands`` (argument lists) one after the other in a private
    mount namespace where /sys/fs/bpf is a new, empty bpffs; stops at the
    first that fails (ToolError).  Returns each command's stdout.

    Everything pinned under /sys/fs/bpf goes away with the namespace;
    objects pinned in a bpffs mounted before (:func:`bpffs`) stay."""
    if BPFTOOL is None:
        pytest.skip("bpftool is not installed (the oracle for the object loader)")
    if UNSHARE is None:
        pytest.skip("unshare (util-linux) is not installed")
    marker = "--pyxsk-bpfobj-next--"
    script = ["set -e", "mount -t bpf bpf %s" % SYS_FS_BPF]
    for cmd in commands:
        script.append(" ".join(shlex.quote(str(c)) for c in cmd))
        script.append("echo %s" % marker)
    cmd = [UNSHARE, "--mount", "--propagation", "private", "sh", "-c", "\n".join(script)]
    proc = _run(cmd)
    return proc.stdout.split(marker + "\n")[:len(commands)]


def loadall_command(obj, progs_dir, prog_type=None, pinmaps=None):
    cmd = [BPFTOOL, "prog", "loadall", obj, progs_dir]
    if prog_type is not None:
        cmd += ["type", prog_type]
    if pinmaps is not None:
        cmd += ["pinmaps", pinmaps]
    return cmd


def bpftool_load(obj, pin_dir, prog_type=None, pinmaps=True):
    """``bpftool prog loadall`` of ``obj``: its programs pinned in
    pin_dir/progs (one file per function name), its maps in pin_dir/maps
    unless ``pinmaps`` is False (maps pinned by name refuse a second pin).
    Returns {function name: program id}."""
    progs_dir = os.path.join(pin_dir, "progs")
    maps_dir = os.path.join(pin_dir, "maps") if pinmaps else None
    in_private_pin_root([loadall_command(obj, progs_dir, prog_type, maps_dir)])
    return pinned_program_ids(progs_dir)


def pinned_program_ids(progs_dir):
    return {name: bpftool_json("prog", "show", "pinned", os.path.join(progs_dir, name))["id"]
            for name in sorted(os.listdir(progs_dir))}


def pinned_map_ids(maps_dir):
    if not os.path.isdir(maps_dir):
        return []
    return [bpftool_json("map", "show", "pinned", os.path.join(maps_dir, name))["id"]
            for name in sorted(os.listdir(maps_dir))]


# -- what the kernel reports --------------------------------------------------

def _hex_bytes(values):
    return bytes(int(v, 16) for v in values)


class Snapshot:
    """What the kernel reports about one load of an object: for each program
    (by function name) ``prog show``, and ``prog dump xlated``; for each map
    (by kernel name) ``map show`` and ``map dump``.  Ids are kept in
    ``prog_ids`` / ``map_ids``; everything else refers to maps and programs
    by name."""

    def __init__(self, prog_ids, map_ids=()):
        self.prog_ids = dict(prog_ids)
        self.progs = {name: bpftool_json("prog", "show", "id", pid)
                      for name, pid in self.prog_ids.items()}
        ids = set(map_ids)
        for show in self.progs.values():
            ids.update(show.get("map_ids", ()))
        self.map_ids = {}
        self.maps = {}
        for mid in sorted(ids):
            show = bpftool_json("map", "show", "id", mid)
            if show["name"] in self.maps:
                raise AssertionError("two maps named %r (ids %d and %d): names cannot identify "
                                     "them" % (show["name"], self.map_ids[show["name"]], mid))
            self.maps[show["name"]] = show
            self.map_ids[show["name"]] = mid
        self._names = {mid: name for name, mid in self.map_ids.items()}
        self.xlated = {name: bpftool_json("prog", "dump", "xlated", "id", pid)
                       for name, pid in self.prog_ids.items()}
        self.contents = {name: self._dump(name) for name in self.maps}

    # names for ids
    def map_name(self, mid):
        if mid not in self._names:
            self._names[mid] = bpftool_json("map", "show", "id", mid)["name"]
        return self._names[mid]

    def prog_name(self, pid):
        for name, known in self.prog_ids.items():
            if known == pid:
                return name
        return "<program %s>" % bpftool_json("prog", "show", "id", pid)["name"]

    def _normalise_ids(self, text):
        return _MAP_ID.sub(lambda m: "map[%s]" % self.map_name(int(m.group(1))), text)

    # instructions
    def instructions(self, prog):
        """The program's instructions as the kernel reports them after
        verification ("disasm" of bpftool's xlated dump), map ids replaced
        by map names."""
        return [self._normalise_ids(insn["disasm"]) for insn in self.xlated[prog]]

    def functions(self, prog):
        """The BTF prototypes (func_info) of the program's functions, in
        order, with the instruction index each starts at."""
        return [(i, insn["proto"]) for i, insn in enumerate(self.xlated[prog]) if "proto" in insn]

    def source_lines(self, prog):
        """The source line (BTF line_info) of each instruction that has one."""
        return [(i, insn["src"]) for i, insn in enumerate(self.xlated[prog]) if "src" in insn]

    # maps
    def map_fields(self, name):
        """What ``map show`` says of a map that a loader decides, by name."""
        show = self.maps[name]
        return {"type": show["type"], "key": show["bytes_key"], "value": show["bytes_value"],
                "max_entries": show["max_entries"], "flags": show["flags"],
                "frozen": show.get("frozen", 0)}

    def map_has_btf(self, name):
        return "btf_id" in self.maps[name]

    def program_maps(self, prog):
        """The names of the maps the kernel holds for a program (used or bound)."""
        return sorted(self.map_name(mid) for mid in self.progs[prog].get("map_ids", ()))

    def _dump(self, name):
        """``map dump`` as [(key, value)]: bytes, a list of per-CPU bytes, a
        program or map name for the fd maps, or ("error", text)."""
        try:
            entries = bpftool_json("map", "dump", "id", self.map_ids[name])
        except ToolError as e:
            return ("error", (e.stdout or e.stderr).strip())
        kind = self.maps[name]["type"]
        out = []
        for entry in entries:
            key = _hex_bytes(entry["key"])
            if "values" in entry:
                value = tuple(_hex_bytes(v["value"]) if isinstance(v["value"], list)
                              else ("error", v["value"]["error"]) for v in entry["values"])
            elif isinstance(entry["value"], dict):
                value = ("error", entry["value"]["error"])
            else:
                value = self._fd_value(kind, _hex_bytes(entry["value"]))
            out.append((key, value))
        return out

    def _fd_value(self, kind, raw):
        """Map-in-map and program-array values read back as ids: named instead."""
        if kind in ("array_of_maps", "hash_of_maps"):
            return "map " + self.map_name(int.from_bytes(raw, "little"))
        if kind == "prog_array":
            return "program " + self.prog_name(int.from_bytes(raw, "little"))
        return raw


def bpftool_snapshot(obj, pin_dir, prog_type=None, pinmaps=True):
    """Load ``obj`` with bpftool (pins under ``pin_dir``) and read it back."""
    prog_ids = bpftool_load(obj, pin_dir, prog_type, pinmaps)
    return Snapshot(prog_ids, pinned_map_ids(os.path.join(pin_dir, "maps")))


def pyxsk_snapshot(obj):
    """Read back what a pyxsk :class:`bpf.Object` loaded."""
    return Snapshot({name: prog.info().id for name, prog in obj.programs.items()},
                    [m.info().id for m in obj.maps.values()])


# -- telling what differs -----------------------------------------------------

def diff_lists(what, ours, theirs, context=3):
    """None if equal, else a message naming the first differing index with
    a few lines around it from both sides."""
    if ours == theirs:
        return None
    first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b),
                 min(len(ours), len(theirs)))
    lo, hi = max(0, first - context), first + context + 1
    differing = sum(a != b for a, b in zip(ours, theirs)) + abs(len(ours) - len(theirs))
    lines = ["%s: %d items from pyxsk, %d from libbpf; %d differ, the first at %d"
             % (what, len(ours), len(theirs), differing, first)]
    for i in range(lo, min(hi, max(len(ours), len(theirs)))):
        a = ours[i] if i < len(ours) else "<none>"
        b = theirs[i] if i < len(theirs) else "<none>"
        lines.append("%s %4d  pyxsk: %-50s libbpf: %s" % ("!" if a != b else " ", i, a, b))
    return "\n".join(lines)


def diff_dicts(what, ours, theirs):
    """None if equal, else one line per key whose value differs or is missing on one side."""
    if ours == theirs:
        return None
    lines = ["%s differ:" % what]
    for key in sorted(set(ours) | set(theirs), key=str):
        a, b = ours.get(key, "<missing>"), theirs.get(key, "<missing>")
        if a != b:
            lines.append("  %s: pyxsk %r, libbpf %r" % (key, a, b))
    return "\n".join(lines)


def fail_if(*messages):
    """pytest.fail with every message that is not None, or nothing."""
    found = [m for m in messages if m]
    if found:
        pytest.fail("\n\n".join(found), pytrace=False)


# -- test runs ----------------------------------------------------------------

def run_frames(prog, frames):
    """BPF_PROG_TEST_RUN of ``prog`` (a pyxsk Prog) on each frame in turn:
    [(retval, output frame)] or [("errno", name)] where the kernel refused."""
    results = []
    for frame in frames:
        try:
            run = prog.test_run(frame)
        except OSError as e:
            results.append(("errno", errno.errorcode.get(e.errno, e.errno)))
        else:
            results.append((run.retval, run.frame))
    return results


def describe_run(result):
    if result[0] == "errno":
        return "refused: %s" % result[1]
    retval, frame = result
    return "retval %d, %d bytes %s" % (retval, len(frame), frame.hex())
