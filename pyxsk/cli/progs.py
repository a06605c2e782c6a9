"""What ``pyxsk prog`` shows and does beyond a one-line detach: the XDP
programs attached in a namespace, as records for text and JSON output;
loading an object file and attaching one of its programs, by netlink or
through a pinned BPF link; and removing such pins again.

A record of ``prog show`` is one program on one interface in one mode.
Its JSON keys are stable: ``ifindex``, ``ifname``, ``mode`` ("skb", "drv"
or "hw"), ``id``, ``name``, ``tag`` and ``map_count``; ``name``, ``tag``
and ``map_count`` are null when the program was unloaded between the
interface dump and the look-up by id.

``prog load --pin DIR`` lays its pins out as::

    DIR/link          the BPF link holding the program on the interface
    DIR/progs/NAME    every program of the object, by function name
    DIR/maps/NAME     every map of the object (global data as .rodata, .bss...)

Subdirectories keep a program and a map of the same name apart.  The link
keeps the program attached after the command exits (like ``xdp-loader
load --pin-path`` or ``bpftool prog load ... pinmaps``); ``prog unload
DIR`` detaches it and removes the pins.
"""

from __future__ import annotations

import errno
import os
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Tuple

from .. import bpf
from ..bpf.sections import TYPE_NAMES
from ..errors import ObjectError
from ..net import link
from ..uapi import bpf as k
from .summary import XDP_MODE_WORDS

PIN_LINK, PIN_PROGS, PIN_MAPS = "link", "progs", "maps"
BPFFS_TYPE = "bpf"
MOUNTINFO = "/proc/self/mountinfo"
# --type names that make XDP programs (the others could never be attached here)
XDP_TYPE_NAMES = tuple(sorted(name for name, t in TYPE_NAMES.items()
                              if t.prog_type == k.BPF_PROG_TYPE_XDP))
# expected_attach_type of an XDP program an interface takes; xdp/devmap and
# xdp/cpumap programs go into those maps instead, and the kernel refuses them here
_INTERFACE_ATTACH_TYPES = (0, k.BPF_XDP)


class ProgError(Exception):
    """``prog load`` or ``prog unload`` cannot do what was asked: no such
    program in the object, a pin directory that is not on a bpffs..."""


class Attached(NamedTuple):
    """An XDP program attached to an interface, as ``prog show`` reports it."""
    ifindex: int
    ifname: str
    mode: str
    id: int
    name: Optional[str]
    tag: Optional[str]
    map_count: Optional[int]

    def line(self) -> str:
        """The text line: "IFACE: XDP program id N, mode M (words), name ..., tag ..., K maps"."""
        if self.tag is None:
            return "%s: XDP program id %d, mode %s (unloaded meanwhile)" % (
                self.ifname, self.id, self.mode)
        return "%s: XDP program id %d, mode %s (%s), name %s, tag %s, %d maps" % (
            self.ifname, self.id, self.mode, XDP_MODE_WORDS.get(self.mode, self.mode),
            self.name or "-", self.tag, self.map_count or 0)

    def json(self) -> Dict[str, Any]:
        return self._asdict()


def describe(ifindex: int, ifname: str, mode: str, prog_id: int) -> Attached:
    """The record of program ``prog_id`` attached to ``ifname`` in ``mode``
    (BPF_PROG_GET_FD_BY_ID; a program gone meanwhile has no name or tag)."""
    try:
        with bpf.prog_by_id(prog_id) as prog:
            info = prog.info()
    except FileNotFoundError:
        return Attached(ifindex, ifname, mode, prog_id, None, None, None)
    return Attached(ifindex, ifname, mode, prog_id, info.name, info.tag, info.nr_map_ids)


def attached(devices: Iterable[link.Link]) -> List[Attached]:
    """Every XDP program on ``devices``, by interface and then mode."""
    return [describe(device.index, device.name, mode, prog_id)
            for device in devices
            for mode, prog_id in sorted(device.xdp.prog_ids().items())]


# -- load -------------------------------------------------------------------------------

class Loaded(NamedTuple):
    """What ``prog load`` did: ``program`` (its function name) with id
    ``prog_id`` attached to ``ifname`` in ``mode``; the object had
    ``programs`` programs and ``maps`` maps.  ``link_id`` and ``pin_dir``
    are None when it was attached by netlink."""
    ifname: str
    mode: str
    program: str
    prog_id: int
    programs: int
    maps: int
    link_id: Optional[int]
    pin_dir: Optional[str]


def open_spec(path: str, prog_type: Optional[str]) -> bpf.ObjectFile:
    """Parse ``path``; an unknown section name is refused in the command's words."""
    try:
        return bpf.open_object(path, prog_type)
    except ObjectError as e:
        if prog_type is None and "prog_type=" in str(e):
            raise ProgError("%s; on the command line: --type %s" % (e, "|".join(XDP_TYPE_NAMES)))
        raise


def interface_programs(spec: bpf.ObjectFile) -> List[str]:
    """The programs of ``spec`` an interface can take, in the object's order."""
    return [name for name, p in spec.programs.items()
            if p.prog_type == k.BPF_PROG_TYPE_XDP
            and p.expected_attach_type in _INTERFACE_ATTACH_TYPES]


def choose(spec: bpf.ObjectFile, wanted: Optional[str], path: str) -> str:
    """The program to attach: ``wanted``, or the object's only XDP program."""
    candidates = interface_programs(spec)
    if wanted is not None:
        found = spec.programs.get(wanted)
        if found is None:
            raise ProgError("%s has no program %r; its programs: %s" % (
                path, wanted, ", ".join(spec.programs) or "none"))
        if wanted not in candidates:
            raise ProgError("program %r of %s (section %r) is not an XDP program an interface "
                            "takes; those are: %s" % (wanted, path, found.section,
                                                      ", ".join(candidates) or "none"))
        return wanted
    if not candidates:
        raise ProgError("%s has no XDP program to attach (programs: %s)" % (
            path, ", ".join("%s in %r" % (n, p.section) for n, p in spec.programs.items())
            or "none"))
    if len(candidates) > 1:
        raise ProgError("%s has %d XDP programs: %s; choose one with --program" % (
            path, len(candidates), ", ".join(candidates)))
    return candidates[0]


def _unescape(field: str) -> str:
    """A mountinfo path: the kernel writes space, tab, newline and backslash as \\ooo."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_type(path: str) -> Optional[str]:
    """The type of the filesystem ``path`` (which exists) is on, from this
    process's mountinfo: the deepest mount point above it, the last mounted
    where several are stacked."""
    real = os.path.realpath(path)
    best: Tuple[int, Optional[str]] = (-1, None)
    with open(MOUNTINFO) as f:
        for line in f:
            fields = line.split()
            point = _unescape(fields[4])
            fstype = fields[fields.index("-") + 1]
            inside = real == point or real.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= best[0]:
                best = (len(point), fstype)
    return best[1]


class PinDir:
    """The pins of ``prog load --pin`` under ``root`` (see the module
    docstring), and what was made there, to undo when loading fails."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.link = os.path.join(root, PIN_LINK)
        self.progs = os.path.join(root, PIN_PROGS)
        self.maps = os.path.join(root, PIN_MAPS)
        self._made: List[str] = []
        self._pinned: List[str] = []

    def check(self) -> None:
        """Before loading anything: ``root`` is an empty directory on a bpffs,
        or can be made in one."""
        if os.path.lexists(self.root):
            if not os.path.isdir(self.root):
                raise ProgError("--pin %s: not a directory" % self.root)
            if os.listdir(self.root):
                raise ProgError("--pin %s: the directory is not empty (pyxsk prog unload %s "
                                "removes what an earlier load pinned there)" % (self.root,
                                                                                self.root))
            where = self.root
        else:
            where = os.path.dirname(os.path.abspath(self.root))
            if not os.path.isdir(where):
                raise ProgError("--pin %s: no directory %s to make it in" % (self.root, where))
        fstype = mount_type(where)
        if fstype != BPFFS_TYPE:
            raise ProgError("--pin %s: %s is on %s, not a bpffs: pins live on a bpf filesystem "
                            "(mount -t bpf bpf /sys/fs/bpf, and pin under it)"
                            % (self.root, where, fstype or "no known mount"))

    def make(self) -> None:
        for path in (self.root, self.progs, self.maps):
            if path == self.root and os.path.isdir(path):
                continue
            os.mkdir(path)
            self._made.append(path)

    def pin(self, obj: Any, path: str) -> None:
        """Pin ``obj`` (a map, program or link) at ``path`` and remember it."""
        obj.pin(path)
        self._pinned.append(path)

    def undo(self) -> None:
        """Remove what :meth:`pin` and :meth:`make` made, newest first."""
        for path in reversed(self._pinned):
            _unlink_if_there(path)
        for path in reversed(self._made):
            os.rmdir(path)
        self._pinned, self._made = [], []


def _unlink_if_there(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def load(path: str, ifname: str, program: Optional[str] = None, mode: str = "auto",
         pin_dir: Optional[str] = None, prog_type: Optional[str] = None,
         pin_root: Optional[str] = None) -> Loaded:
    """Load the object file ``path`` (every program and map) and attach
    ``program`` (or its only XDP program) to ``ifname`` in ``mode``: by
    netlink, or with ``pin_dir`` through a BPF link pinned there with every
    program and map.  Every fd the command held is closed on return; what is
    attached or pinned stays.  On failure nothing is left attached or pinned."""
    layout = PinDir(pin_dir) if pin_dir is not None else None
    if layout is not None:
        layout.check()
    spec = open_spec(path, prog_type)
    name = choose(spec, program, path)
    with spec.load(pin_root=pin_root) as obj:
        prog = obj.programs[name]
        counts = (len(obj.programs), len(obj.maps))
        if layout is None:
            used = link.attach_xdp(ifname, prog.fd, mode=mode, update_if_noexist=True)
            return Loaded(ifname, used, name, prog.id, counts[0], counts[1], None, None)
        try:
            layout.make()
            for prog_name, each in obj.programs.items():
                layout.pin(each, os.path.join(layout.progs, prog_name))
            for map_name, m in obj.maps.items():
                layout.pin(m, os.path.join(layout.maps, map_name))
            with link.attach_xdp(ifname, prog.fd, mode=mode, bpf_link=True) as held:
                layout.pin(held, layout.link)
                return Loaded(ifname, held.mode or mode, name, prog.id, counts[0], counts[1],
                              held.id, layout.root)
        except BaseException:
            layout.undo()
            raise


# -- unload -----------------------------------------------------------------------------

class Unloaded(NamedTuple):
    """What ``prog unload`` did: the link it detached (None: there was
    none), the pins it removed, and whether the directory itself went."""
    link: Optional[bpf.LinkInfo]
    pins: int
    removed_dir: bool


def unload(pin_dir: str) -> Unloaded:
    """Undo ``prog load --pin pin_dir``: detach the pinned link at once
    (BPF_LINK_DETACH; unlinking alone releases it only after an RCU grace
    period), remove every pin of the layout, then the directories, the
    top one only if nothing else is in it."""
    layout = PinDir(pin_dir)
    if not any(os.path.lexists(p) for p in (layout.link, layout.progs, layout.maps)):
        raise ProgError("%s holds no link, progs/ or maps/: not a directory that pyxsk prog load "
                        "--pin made" % pin_dir)
    info = None
    pins = 0
    if os.path.lexists(layout.link):
        with bpf.Link.from_pinned(layout.link) as held:
            info = held.info()
            if info.ifindex:
                held.detach()
        os.unlink(layout.link)
        pins += 1
    for directory in (layout.progs, layout.maps):
        if os.path.isdir(directory):
            for entry in sorted(os.listdir(directory)):
                os.unlink(os.path.join(directory, entry))
                pins += 1
            os.rmdir(directory)
    try:
        os.rmdir(pin_dir)
    except OSError as e:
        if e.errno != errno.ENOTEMPTY:
            raise
        return Unloaded(info, pins, False)
    return Unloaded(info, pins, True)
