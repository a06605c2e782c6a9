"""bpf(2): maps, programs, XDP links and test runs, as objects that own their fd.

::

    from pyxsk import bpf, programs

    with bpf.XskMap(max_entries=64) as xskmap, \\
            bpf.load(programs.redirect_all(xskmap), name="pyxsk_redirect") as prog:
        xskmap[0] = xsk                       # an AF_XDP socket (or its fd)
        result = prog.test_run(frame)         # -> TestRun(action, frame, duration_ns, retval)

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

import collections
import collections.abc
import ctypes
import enum
import errno
import re
import sys
import warnings

from . import _libc, asm, capabilities
from .errors import ConfigError, VerifierError, syscall_error
from .uapi import bpf as k
from .uapi import if_link as _ifla

__all__ = [
    "Map", "ArrayMap", "PerCpuArrayMap", "HashMap", "XskMap", "Prog", "Link",
    "load", "prog_by_id", "link_xdp", "XdpAction", "TestRun", "MapInfo", "ProgInfo", "LinkInfo",
    "possible_cpus",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.]*$")   # what bpf_obj_name_cpy() accepts
MAX_NAME = k.BPF_OBJ_NAME_LEN - 1                 # room for the NUL
DEFAULT_LICENSE = "Dual MIT/GPL"   # pyxsk's programs; GPL-compatible, so every helper is allowed
LOG_START_SIZE = 64 * 1024
LOG_MAX_SIZE = ((1 << 32) - 1) >> 8  # kernels before 5.2 refuse log_size above UINT_MAX >> 8
_U32_SIZE = ctypes.sizeof(ctypes.c_uint32)
_PERCPU_VALUE_ALIGN = 8              # each CPU's copy of a per-CPU value is 8-byte aligned
_INT_SIZES = (1, 2, 4, 8)
_POSSIBLE_CPUS = "/sys/devices/system/cpu/possible"
ETH_HLEN = 14                        # BPF_PROG_TEST_RUN refuses shorter XDP frames

# What bpf(2) checks (kernel/bpf/syscall.c: map_create, bpf_prog_load): CAP_BPF
# for every map and program (kernel.unprivileged_bpf_disabled leaves nothing
# to unprivileged users), CAP_NET_ADMIN as well for these kinds, and
# CAP_SYS_ADMIN accepted instead of either.
_NET_ADMIN_MAPS = frozenset((k.BPF_MAP_TYPE_DEVMAP, k.BPF_MAP_TYPE_DEVMAP_HASH,
                             k.BPF_MAP_TYPE_SOCKMAP, k.BPF_MAP_TYPE_SOCKHASH,
                             k.BPF_MAP_TYPE_XSKMAP))
_NET_ADMIN_PROGS = frozenset((k.BPF_PROG_TYPE_XDP, k.BPF_PROG_TYPE_SCHED_CLS,
                              k.BPF_PROG_TYPE_SCHED_ACT))
_BPF_ALTERNATIVE = "CAP_SYS_ADMIN"


def _needs_bpf(what, net_admin):
    """``needs`` for :func:`_sys_bpf`: CAP_BPF, and CAP_NET_ADMIN for the networking kinds."""
    needed = ("CAP_BPF", "CAP_NET_ADMIN") if net_admin else ("CAP_BPF",)
    return what, needed, _BPF_ALTERNATIVE


class XdpAction(enum.IntEnum):
    """enum xdp_action: what an XDP program returns."""
    ABORTED = k.XDP_ABORTED
    DROP = k.XDP_DROP
    PASS = k.XDP_PASS
    TX = k.XDP_TX
    REDIRECT = k.XDP_REDIRECT


TestRun = collections.namedtuple("TestRun", "action frame duration_ns retval")
TestRun.__doc__ = """BPF_PROG_TEST_RUN's answer: ``action`` (an XdpAction for an
XDP program whose return value is one), the output ``frame`` (bytes, after any
head/tail adjustment), ``duration_ns`` (mean per run over ``repeat`` runs, as
the kernel measures it) and the raw ``retval``."""
TestRun.__test__ = False   # not a pytest test class

MapInfo = collections.namedtuple("MapInfo", "id type name key_size value_size max_entries flags")
ProgInfo = collections.namedtuple("ProgInfo", "id type name tag run_count run_time_ns nr_map_ids")
LinkInfo = collections.namedtuple("LinkInfo", "id type prog_id ifindex")


# -- the system call --------------------------------------------------------------

_CMD_NAMES = {
    k.BPF_MAP_LOOKUP_ELEM: "BPF_MAP_LOOKUP_ELEM", k.BPF_MAP_UPDATE_ELEM: "BPF_MAP_UPDATE_ELEM",
    k.BPF_MAP_DELETE_ELEM: "BPF_MAP_DELETE_ELEM", k.BPF_MAP_GET_NEXT_KEY: "BPF_MAP_GET_NEXT_KEY",
}
_MEMLOCK_CHARGED = (k.BPF_MAP_CREATE, k.BPF_PROG_LOAD)


class _Memlock:
    """What was done about RLIMIT_MEMLOCK (once per process)."""
    tried = False
    before = None       # (soft, hard) before raising
    after = None        # (soft, hard) after, or None if setrlimit failed
    error = None


def _fmt_limit(value):
    return "unlimited" if value == _libc.RLIM_INFINITY else "%d bytes" % value


def _raise_memlock():
    """Raise RLIMIT_MEMLOCK as far as allowed; True if it changed."""
    if _Memlock.tried:
        return False
    _Memlock.tried = True
    soft, hard = _Memlock.before = _libc.getrlimit(_libc.RLIMIT_MEMLOCK)
    if soft == _libc.RLIM_INFINITY:
        return False
    for new in ((_libc.RLIM_INFINITY, _libc.RLIM_INFINITY), (hard, hard)):
        try:
            _libc.setrlimit(_libc.RLIMIT_MEMLOCK, *new, call="setrlimit(RLIMIT_MEMLOCK)")
        except OSError as e:
            _Memlock.error = e
            continue
        _Memlock.after = new
        return new[0] != soft
    return False


def _memlock_hint():
    """(what RLIMIT_MEMLOCK is and what raising it did, whether it may be
    the cause), or None if pyxsk never looked (no EPERM yet from a call that
    old kernels charge to it)."""
    if _Memlock.before is None:
        return None
    soft, hard = _Memlock.before
    if soft == _libc.RLIM_INFINITY:
        return "RLIMIT_MEMLOCK is unlimited, so the memory limit is not the cause", False
    if _Memlock.after is not None and _Memlock.after[0] != soft:
        return ("RLIMIT_MEMLOCK was raised from %s to %s and the kernel still refused, so the "
                "memory limit is not the cause" % (_fmt_limit(soft), _fmt_limit(_Memlock.after[0])),
                False)
    if _Memlock.after is None:
        why = str(_Memlock.error)
    else:
        why = "it is the hard limit too, and going above that needs CAP_SYS_RESOURCE"
    return ("RLIMIT_MEMLOCK is %s and pyxsk could not raise it (%s); kernels before 5.11 "
            "charge BPF maps and programs to it: raise `ulimit -l`" % (_fmt_limit(soft), why), True)


def _eperm_hint(needs):
    """The hint for EPERM from a call that needs ``needs`` = (what, names,
    alternative): the capability missing if one is; else what the memlock
    limit is, the other cause on kernels before 5.11."""
    what, needed, alternative = needs
    if capabilities.missing(needed, alternative):
        return capabilities.hint(what, needed, alternative)
    memlock = _memlock_hint()
    if memlock is None:
        return capabilities.hint(what, needed, alternative)
    text, suspect = memlock
    held = ", which this process holds" if suspect else capabilities.ELSEWHERE
    return "%s; %s" % (text, capabilities.hint(what, needed, alternative, held))


def _sys_bpf(cmd, attr, call, hints=None, needs=None):
    """bpf(cmd, &attr, sizeof attr) -> result, raising SyscallError.

    EPERM from a command old kernels charge to RLIMIT_MEMLOCK raises the
    limit once and retries (see the module docstring).  ``needs`` is
    (what the call does, the capabilities it needs, one that stands in for
    all of them) for commands the kernel checks capabilities for; an EPERM
    then names the one missing."""
    ret, err = _libc.raw_bpf(cmd, attr)
    if ret < 0 and err == errno.EPERM and cmd in _MEMLOCK_CHARGED and _raise_memlock():
        ret, err = _libc.raw_bpf(cmd, attr)
    if ret >= 0:
        return ret
    if err == errno.EPERM and needs is not None:
        raise syscall_error(err, call, _eperm_hint(needs))
    raise syscall_error(err, call, (hints or {}).get(err))


def _obj_name(name, what):
    """The kernel's object name: up to 15 of [A-Za-z0-9_.] (else EINVAL)."""
    if name is None:
        return b""
    if not isinstance(name, str) or len(name) > MAX_NAME or not NAME_PATTERN.match(name):
        raise ConfigError("%s name %r: up to %d letters, digits, '_' or '.'" % (what, name, MAX_NAME))
    return name.encode()


def _info(fd, info, call):
    attr = k.bpf_attr_info(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    _sys_bpf(k.BPF_OBJ_GET_INFO_BY_FD, attr, call)
    return info


def _fd_of(obj, what):
    if isinstance(obj, int) and not isinstance(obj, bool):
        return obj
    fileno = getattr(obj, "fileno", None)
    if fileno is None:
        raise TypeError("%s must be an fd or have fileno(), not %s" % (what, type(obj).__name__))
    return fileno()


def possible_cpus():
    """How many CPUs the kernel may ever bring up (per-CPU maps hold one value each)."""
    with open(_POSSIBLE_CPUS) as f:
        text = f.read().strip()
    count = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


# -- fd ownership -------------------------------------------------------------------------

class _FdObject:
    """Owns one fd: idempotent close(), context manager, fileno(), [closed] repr."""

    _what = "bpf object"

    def __init__(self, fd):
        self._fd = fd

    @property
    def closed(self):
        return self._fd < 0

    def fileno(self):
        if self._fd < 0:
            raise ValueError("%s is closed" % self._what)
        return self._fd

    @property
    def fd(self):
        return self.fileno()

    def close(self):
        fd, self._fd = self._fd, -1
        if fd >= 0:
            _libc.close(fd, call="close(%s)" % self._what)

    def __enter__(self):
        self.fileno()
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_fd", -1) >= 0:
            warnings.warn("unclosed %r" % self, ResourceWarning, source=self)
            self.close()

    def _state(self):
        return ""

    def __repr__(self):
        if self._fd < 0:
            return "<%s [closed]>" % type(self).__name__
        return "<%s fd=%d%s>" % (type(self).__name__, self._fd, self._state())


# -- maps --------------------------------------------------------------------------

class Map(_FdObject, collections.abc.MutableMapping):
    """A BPF map as a mutable mapping.

    Keys and values whose size is 1, 2, 4 or 8 bytes read back as ints (host
    byte order, as the program sees them) and may be given as ints or
    bytes; other sizes are bytes of exactly that size.  A missing key raises
    KeyError.  ``update(key, value, flags)`` exposes BPF_NOEXIST/BPF_EXIST.
    """

    map_type = None
    _type_name = "map"

    def __init__(self, map_type, key_size, value_size, max_entries, flags=0, name=None):
        for what, value in (("key_size", key_size), ("value_size", value_size),
                            ("max_entries", max_entries)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError("%s must be a positive int, not %r" % (what, value))
        self._what = "%s %s" % (self._type_name, name or "")
        attr = k.bpf_attr_map_create(map_type=map_type, key_size=key_size, value_size=value_size,
                                     max_entries=max_entries, map_flags=flags,
                                     map_name=_obj_name(name, "map"))
        call = "bpf(BPF_MAP_CREATE, %s key %d value %d max_entries %d)" % (
            self._type_name, key_size, value_size, max_entries)
        hints = {errno.EINVAL: "this map type does not take these sizes or flags",
                 errno.ENOMEM: "not enough memory for max_entries x value_size",
                 errno.E2BIG: "key or value too large for this map type"}
        kind = self._type_name if self._type_name != Map._type_name else "type %d" % map_type
        needs = _needs_bpf("creating a BPF map (%s)" % kind, map_type in _NET_ADMIN_MAPS)
        super().__init__(-1)
        self._fd = _sys_bpf(k.BPF_MAP_CREATE, attr, call, hints, needs)
        self.map_type, self.key_size, self.value_size = map_type, key_size, value_size
        self.max_entries, self.flags, self.name = max_entries, flags, name or ""
        self._id = None

    def _state(self):
        name = " %r" % self.name if self.name else ""
        return "%s max_entries=%d" % (name, self.max_entries)

    # key and value encoding
    def _encode(self, value, size, what):
        if isinstance(value, int) and not isinstance(value, bool) and size in _INT_SIZES:
            try:
                return value.to_bytes(size, sys.byteorder, signed=value < 0)
            except OverflowError:
                raise ValueError("%s %d does not fit in %d bytes" % (what, value, size))
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
            if len(raw) != size:
                raise ValueError("%s must be %d bytes, not %d" % (what, size, len(raw)))
            return raw
        raise TypeError("%s must be %s bytes of length %d, not %r" % (
            what, "an int or" if size in _INT_SIZES else "", size, value))

    def _decode(self, raw, size):
        return int.from_bytes(raw, sys.byteorder) if size in _INT_SIZES else bytes(raw)

    def _key_buf(self, key):
        return ctypes.create_string_buffer(self._encode(key, self.key_size, "key"), self.key_size)

    def _value_size_in_buffer(self):
        return self.value_size

    def _value_buf(self, value):
        raw = self._encode(value, self.value_size, "value")
        return ctypes.create_string_buffer(raw, len(raw))

    def _value_from(self, buf):
        return self._decode(buf.raw, self.value_size)

    def _elem_attr(self, key_buf, value_buf=None, flags=0, next_key=False):
        attr = k.bpf_attr_map_elem(map_fd=self.fileno(), key=ctypes.addressof(key_buf) if key_buf else 0,
                                   flags=flags)
        if value_buf is not None:
            if next_key:
                attr.next_key = ctypes.addressof(value_buf)
            else:
                attr.value = ctypes.addressof(value_buf)
        return attr

    def _call(self, cmd, key):
        return "bpf(%s, %s, key %r)" % (_CMD_NAMES[cmd], self._what.strip(), key)

    # raw operations
    def lookup(self, key, default=None):
        """The value at ``key``, or ``default`` if there is none."""
        key_buf = self._key_buf(key)
        value_buf = ctypes.create_string_buffer(self._value_size_in_buffer())
        attr = self._elem_attr(key_buf, value_buf)
        ret, err = _libc.raw_bpf(k.BPF_MAP_LOOKUP_ELEM, attr)
        if ret < 0:
            if err == errno.ENOENT:
                return default
            raise syscall_error(err, self._call(k.BPF_MAP_LOOKUP_ELEM, key), self._hint(err))
        return self._value_from(value_buf)

    def update(self, key, value, flags=k.BPF_ANY):
        """Set ``key`` to ``value``; ``flags`` BPF_ANY, BPF_NOEXIST or BPF_EXIST."""
        key_buf, value_buf = self._key_buf(key), self._value_buf(value)
        attr = self._elem_attr(key_buf, value_buf, flags)
        _sys_bpf(k.BPF_MAP_UPDATE_ELEM, attr, self._call(k.BPF_MAP_UPDATE_ELEM, key),
                 self._hints())

    def delete(self, key):
        """Remove ``key``; KeyError if it is not there."""
        attr = self._elem_attr(self._key_buf(key))
        ret, err = _libc.raw_bpf(k.BPF_MAP_DELETE_ELEM, attr)
        if ret < 0:
            if err == errno.ENOENT:
                raise KeyError(key)
            raise syscall_error(err, self._call(k.BPF_MAP_DELETE_ELEM, key), self._hint(err))

    def next_key(self, key=None):
        """The key after ``key`` (the first one for None), or None at the end."""
        key_buf = None if key is None else self._key_buf(key)
        next_buf = ctypes.create_string_buffer(self.key_size)
        attr = self._elem_attr(key_buf, next_buf, next_key=True)
        ret, err = _libc.raw_bpf(k.BPF_MAP_GET_NEXT_KEY, attr)
        if ret < 0:
            if err == errno.ENOENT:
                return None
            raise syscall_error(err, self._call(k.BPF_MAP_GET_NEXT_KEY, key), self._hint(err))
        return self._decode(next_buf.raw, self.key_size)

    def _hints(self):
        return {errno.E2BIG: "the map is full, or the key is beyond max_entries %d" % self.max_entries,
                errno.ENOSPC: "the map is full (max_entries %d)" % self.max_entries,
                errno.EEXIST: "the key exists (BPF_NOEXIST)",
                errno.ENOENT: "no such key (BPF_EXIST)",
                errno.EINVAL: "this map type does not allow the operation or flags",
                errno.EPERM: "the map is read-only or write-only from user space "
                             "(BPF_F_RDONLY, BPF_F_WRONLY, or frozen); no capability helps"}

    def _hint(self, err):
        return self._hints().get(err)

    # the mapping protocol
    def __getitem__(self, key):
        marker = object()
        value = self.lookup(key, marker)
        if value is marker:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value):
        self.update(key, value)

    def __delitem__(self, key):
        self.delete(key)

    def __iter__(self):
        key, seen = self.next_key(), 0
        while key is not None and seen < self.max_entries:
            yield key
            seen += 1
            key = self.next_key(key)

    def __len__(self):
        return sum(1 for _ in self)

    def __contains__(self, key):
        marker = object()
        return self.lookup(key, marker) is not marker

    __hash__ = object.__hash__     # identity: a map is a kernel object, not a value

    def __eq__(self, other):
        return self is other

    # kernel information
    def info(self):
        """BPF_OBJ_GET_INFO_BY_FD: the map's id, type, name and sizes."""
        raw = _info(self.fileno(), k.bpf_map_info(), "bpf(BPF_OBJ_GET_INFO_BY_FD, %s)" % self._what)
        return MapInfo(raw.id, raw.type, raw.name.decode(), raw.key_size, raw.value_size,
                       raw.max_entries, raw.map_flags)

    @property
    def id(self):
        if self._id is None:
            self._id = self.info().id
        return self._id


class ArrayMap(Map):
    """BPF_MAP_TYPE_ARRAY: ``max_entries`` values indexed 0..max_entries-1,
    all present from the start (zero); elements cannot be deleted."""

    _type_name = "ARRAY"

    def __init__(self, max_entries, value_size=8, flags=0, name=None):
        super().__init__(k.BPF_MAP_TYPE_ARRAY, _U32_SIZE, value_size, max_entries, flags, name)

    def _hints(self):
        hints = super()._hints()
        hints[errno.EINVAL] = "array elements cannot be deleted (set them to zero instead)"
        hints[errno.E2BIG] = "key is beyond max_entries %d" % self.max_entries
        return hints


class PerCpuArrayMap(Map):
    """BPF_MAP_TYPE_PERCPU_ARRAY: each element has one value per possible CPU.

    Reading gives a list (one entry per CPU); writing takes such a list or
    one value for every CPU.  ``sum(key)`` adds an int-sized element up.
    """

    _type_name = "PERCPU_ARRAY"

    def __init__(self, max_entries, value_size=8, flags=0, name=None):
        super().__init__(k.BPF_MAP_TYPE_PERCPU_ARRAY, _U32_SIZE, value_size, max_entries, flags, name)
        self.cpus = possible_cpus()

    def _stride(self):
        return -(-self.value_size // _PERCPU_VALUE_ALIGN) * _PERCPU_VALUE_ALIGN

    def _value_size_in_buffer(self):
        return self._stride() * self.cpus

    def _value_buf(self, value):
        values = list(value) if isinstance(value, (list, tuple)) else [value] * self.cpus
        if len(values) != self.cpus:
            raise ValueError("need %d per-CPU values, not %d" % (self.cpus, len(values)))
        stride = self._stride()
        raw = b"".join(self._encode(v, self.value_size, "value").ljust(stride, b"\0") for v in values)
        return ctypes.create_string_buffer(raw, len(raw))

    def _value_from(self, buf):
        stride, raw = self._stride(), buf.raw
        return [self._decode(raw[i * stride: i * stride + self.value_size], self.value_size)
                for i in range(self.cpus)]

    def sum(self, key):
        return sum(self[key])

    def _hints(self):
        hints = super()._hints()
        hints[errno.EINVAL] = "array elements cannot be deleted (set them to zero instead)"
        hints[errno.E2BIG] = "key is beyond max_entries %d" % self.max_entries
        return hints


class HashMap(Map):
    """BPF_MAP_TYPE_HASH: up to ``max_entries`` keys of ``key_size`` bytes."""

    _type_name = "HASH"

    def __init__(self, key_size, value_size, max_entries, flags=0, name=None):
        super().__init__(k.BPF_MAP_TYPE_HASH, key_size, value_size, max_entries, flags, name)

    def _hints(self):
        hints = super()._hints()
        hints[errno.E2BIG] = "the map is full (max_entries %d)" % self.max_entries
        return hints


class XskMap(Map):
    """BPF_MAP_TYPE_XSKMAP: queue index -> AF_XDP socket, for bpf_redirect_map.

    ``xskmap[queue] = sock`` takes an AF_XDP socket (any object with
    ``fileno()``) or its fd; the kernel keeps its own reference to the
    socket.  The kernel cannot be asked what a slot holds (lookup from user
    space is EOPNOTSUPP), so reading, ``in``, ``len`` and iteration report the
    sockets set through this object; ``del xskmap[queue]`` empties the slot
    in the kernel whoever filled it.
    """

    _type_name = "XSKMAP"

    def __init__(self, max_entries, name=None):
        super().__init__(k.BPF_MAP_TYPE_XSKMAP, _U32_SIZE, _U32_SIZE, max_entries, 0, name)
        self._sockets = {}

    def _hints(self):
        hints = super()._hints()
        hints.update({
            errno.ENOTSOCK: "the value must be an AF_XDP socket's fd, and this fd is not a socket",
            errno.EOPNOTSUPP: "the value must be an AF_XDP socket, and this socket is of another family",
            errno.EBADF: "the value is not an open fd",
            errno.E2BIG: "queue index is beyond max_entries %d" % self.max_entries,
            errno.EINVAL: "queue index is beyond max_entries %d" % self.max_entries,
        })
        return hints

    def __setitem__(self, queue, sock):
        fd = _fd_of(sock, "an XSKMAP value")
        self.update(queue, fd)
        self._sockets[queue] = sock

    def __getitem__(self, queue):
        return self._sockets[queue]

    def __delitem__(self, queue):
        attr = self._elem_attr(self._key_buf(queue))
        _sys_bpf(k.BPF_MAP_DELETE_ELEM, attr, self._call(k.BPF_MAP_DELETE_ELEM, queue), self._hints())
        self._sockets.pop(queue, None)

    def __iter__(self):
        return iter(list(self._sockets))

    def __len__(self):
        return len(self._sockets)

    def __contains__(self, queue):
        return queue in self._sockets

    def close(self):
        self._sockets = {}
        super().close()


# -- programs --------------------------------------------------------------------------

def _instructions(program):
    if isinstance(program, asm.Program):
        return program.assemble()
    if isinstance(program, (bytes, bytearray, memoryview)):
        return bytes(program)
    return asm.Program(program).assemble()


def _load_once(attr, log_size, log_level):
    """One BPF_PROG_LOAD: (fd or -1, errno, log text, log size the kernel wanted)."""
    log = ctypes.create_string_buffer(log_size) if log_size else None
    attr.log_level = log_level
    attr.log_size = log_size
    attr.log_buf = ctypes.addressof(log) if log is not None else 0
    attr.log_true_size = 0
    ret, err = _libc.raw_bpf(k.BPF_PROG_LOAD, attr)
    text = log.value.decode(errors="replace") if log is not None else ""
    return ret, err, text, attr.log_true_size


def load(program, name=None, prog_type=k.BPF_PROG_TYPE_XDP, license=DEFAULT_LICENSE,
         log_level=0, flags=0, expected_attach_type=0):
    """BPF_PROG_LOAD: load ``program`` (an asm.Program, a list of
    instructions, or assembled bytes) and return a :class:`Prog`.

    With ``log_level`` 0 the first try asks for no log (fast, and no ENOSPC
    for a long one); if the verifier refuses, pyxsk loads again with
    BPF_LOG_LEVEL1 to get its reasons, growing the buffer while the kernel
    answers ENOSPC, and raises VerifierError carrying the log.  With
    ``log_level`` > 0 the log of a successful load is kept as ``prog.log``.
    """
    insns = _instructions(program)      # AsmError here, before the kernel sees anything
    lic = ctypes.create_string_buffer(license.encode())
    insn_buf = ctypes.create_string_buffer(insns, len(insns))
    attr = k.bpf_attr_prog_load(
        prog_type=prog_type, insn_cnt=len(insns) // asm.INSN_SIZE, insns=ctypes.addressof(insn_buf),
        license=ctypes.addressof(lic), prog_flags=flags, prog_name=_obj_name(name, "program"),
        expected_attach_type=expected_attach_type)
    call = "bpf(BPF_PROG_LOAD, %r, %d instructions)" % (name or "", attr.insn_cnt)

    log_size = LOG_START_SIZE if log_level else 0
    ret, err, log, wanted = _load_once(attr, log_size, log_level)
    if ret < 0 and err == errno.EPERM:
        ret = _sys_bpf_prog_load_eperm(attr, call)
        err, log = 0, ""
    if ret < 0:
        ret, err, log = _load_with_log(attr, err, log, log_level or k.BPF_LOG_LEVEL1, wanted)
    if ret < 0:
        raise syscall_error(err, call, _load_hint(err, log), cls=VerifierError, log=log)
    return Prog(ret, prog_type, log if log_level else "")


def _sys_bpf_prog_load_eperm(attr, call):
    """The memlock/capability path of a load refused with EPERM."""
    attr.log_level, attr.log_size, attr.log_buf = 0, 0, 0
    kind = "an XDP program" if attr.prog_type == k.BPF_PROG_TYPE_XDP else \
        "a BPF program (type %d)" % attr.prog_type
    return _sys_bpf(k.BPF_PROG_LOAD, attr, call,
                    needs=_needs_bpf("loading " + kind, attr.prog_type in _NET_ADMIN_PROGS))


def _load_with_log(attr, err, log, log_level, wanted):
    """Load again with a log until the log fits; (fd or -1, errno, log)."""
    size = max(LOG_START_SIZE, wanted)
    ret = -1
    while True:
        ret, err, log, wanted = _load_once(attr, size, log_level)
        if ret >= 0 or err != errno.ENOSPC or size >= LOG_MAX_SIZE:
            return ret, err, log
        size = min(LOG_MAX_SIZE, max(size * 2, wanted))


def _load_hint(err, log):
    if err == errno.ENOSPC:
        return "the verifier log did not fit even in %d bytes" % LOG_MAX_SIZE
    if err == errno.E2BIG:
        return "too many instructions"
    if log:
        last = [line for line in log.strip().splitlines() if line.strip()]
        # the verifier's last words before its statistics are the reason
        reasons = [line for line in last if not line.startswith(("processed ", "verification time"))]
        return "verifier: %s" % (reasons[-1] if reasons else last[-1])
    return "the verifier refused the program"


class Prog(_FdObject):
    """A loaded BPF program: ``fd``, ``id``, ``tag`` (hex), ``name``, ``type``,
    ``test_run()``, and ``log`` (the verifier's, if a log level was asked for)."""

    _what = "program"

    def __init__(self, fd, prog_type, log=""):
        super().__init__(fd)
        self.type = prog_type
        self.log = log
        try:
            info = self.info()
        except BaseException:
            self.close()
            raise
        self.id, self.tag, self.name = info.id, info.tag, info.name
        self._what = "program %s" % (self.name or self.id)

    def info(self):
        """BPF_OBJ_GET_INFO_BY_FD: id, type, name, tag, run statistics, map ids."""
        raw = _info(self.fileno(), k.bpf_prog_info(), "bpf(BPF_OBJ_GET_INFO_BY_FD, %s)" % self._what)
        return ProgInfo(raw.id, raw.type, raw.name.decode(), bytes(raw.tag).hex(),
                        raw.run_cnt, raw.run_time_ns, raw.nr_map_ids)

    def _state(self):
        return " id=%d name=%r tag=%s" % (self.id, self.name, self.tag)

    def test_run(self, frame, repeat=1, linear_size=None):
        """BPF_PROG_TEST_RUN: run the program ``repeat`` times on ``frame``.

        The kernel builds an xdp_buff around a copy of ``frame`` (at least
        ETH_HLEN = 14 bytes, at most about a page in the linear part) and
        returns the program's action, the frame as the program left it, and
        the mean duration.

        ``linear_size`` puts only the first ``linear_size`` bytes (0 or more)
        in the linear part the program reads through data/data_end and the
        rest in a fragment, as in a multi-buffer frame (6.18 does this for
        any XDP program; older kernels refuse, or want the program loaded
        with BPF_F_XDP_HAS_FRAGS).  That is how a program's bounds checks
        meet frames shorter than an Ethernet header, which the kernel
        otherwise never hands to XDP.
        """
        data = bytes(frame)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat < (1 << 32):
            raise ConfigError("repeat must be 1..2**32-1, not %r" % (repeat,))
        if self.type == k.BPF_PROG_TYPE_XDP and len(data) < ETH_HLEN:
            raise ConfigError("BPF_PROG_TEST_RUN needs an XDP frame of at least %d bytes "
                              "(an Ethernet header), not %d; see linear_size" % (ETH_HLEN, len(data)))
        ctx_in = ctx_out = None
        if linear_size is not None:
            if isinstance(linear_size, bool) or not isinstance(linear_size, int) \
                    or not 0 <= linear_size <= len(data):
                raise ConfigError("linear_size must be 0..%d, not %r" % (len(data), linear_size))
            ctx_in, ctx_out = k.xdp_md(data=0, data_end=linear_size), k.xdp_md()
        in_buf = ctypes.create_string_buffer(data, len(data))
        out_size = len(data) + _libc.page_size()      # room for bpf_xdp_adjust_tail growth
        call = "bpf(BPF_PROG_TEST_RUN, %s, %d-byte frame)" % (self._what, len(data))
        hints = {errno.EINVAL: "frame too long for one page, or this kernel does not take "
                               "linear_size (or wants the program loaded with BPF_F_XDP_HAS_FRAGS)"}
        for _ in range(2):
            out_buf = ctypes.create_string_buffer(out_size)
            attr = k.bpf_attr_test(prog_fd=self.fileno(), data_size_in=len(data), data_size_out=out_size,
                                   data_in=ctypes.addressof(in_buf), data_out=ctypes.addressof(out_buf),
                                   repeat=repeat)
            if ctx_in is not None:
                attr.ctx_in, attr.ctx_size_in = ctypes.addressof(ctx_in), ctypes.sizeof(ctx_in)
                attr.ctx_out, attr.ctx_size_out = ctypes.addressof(ctx_out), ctypes.sizeof(ctx_out)
            ret, err = _libc.raw_bpf(k.BPF_PROG_TEST_RUN, attr)
            if ret >= 0:
                break
            if err != errno.ENOSPC or attr.data_size_out <= out_size:
                raise syscall_error(err, call, hints.get(err))
            out_size = attr.data_size_out
        action = attr.retval
        if self.type == k.BPF_PROG_TYPE_XDP and action in XdpAction._value2member_map_:
            action = XdpAction(action)
        return TestRun(action, out_buf.raw[:attr.data_size_out], attr.duration, attr.retval)


_U32_MAX = (1 << 32) - 1


def prog_by_id(prog_id):
    """The loaded program with id ``prog_id`` (BPF_PROG_GET_FD_BY_ID, then
    BPF_OBJ_GET_INFO_BY_FD for its type), as a :class:`Prog` holding a new fd
    of its own: close it when done.  The kernel looks programs up by id only
    for CAP_SYS_ADMIN; an id no program has (any more) is FileNotFoundError."""
    if isinstance(prog_id, bool) or not isinstance(prog_id, int) or not 0 < prog_id <= _U32_MAX:
        raise ConfigError("a program id is an int from 1 to %d, not %r" % (_U32_MAX, prog_id))
    fd = _sys_bpf(k.BPF_PROG_GET_FD_BY_ID, k.bpf_attr_get_id(prog_id=prog_id),
                  "bpf(BPF_PROG_GET_FD_BY_ID, %d)" % prog_id,
                  {errno.ENOENT: "no loaded program has id %d" % prog_id},
                  ("looking programs up by id", ("CAP_SYS_ADMIN",), None))
    try:
        info = _info(fd, k.bpf_prog_info(), "bpf(BPF_OBJ_GET_INFO_BY_FD, program id %d)" % prog_id)
    except BaseException:
        _libc.close(fd, call="close(program id %d)" % prog_id)
        raise
    return Prog(fd, info.type)


# -- XDP links ----------------------------------------------------------------------------

def _ifindex(interface):
    if isinstance(interface, str):
        return _libc.if_nametoindex(interface)
    if isinstance(interface, bool) or not isinstance(interface, int) or interface <= 0:
        raise ConfigError("interface must be a name or a positive ifindex, not %r" % (interface,))
    return interface


_MODE_NAMES = {_ifla.XDP_FLAGS_SKB_MODE: "skb", _ifla.XDP_FLAGS_DRV_MODE: "drv", _ifla.XDP_FLAGS_HW_MODE: "hw", 0: "auto"}


def link_xdp(prog, interface, flags):
    """BPF_LINK_CREATE with attach_type BPF_XDP: attach ``prog`` to
    ``interface`` (name or ifindex) and return the :class:`Link` that holds it.

    ``flags`` is one mode: XDP_FLAGS_SKB_MODE (generic), XDP_FLAGS_DRV_MODE
    (native) or XDP_FLAGS_HW_MODE, or 0 to let the kernel choose (veth then
    picks native).  Closing the link detaches the program; a link cannot
    replace a program attached through netlink (EBUSY/EEXIST).
    """
    if flags & ~_ifla.XDP_FLAGS_MODES or flags not in _MODE_NAMES:
        raise ConfigError("XDP link flags must be one of XDP_FLAGS_SKB_MODE, XDP_FLAGS_DRV_MODE, "
                          "XDP_FLAGS_HW_MODE or 0, not %#x" % flags)
    ifindex = _ifindex(interface)
    prog_fd = _fd_of(prog, "prog")
    attr = k.bpf_attr_link_create(prog_fd=prog_fd, target_ifindex=ifindex, attach_type=k.BPF_XDP,
                                  flags=flags)
    call = "bpf(BPF_LINK_CREATE, BPF_XDP, ifindex %d, %s mode)" % (ifindex, _MODE_NAMES[flags])
    hints = {
        errno.EBUSY: "an XDP program is already attached to this interface (by netlink or "
                     "another link) in this mode; detach it first",
        errno.EEXIST: "an XDP program is attached in the other mode (native and generic "
                      "cannot be active at the same time)",
        errno.EINVAL: "no interface has this index, or the program is not an XDP program",
        errno.ENODEV: "no interface has this index in this network namespace",
        errno.EOPNOTSUPP: "the driver does not support this XDP mode",
        errno.ENOSPC: "veth: native XDP needs the peer's tx queues <= this end's rx queues",
        errno.ERANGE: "the MTU is too large for native XDP on this device",
    }
    fd = _sys_bpf(k.BPF_LINK_CREATE, attr, call, hints)
    return Link(fd, ifindex, _MODE_NAMES[flags])


class Link(_FdObject):
    """A BPF link holding an XDP program on an interface.

    ``close()`` drops the link's fd and with it the attachment (unless the
    link was pinned); ``detach()`` detaches while keeping the fd;
    ``update(prog)`` swaps the program atomically.  ``info()``, ``ifindex``
    and ``prog_id`` ask the kernel (ifindex is 0 once detached).
    """

    _what = "XDP link"

    def __init__(self, fd, ifindex=None, mode=None):
        super().__init__(fd)
        self._requested_ifindex = ifindex
        self.mode = mode     # "skb", "drv", "hw", or "auto" (the kernel chose)

    def info(self):
        raw = _info(self.fileno(), k.bpf_link_info(), "bpf(BPF_OBJ_GET_INFO_BY_FD, %s)" % self._what)
        ifindex = raw.xdp.ifindex if raw.type == k.BPF_LINK_TYPE_XDP else None
        return LinkInfo(raw.id, raw.type, raw.prog_id, ifindex)

    @property
    def id(self):
        return self.info().id

    @property
    def ifindex(self):
        return self.info().ifindex

    @property
    def prog_id(self):
        return self.info().prog_id

    def update(self, prog):
        """BPF_LINK_UPDATE: run ``prog`` instead, without a gap."""
        attr = k.bpf_attr_link_update(link_fd=self.fileno(), new_prog_fd=_fd_of(prog, "prog"))
        _sys_bpf(k.BPF_LINK_UPDATE, attr, "bpf(BPF_LINK_UPDATE, %s)" % self._what,
                 {errno.ENOLINK: "the link was detached", errno.EINVAL: "not an XDP program"})

    def detach(self):
        """BPF_LINK_DETACH: take the program off the interface; the fd stays open."""
        attr = k.bpf_attr_link_detach(link_fd=self.fileno())
        _sys_bpf(k.BPF_LINK_DETACH, attr, "bpf(BPF_LINK_DETACH, %s)" % self._what)

    def _state(self):
        try:
            info = self.info()
        except OSError:
            return ""
        return " id=%d prog_id=%d ifindex=%d" % (info.id, info.prog_id, info.ifindex or 0)
