"""What ``pyxsk prog`` shows and does beyond a one-line detach: the XDP
programs attached in a namespace, as records for text and JSON output.

A record is one program on one interface in one mode.  Its JSON keys are
stable: ``ifindex``, ``ifname``, ``mode`` ("skb", "drv" or "hw"), ``id``,
``name``, ``tag`` and ``map_count``; ``name``, ``tag`` and ``map_count``
are null when the program was unloaded between the interface dump and the
look-up by id.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, NamedTuple, Optional

from .. import bpf
from ..net import link
from .summary import XDP_MODE_WORDS


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
