"""bpf(2): maps, programs, XDP links and test runs, as objects that own their fd.

The modules: :mod:`~pyxsk.bpf.asm` (the assembler) and
:mod:`~pyxsk.bpf.disasm`, :mod:`~pyxsk.bpf.maps`, :mod:`~pyxsk.bpf.programs`
(loading, test runs), :mod:`~pyxsk.bpf.links` (XDP through BPF links),
:mod:`~pyxsk.bpf.xdp` (ready XDP programs that feed AF_XDP sockets),
:mod:`~pyxsk.bpf.object` (clang-built objects, on :mod:`~pyxsk.bpf.elf`,
:mod:`~pyxsk.bpf.btf` and :mod:`~pyxsk.bpf.sections`), the readers of
:mod:`~pyxsk.bpf.perf` and :mod:`~pyxsk.bpf.ringbuf`, and
:mod:`~pyxsk.bpf.syscall` beneath them.  The names a user needs are here::

    from pyxsk import bpf
    from pyxsk.bpf import xdp

    with bpf.XskMap(max_entries=64) as xskmap, \
            bpf.load(xdp.redirect_all(xskmap), name="pyxsk_redirect") as prog:
        xskmap[0] = xsk                       # an AF_XDP socket (or its fd)
        result = prog.test_run(frame)         # -> TestRun(action, frame, duration_ns, retval)

Maps are mutable mappings, one class per kind an XDP program uses
(:mod:`~pyxsk.bpf.maps`); :func:`create_map` takes every BPF_MAP_CREATE
attribute, and ``Map.from_fd``, ``Map.from_pinned`` and :func:`map_by_id`
adopt existing maps as the class of their kind.

Every object here holds one kernel fd: ``close()`` is idempotent, ``with``
closes, ``fileno()`` gives the fd (and raises ValueError once closed), and
``repr`` says ``[closed]``.  Closing the last fd of a map or program frees it
unless something else holds it (an attached program holds its maps; an
XDP link holds its program).

Kernel refusals raise :class:`~pyxsk.errors.SyscallError` subclasses (also the
builtin ``PermissionError``, ``FileNotFoundError``... for the errno) naming the
command and a likely cause; a program the verifier rejects raises
:class:`~pyxsk.errors.VerifierError` with the verifier's log.

Capabilities: creating maps and loading programs need CAP_BPF, and for the
networking kinds (XSKMAP, DEVMAP, XDP and tc programs) CAP_NET_ADMIN too;
CAP_SYS_ADMIN stands in for both, and kernels before 5.8 (no CAP_BPF) want
it.  Looking objects up by id always needs CAP_SYS_ADMIN.  An EPERM names
the capability the process lacks (:mod:`pyxsk.capabilities`).

RLIMIT_MEMLOCK: kernels before 5.11 charged map and program memory to it, and
answered EPERM when it ran out.  pyxsk raises the limit only then (once, on
the first EPERM from BPF_MAP_CREATE or BPF_PROG_LOAD) and retries.  If the
call still fails with every capability it needs held, the error says what
the limit is and whether raising it changed anything.
"""

from __future__ import annotations

from .maps import (Map, ArrayMap, PerCpuArrayMap, HashMap, PerCpuHashMap, LruHashMap,  # noqa: F401
                   LruPerCpuHashMap, LpmTrieMap, LpmKey, XskMap, DevMap, DevMapHash, DevMapValue,
                   CpuMap, CpuMapValue, ProgArray, ArrayOfMaps, HashOfMaps, MapInfo, create_map,
                   map_by_id, map_class, possible_cpus)
from .programs import Prog, load, prog_by_id, XdpAction, TestRun, ProgInfo  # noqa: F401
from .links import Link, link_xdp, link_by_id, LinkInfo  # noqa: F401
from ..errors import ObjectError  # noqa: F401

TYPE_CHECKING = False        # mypy takes it as True; the object loader is imported on first use

if TYPE_CHECKING:
    from typing import List

    from .object import Object, ObjectFile, MapSpec, ProgramSpec, Variable, open_object, load_object
    from .perf import PerfBuffer, PerfEventArray, PerfSample
    from .ringbuf import RingBuffer, RingBufMap

_LAZY = {name: "object" for name in ("Object", "ObjectFile", "MapSpec", "ProgramSpec", "Variable",
                                     "open_object", "load_object")}
_LAZY.update({name: "perf" for name in ("PerfBuffer", "PerfEventArray", "PerfSample")})
_LAZY.update({name: "ringbuf" for name in ("RingBuffer", "RingBufMap")})

__all__ = [
    "Map", "ArrayMap", "PerCpuArrayMap", "HashMap", "PerCpuHashMap", "LruHashMap", "LruPerCpuHashMap",
    "LpmTrieMap", "LpmKey", "XskMap", "DevMap", "DevMapHash", "DevMapValue", "CpuMap", "CpuMapValue",
    "ProgArray", "ArrayOfMaps", "HashOfMaps", "create_map", "map_by_id", "map_class",
    "Prog", "Link", "load", "prog_by_id",
    "link_xdp", "link_by_id", "XdpAction", "TestRun", "MapInfo", "ProgInfo", "LinkInfo", "possible_cpus",
    "Object", "ObjectFile", "MapSpec", "ProgramSpec", "Variable", "open_object", "load_object", "ObjectError",
    "PerfBuffer", "PerfEventArray", "PerfSample", "RingBuffer", "RingBufMap",
]


def __getattr__(name: str) -> object:
    """The object loader's and the buffer readers' names (``bpf.load_object``,
    ``bpf.PerfBuffer``...), imported on first use: a program that only
    assembles its own pays nothing for the ELF reader."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    import importlib
    value = getattr(importlib.import_module("." + module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
