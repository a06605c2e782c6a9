"""BPF maps as Python mappings: ``map[key] = value``, ``del``, ``in``,
iteration (BPF_MAP_GET_NEXT_KEY), with keys and values packed to the sizes
the map was created with.  ARRAY, PERCPU_ARRAY (a list per key, one value
per possible CPU), HASH and XSKMAP (values are AF_XDP sockets or fds).

For the type checker a map is a ``MutableMapping[K, V]``: int keys and values
where their size is 1, 2, 4 or 8 bytes (given as a literal), else
``Union[int, bytes]``; a per-CPU map's values are lists of those, an XSKMAP's
sockets (objects with ``fileno()``) or fds."""

from __future__ import annotations

import ctypes
import errno
import sys
from typing import (Any, Dict, Iterable, Iterator, List, Literal, MutableMapping,
                    NamedTuple, Optional, Protocol, Tuple, TypeVar, Union, cast, overload)

from .. import _libc
from ..errors import ConfigError, syscall_error
from ..uapi import bpf as k
from .syscall import (_CMD_NAMES, _FdObject, _NET_ADMIN_MAPS, _U32_SIZE, FdLike, _fd_of, _info, _needs_bpf,
                      _obj_name, _sys_bpf)


_PERCPU_VALUE_ALIGN = 8              # each CPU's copy of a per-CPU value is 8-byte aligned
_INT_SIZES = (1, 2, 4, 8)
_POSSIBLE_CPUS = "/sys/devices/system/cpu/possible"
_ITEMS = object()                    # update() without a value: MutableMapping.update

_K = TypeVar("_K")
_V = TypeVar("_V")
_V_co = TypeVar("_V_co", covariant=True)


class _KeysAndGetItem(Protocol[_K, _V_co]):
    """What MutableMapping.update takes besides pairs: ``keys()`` and ``[key]``."""

    def keys(self) -> Iterable[_K]: ...

    def __getitem__(self, key: _K, /) -> _V_co: ...
_T = TypeVar("_T")
# the sizes whose keys and values read back as ints
IntSize = Literal[1, 2, 4, 8]
# a key or value whose size is known only at run time: an int for 1, 2, 4 or 8 bytes, else bytes
Scalar = Union[int, bytes]


class MapInfo(NamedTuple):
    """BPF_OBJ_GET_INFO_BY_FD's answer for a map."""
    id: int
    type: int
    name: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int


def possible_cpus() -> int:
    """How many CPUs the kernel may ever bring up (per-CPU maps hold one value each)."""
    with open(_POSSIBLE_CPUS) as f:
        text = f.read().strip()
    count = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


class Map(_FdObject, MutableMapping[_K, _V]):
    """A BPF map as a mutable mapping.

    Keys and values whose size is 1, 2, 4 or 8 bytes read back as ints (host
    byte order, as the program sees them) and may be given as ints or
    bytes; other sizes are bytes of exactly that size.  A missing key raises
    KeyError.  ``update(key, value, flags)`` exposes BPF_NOEXIST/BPF_EXIST.

    ``K`` and ``V`` are the types keys and values read back as (see the
    module docstring); the subclasses infer them from the sizes.
    """

    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    name: str
    _type_name = "map"

    def __init__(self, map_type: int, key_size: int, value_size: int, max_entries: int,
                 flags: int = 0, name: Optional[str] = None) -> None:
        # RINGBUF and a few others take zero key and value sizes; the kernel checks the rest
        for what, value, least in (("key_size", key_size, 0), ("value_size", value_size, 0),
                                   ("max_entries", max_entries, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError("%s must be an int of at least %d, not %r" % (what, least, value))
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
        self._id: Optional[int] = None

    def _state(self) -> str:
        name = " %r" % self.name if self.name else ""
        return "%s max_entries=%d" % (name, self.max_entries)

    # key and value encoding
    def _encode(self, value: object, size: int, what: str) -> bytes:
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

    # Any: an int or bytes by the size, which the map's K and V state (the
    # subclasses' __init__ overloads); a cast would cost a call per key and value
    def _decode(self, raw: bytes, size: int) -> Any:
        return int.from_bytes(raw, sys.byteorder) if size in _INT_SIZES else bytes(raw)

    def _key_buf(self, key: object) -> ctypes.Array[ctypes.c_char]:
        return ctypes.create_string_buffer(self._encode(key, self.key_size, "key"), self.key_size)

    def _value_size_in_buffer(self) -> int:
        return self.value_size

    def _value_buf(self, value: object) -> ctypes.Array[ctypes.c_char]:
        raw = self._encode(value, self.value_size, "value")
        return ctypes.create_string_buffer(raw, len(raw))

    def _value_from(self, buf: ctypes.Array[ctypes.c_char]) -> _V:
        value: _V = self._decode(buf.raw, self.value_size)
        return value

    def _elem_attr(self, key_buf: Optional[ctypes.Array[ctypes.c_char]],
                   value_buf: Optional[ctypes.Array[ctypes.c_char]] = None, flags: int = 0,
                   next_key: bool = False) -> k.bpf_attr_map_elem:
        attr = k.bpf_attr_map_elem(map_fd=self.fileno(), key=ctypes.addressof(key_buf) if key_buf else 0,
                                   flags=flags)
        if value_buf is not None:
            if next_key:
                attr.next_key = ctypes.addressof(value_buf)
            else:
                attr.value = ctypes.addressof(value_buf)
        return attr

    def _call(self, cmd: int, key: object) -> str:
        return "bpf(%s, %s, key %r)" % (_CMD_NAMES[cmd], self._what.strip(), key)

    # raw operations
    @overload
    def lookup(self, key: _K) -> Optional[_V]: ...
    @overload
    def lookup(self, key: _K, default: _T) -> Union[_V, _T]: ...

    def lookup(self, key: _K, default: object = None) -> object:
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

    # MutableMapping.update's forms first, in its order (mypy checks the override so)
    @overload
    def update(self, other: _KeysAndGetItem[_K, _V], /, **items: _V) -> None: ...
    @overload
    def update(self, other: Iterable[Tuple[_K, _V]] = ..., /, **items: _V) -> None: ...
    @overload
    def update(self, key: _K, /, value: _V, flags: int = k.BPF_ANY) -> None: ...

    # flags: Any, as MutableMapping's **items may hold any name (callers see the overloads)
    def update(self, key: object = _ITEMS, /, value: object = _ITEMS, flags: Any = k.BPF_ANY,
               **items: _V) -> None:
        """Set ``key`` to ``value``; ``flags`` BPF_ANY, BPF_NOEXIST or BPF_EXIST.

        Without a value it is MutableMapping.update: ``update(mapping)`` or
        ``update(pairs)`` sets each item as ``map[key] = value`` does (BPF_ANY)."""
        if value is _ITEMS:
            if flags != k.BPF_ANY:
                raise TypeError("flags go with update(key, value, flags)")
            if key is _ITEMS:
                super().update(**items)
            else:       # cast: the mixin reads it as a mapping or pairs (TypeError otherwise)
                super().update(cast("Iterable[Tuple[_K, _V]]", key), **items)
            return
        if items:
            raise TypeError("update(key, value, flags) takes no other keywords, not %s"
                            % ", ".join(items))
        key_buf, value_buf = self._key_buf(key), self._value_buf(value)
        attr = self._elem_attr(key_buf, value_buf, flags)
        _sys_bpf(k.BPF_MAP_UPDATE_ELEM, attr, self._call(k.BPF_MAP_UPDATE_ELEM, key),
                 self._hints())

    def delete(self, key: _K) -> None:
        """Remove ``key``; KeyError if it is not there."""
        attr = self._elem_attr(self._key_buf(key))
        ret, err = _libc.raw_bpf(k.BPF_MAP_DELETE_ELEM, attr)
        if ret < 0:
            if err == errno.ENOENT:
                raise KeyError(key)
            raise syscall_error(err, self._call(k.BPF_MAP_DELETE_ELEM, key), self._hint(err))

    def next_key(self, key: Optional[_K] = None) -> Optional[_K]:
        """The key after ``key`` (the first one for None), or None at the end."""
        key_buf = None if key is None else self._key_buf(key)
        next_buf = ctypes.create_string_buffer(self.key_size)
        attr = self._elem_attr(key_buf, next_buf, next_key=True)
        ret, err = _libc.raw_bpf(k.BPF_MAP_GET_NEXT_KEY, attr)
        if ret < 0:
            if err == errno.ENOENT:
                return None
            raise syscall_error(err, self._call(k.BPF_MAP_GET_NEXT_KEY, key), self._hint(err))
        found: _K = self._decode(next_buf.raw, self.key_size)
        return found

    def _hints(self) -> Dict[int, str]:
        return {errno.E2BIG: "the map is full, or the key is beyond max_entries %d" % self.max_entries,
                errno.ENOSPC: "the map is full (max_entries %d)" % self.max_entries,
                errno.EEXIST: "the key exists (BPF_NOEXIST)",
                errno.ENOENT: "no such key (BPF_EXIST)",
                errno.EINVAL: "this map type does not allow the operation or flags",
                errno.EPERM: "the map is read-only or write-only from user space "
                             "(BPF_F_RDONLY, BPF_F_WRONLY, or frozen); no capability helps"}

    def _hint(self, err: int) -> Optional[str]:
        return self._hints().get(err)

    # the mapping protocol
    def __getitem__(self, key: _K) -> _V:
        value = self.lookup(key)      # None only when absent: no value decodes to None
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: _K, value: _V) -> None:
        self.update(key, value)

    def __delitem__(self, key: _K) -> None:
        self.delete(key)

    def __iter__(self) -> Iterator[_K]:
        key, seen = self.next_key(), 0
        while key is not None and seen < self.max_entries:
            yield key
            seen += 1
            key = self.next_key(key)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        marker = object()
        # cast: any object, as Container says; encoding the key checks it (TypeError)
        return self.lookup(cast(_K, key), marker) is not marker

    __hash__ = object.__hash__     # identity: a map is a kernel object, not a value

    def __eq__(self, other: object) -> bool:
        return self is other

    # kernel information
    def info(self) -> MapInfo:
        """BPF_OBJ_GET_INFO_BY_FD: the map's id, type, name and sizes."""
        raw = _info(self.fileno(), k.bpf_map_info(), "bpf(BPF_OBJ_GET_INFO_BY_FD, %s)" % self._what)
        return MapInfo(raw.id, raw.type, raw.name.decode(), raw.key_size, raw.value_size,
                       raw.max_entries, raw.map_flags)

    @property
    def id(self) -> int:
        if self._id is None:
            self._id = self.info().id
        return self._id


class ArrayMap(Map[int, _V]):
    """BPF_MAP_TYPE_ARRAY: ``max_entries`` values indexed 0..max_entries-1,
    all present from the start (zero); elements cannot be deleted."""

    _type_name = "ARRAY"

    @overload
    def __init__(self: ArrayMap[int], max_entries: int, value_size: IntSize = 8, flags: int = 0,
                 name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: ArrayMap[Scalar], max_entries: int, value_size: int, flags: int = 0,
                 name: Optional[str] = None) -> None: ...

    def __init__(self, max_entries: int, value_size: int = 8, flags: int = 0,
                 name: Optional[str] = None) -> None:
        super().__init__(k.BPF_MAP_TYPE_ARRAY, _U32_SIZE, value_size, max_entries, flags, name)

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints[errno.EINVAL] = "array elements cannot be deleted (set them to zero instead)"
        hints[errno.E2BIG] = "key is beyond max_entries %d" % self.max_entries
        return hints


class PerCpuArrayMap(Map[int, List[_V]]):
    """BPF_MAP_TYPE_PERCPU_ARRAY: each element has one value per possible CPU.

    Reading gives a list (one entry per CPU); writing takes such a list or
    one value for every CPU.  ``sum(key)`` adds an int-sized element up.
    """

    _type_name = "PERCPU_ARRAY"
    cpus: int

    @overload
    def __init__(self: PerCpuArrayMap[int], max_entries: int, value_size: IntSize = 8, flags: int = 0,
                 name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: PerCpuArrayMap[Scalar], max_entries: int, value_size: int, flags: int = 0,
                 name: Optional[str] = None) -> None: ...

    def __init__(self, max_entries: int, value_size: int = 8, flags: int = 0,
                 name: Optional[str] = None) -> None:
        super().__init__(k.BPF_MAP_TYPE_PERCPU_ARRAY, _U32_SIZE, value_size, max_entries, flags, name)
        self.cpus = possible_cpus()

    def _stride(self) -> int:
        return -(-self.value_size // _PERCPU_VALUE_ALIGN) * _PERCPU_VALUE_ALIGN

    def _value_size_in_buffer(self) -> int:
        return self._stride() * self.cpus

    def _value_buf(self, value: object) -> ctypes.Array[ctypes.c_char]:
        values = list(value) if isinstance(value, (list, tuple)) else [value] * self.cpus
        if len(values) != self.cpus:
            raise ValueError("need %d per-CPU values, not %d" % (self.cpus, len(values)))
        stride = self._stride()
        raw = b"".join(self._encode(v, self.value_size, "value").ljust(stride, b"\0") for v in values)
        return ctypes.create_string_buffer(raw, len(raw))

    def _value_from(self, buf: ctypes.Array[ctypes.c_char]) -> List[_V]:
        stride, raw = self._stride(), buf.raw
        return [self._decode(raw[i * stride: i * stride + self.value_size], self.value_size)
                for i in range(self.cpus)]

    def sum(self: PerCpuArrayMap[int], key: int) -> int:
        """The element at ``key`` added up over the CPUs."""
        return sum(self[key])

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints[errno.EINVAL] = "array elements cannot be deleted (set them to zero instead)"
        hints[errno.E2BIG] = "key is beyond max_entries %d" % self.max_entries
        return hints


class HashMap(Map[_K, _V]):
    """BPF_MAP_TYPE_HASH: up to ``max_entries`` keys of ``key_size`` bytes."""

    _type_name = "HASH"

    @overload
    def __init__(self: HashMap[int, int], key_size: IntSize, value_size: IntSize, max_entries: int,
                 flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: HashMap[int, Scalar], key_size: IntSize, value_size: int, max_entries: int,
                 flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: HashMap[Scalar, int], key_size: int, value_size: IntSize, max_entries: int,
                 flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: HashMap[Scalar, Scalar], key_size: int, value_size: int, max_entries: int,
                 flags: int = 0, name: Optional[str] = None) -> None: ...

    def __init__(self, key_size: int, value_size: int, max_entries: int, flags: int = 0,
                 name: Optional[str] = None) -> None:
        super().__init__(k.BPF_MAP_TYPE_HASH, key_size, value_size, max_entries, flags, name)

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints[errno.E2BIG] = "the map is full (max_entries %d)" % self.max_entries
        return hints


class XskMap(Map[int, FdLike]):
    """BPF_MAP_TYPE_XSKMAP: queue index -> AF_XDP socket, for bpf_redirect_map.

    ``xskmap[queue] = sock`` takes an AF_XDP socket (any object with
    ``fileno()``) or its fd; the kernel keeps its own reference to the
    socket.  The kernel cannot be asked what a slot holds (lookup from user
    space is EOPNOTSUPP), so reading, ``in``, ``len`` and iteration report the
    sockets set through this object; ``del xskmap[queue]`` empties the slot
    in the kernel whoever filled it.
    """

    _type_name = "XSKMAP"

    def __init__(self, max_entries: int, name: Optional[str] = None) -> None:
        super().__init__(k.BPF_MAP_TYPE_XSKMAP, _U32_SIZE, _U32_SIZE, max_entries, 0, name)
        self._sockets: Dict[int, FdLike] = {}

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints.update({
            errno.ENOTSOCK: "the value must be an AF_XDP socket's fd, and this fd is not a socket",
            errno.EOPNOTSUPP: "the value must be an AF_XDP socket, and this socket is of another family",
            errno.EBADF: "the value is not an open fd",
            errno.E2BIG: "queue index is beyond max_entries %d" % self.max_entries,
            errno.EINVAL: "queue index is beyond max_entries %d" % self.max_entries,
        })
        return hints

    def __setitem__(self, queue: int, sock: FdLike) -> None:
        fd = _fd_of(sock, "an XSKMAP value")
        self.update(queue, fd)
        self._sockets[queue] = sock

    def __getitem__(self, queue: int) -> FdLike:
        return self._sockets[queue]

    def __delitem__(self, queue: int) -> None:
        attr = self._elem_attr(self._key_buf(queue))
        _sys_bpf(k.BPF_MAP_DELETE_ELEM, attr, self._call(k.BPF_MAP_DELETE_ELEM, queue), self._hints())
        self._sockets.pop(queue, None)

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._sockets))

    def __len__(self) -> int:
        return len(self._sockets)

    def __contains__(self, queue: object) -> bool:
        return queue in self._sockets

    def close(self) -> None:
        self._sockets = {}
        super().close()
