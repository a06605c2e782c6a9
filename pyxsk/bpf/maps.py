"""BPF maps as Python mappings: ``map[key] = value``, ``del``, ``in``,
iteration (BPF_MAP_GET_NEXT_KEY), with keys and values packed to the sizes
the map was created with.

One class per kind an XDP program uses: ARRAY, PERCPU_ARRAY (a list per key,
one value per possible CPU), HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH,
LPM_TRIE (keys are prefixes: ``(prefixlen, data)`` or ``ipaddress``
networks), XSKMAP (values are AF_XDP sockets or fds), DEVMAP and DEVMAP_HASH
(interfaces), CPUMAP (queues towards CPUs), PROG_ARRAY (programs, for tail
calls), ARRAY_OF_MAPS and HASH_OF_MAPS.  Any other kind is a plain
:class:`Map`.

A map comes from its class's constructor, from :func:`create_map` (every
BPF_MAP_CREATE attribute, the class chosen by the type), or is adopted:
:meth:`Map.from_fd`, :meth:`Map.from_pinned` (a bpffs path) and
:func:`map_by_id` give an object of the class registered for the map's type.

For the type checker a map is a ``MutableMapping[K, V]``: int keys and values
where their size is 1, 2, 4 or 8 bytes (given as a literal), else
``Union[int, bytes]``; a per-CPU map's values are lists of those, an XSKMAP's
sockets (objects with ``fileno()``) or fds, and the kinds whose values name
kernel objects (PROG_ARRAY, maps of maps) read back ids."""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import os
import sys
from typing import (Any, ClassVar, Dict, Iterable, Iterator, List, Literal, MutableMapping,
                    NamedTuple, Optional, Protocol, Tuple, Type, TypeVar, Union, cast, overload)

from .. import _libc
from ..errors import ConfigError, syscall_error
from ..uapi import bpf as k
from .syscall import (_CMD_NAMES, _FdObject, _NET_ADMIN_MAPS, _U32_SIZE, FdLike, _fd_of, _info, _needs_bpf,
                      _obj_name, _sys_bpf, obj_get)


_PERCPU_VALUE_ALIGN = 8              # each CPU's copy of a per-CPU value is 8-byte aligned
_INT_SIZES = (1, 2, 4, 8)
_POSSIBLE_CPUS = "/sys/devices/system/cpu/possible"
_ITEMS = object()                    # update() without a value: MutableMapping.update
_U32_MAX = (1 << 32) - 1
_MAP_INODE = "anon_inode:bpf-map"    # what /proc/self/fd/N links to for a map
_OPEN_FLAGS = k.BPF_F_RDONLY | k.BPF_F_WRONLY
_MAPS_OF_MAPS = frozenset((k.BPF_MAP_TYPE_ARRAY_OF_MAPS, k.BPF_MAP_TYPE_HASH_OF_MAPS))
_LPM_HEAD = ctypes.sizeof(k.bpf_lpm_trie_key)     # the u32 prefixlen before the data
_PROG_SLOT_SIZE = ctypes.sizeof(k.bpf_devmap_val)  # a DEVMAP/CPUMAP value with a program
_NO_PROG = 0                         # bpf_prog.fd of a slot without a program (the kernel wants > 0)
_CPUMAP_MAX_QSIZE = 16384            # kernel/bpf/cpumap.c: larger queues are EOVERFLOW

_K = TypeVar("_K")
_V = TypeVar("_V")
_V_co = TypeVar("_V_co", covariant=True)
_M = TypeVar("_M", bound="Map[Any, Any]")


class _KeysAndGetItem(Protocol[_K, _V_co]):
    """What MutableMapping.update takes besides pairs: ``keys()`` and ``[key]``."""

    def keys(self) -> Iterable[_K]: ...

    def __getitem__(self, key: _K, /) -> _V_co: ...
_T = TypeVar("_T")
# the sizes whose keys and values read back as ints
IntSize = Literal[1, 2, 4, 8]
# a key or value whose size is known only at run time: an int for 1, 2, 4 or 8 bytes, else bytes
Scalar = Union[int, bytes]

_TYPE_PREFIX = "BPF_MAP_TYPE_"
_TYPE_NAMES: Dict[int, str] = {}
for _name, _value in vars(k).items():
    if _name.startswith(_TYPE_PREFIX) and not _name.endswith("_DEPRECATED") and isinstance(_value, int):
        _TYPE_NAMES.setdefault(_value, _name[len(_TYPE_PREFIX):])


def type_name(map_type: int) -> str:
    """The kernel's name of a map type without its prefix ("XSKMAP"), or "type N"."""
    return _TYPE_NAMES.get(map_type, "type %d" % map_type)


class MapInfo(NamedTuple):
    """BPF_OBJ_GET_INFO_BY_FD's answer for a map."""
    id: int
    type: int
    name: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int

    @property
    def type_name(self) -> str:
        """The type's kernel name without BPF_MAP_TYPE_ ("XSKMAP")."""
        return type_name(self.type)


def possible_cpus() -> int:
    """How many CPUs the kernel may ever bring up (per-CPU maps hold one value each)."""
    with open(_POSSIBLE_CPUS) as f:
        text = f.read().strip()
    count = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


def _u32(value: object, what: str, least: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= _U32_MAX:
        raise ConfigError("%s must be an int from %d to %d, not %r" % (what, least, _U32_MAX, value))
    return value


def _create_attr(map_type: int, key_size: int, value_size: int, max_entries: int, flags: int,
                 name: Optional[str], inner_map: Optional[FdLike], btf: Optional[FdLike],
                 btf_key_type_id: int, btf_value_type_id: int, map_extra: int,
                 numa_node: Optional[int], ifindex: int) -> k.bpf_attr_map_create:
    """BPF_MAP_CREATE's attr, every field checked before the kernel sees it."""
    _u32(map_type, "map_type")
    # RINGBUF and a few others take zero key and value sizes; the kernel checks the rest
    _u32(key_size, "key_size")
    _u32(value_size, "value_size")
    _u32(max_entries, "max_entries", 1)
    _u32(flags, "flags")
    for what, value in (("btf_key_type_id", btf_key_type_id), ("btf_value_type_id", btf_value_type_id),
                        ("ifindex", ifindex)):
        _u32(value, what)
    if isinstance(map_extra, bool) or not isinstance(map_extra, int) or not 0 <= map_extra < (1 << 64):
        raise ConfigError("map_extra must be an int from 0 to 2**64-1, not %r" % (map_extra,))
    if btf is None and (btf_key_type_id or btf_value_type_id):
        raise ConfigError("btf_key_type_id and btf_value_type_id are ids in a BTF object: pass it as btf=")
    if map_type in _MAPS_OF_MAPS and inner_map is None:
        raise ConfigError("%s needs inner_map=: a map of the kind it will hold (the kernel "
                          "copies its type, sizes and flags)" % type_name(map_type))
    attr = k.bpf_attr_map_create(map_type=map_type, key_size=key_size, value_size=value_size,
                                 max_entries=max_entries, map_flags=flags,
                                 map_name=_obj_name(name, "map"), map_ifindex=ifindex,
                                 btf_key_type_id=btf_key_type_id, btf_value_type_id=btf_value_type_id,
                                 map_extra=map_extra)
    if inner_map is not None:
        attr.inner_map_fd = _fd_of(inner_map, "inner_map")
    if btf is not None:
        attr.btf_fd = _fd_of(btf, "btf")
    if numa_node is not None:       # the kernel reads numa_node only with this flag
        attr.numa_node = _u32(numa_node, "numa_node")
        attr.map_flags |= k.BPF_F_NUMA_NODE
    return attr


def _check_is_map(fd: int, what: str) -> None:
    """Refuse an fd that is not a BPF map (OBJ_GET_INFO would fill a map's
    info from a program's or a link's without complaint)."""
    try:
        target = os.readlink("/proc/self/fd/%d" % fd)
    except FileNotFoundError:
        raise syscall_error(errno.EBADF, what, "fd %d is not open" % fd) from None
    if target != _MAP_INODE:
        raise ConfigError("%s: fd %d is %s, not a BPF map (%s)" % (what, fd, target, _MAP_INODE))


class Map(_FdObject, MutableMapping[_K, _V]):
    """A BPF map as a mutable mapping.

    Keys and values whose size is 1, 2, 4 or 8 bytes read back as ints (host
    byte order, as the program sees them) and may be given as ints or
    bytes; other sizes are bytes of exactly that size.  A missing key raises
    KeyError.  ``update(key, value, flags)`` exposes BPF_NOEXIST/BPF_EXIST.

    ``K`` and ``V`` are the types keys and values read back as (see the
    module docstring); the subclasses infer them from the sizes.

    ``map_type``, ``key_size``, ``value_size``, ``max_entries``, ``flags``
    and ``name`` are the map's attributes: as asked for when pyxsk created
    it, as the kernel reports them when adopted (the kernel may add flags:
    a DEVMAP gets BPF_F_RDONLY_PROG; ``info()`` asks it).

    ``Map(map_type, key_size, value_size, max_entries, ...)`` creates a map
    of any type as this generic class and takes the same attributes as
    :func:`create_map`, which picks the class for the type.
    """

    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    name: str
    _type_name = "map"
    _kernel_type: ClassVar[Optional[int]] = None   # the BPF_MAP_TYPE_* of a subclass
    # array-like kinds whose slots may be empty: GET_NEXT_KEY walks every index,
    # and only filled slots have values (iteration skips the others)
    _sparse: ClassVar[bool] = False

    def __init__(self, map_type: int, key_size: int, value_size: int, max_entries: int,
                 flags: int = 0, name: Optional[str] = None, *, inner_map: Optional[FdLike] = None,
                 btf: Optional[FdLike] = None, btf_key_type_id: int = 0, btf_value_type_id: int = 0,
                 map_extra: int = 0, numa_node: Optional[int] = None, ifindex: int = 0) -> None:
        super().__init__(-1)
        attr = _create_attr(map_type, key_size, value_size, max_entries, flags, name, inner_map, btf,
                            btf_key_type_id, btf_value_type_id, map_extra, numa_node, ifindex)
        self._adopt_new(self._create(attr), attr)

    @classmethod
    def _create(cls, attr: k.bpf_attr_map_create) -> int:
        """BPF_MAP_CREATE -> the new map's fd."""
        kind = type_name(attr.map_type)
        call = "bpf(BPF_MAP_CREATE, %s key %d value %d max_entries %d)" % (
            kind, attr.key_size, attr.value_size, attr.max_entries)
        hints = {errno.EINVAL: "this map type does not take these sizes or flags",
                 errno.ENOMEM: "not enough memory for max_entries x value_size",
                 errno.E2BIG: "key or value too large for this map type"}
        hints.update(cls._create_hints())
        needs = _needs_bpf("creating a BPF map (%s)" % kind, attr.map_type in _NET_ADMIN_MAPS)
        return _sys_bpf(k.BPF_MAP_CREATE, attr, call, hints, needs)

    @classmethod
    def _create_hints(cls) -> Dict[int, str]:
        """What BPF_MAP_CREATE's refusals mean for this kind, beyond the generic."""
        return {}

    def _adopt(self, fd: int, map_type: int, key_size: int, value_size: int, max_entries: int,
               flags: int, name: str, map_id: Optional[int] = None) -> None:
        """Become the object of map ``fd``, owning it once this returns."""
        self.map_type, self.key_size, self.value_size = map_type, key_size, value_size
        self.max_entries, self.flags, self.name = max_entries, flags, name
        self._id = map_id
        self._what = ("%s %s" % (type_name(map_type), name)).strip()
        self._setup()
        self._fd = fd

    def _adopt_new(self, fd: int, attr: k.bpf_attr_map_create) -> None:
        """_adopt for the fd of a map just created from ``attr``."""
        try:
            self._adopt(fd, attr.map_type, attr.key_size, attr.value_size, attr.max_entries,
                        attr.map_flags, attr.map_name.decode())
        except BaseException:
            _libc.close(fd, call="close(new map fd %d)" % fd)
            raise

    def _setup(self) -> None:
        """Per-class state, for created and adopted maps alike."""

    @classmethod
    def from_fd(cls: Type[_M], fd: int) -> _M:
        """The map behind ``fd``, as the class registered for its type (see
        :func:`map_class`), owning ``fd`` from then on: closing the object
        closes it.  BPF_OBJ_GET_INFO_BY_FD gives its type, sizes, flags, name
        and id.  Called on a subclass (``XskMap.from_fd``), the map must be of
        that kind, else ConfigError.  If it raises, ``fd`` stays the caller's."""
        if isinstance(fd, bool) or not isinstance(fd, int) or fd < 0:
            raise ConfigError("from_fd takes an fd (an int of at least 0), not %r" % (fd,))
        what = "%s.from_fd(%d)" % (cls.__name__, fd)
        _check_is_map(fd, what)
        raw = _info(fd, k.bpf_map_info(), "bpf(BPF_OBJ_GET_INFO_BY_FD, fd %d)" % fd)
        found = map_class(raw.type)
        if not issubclass(found, cls):
            raise ConfigError("%s: the map is of type %s (%s), not %s" % (
                what, type_name(raw.type), found.__name__, cls.__name__))
        obj = found.__new__(found)
        obj._adopt(fd, raw.type, raw.key_size, raw.value_size, raw.max_entries, raw.map_flags,
                   raw.name.decode(), raw.id)
        return obj

    @classmethod
    def _from_own_fd(cls: Type[_M], fd: int) -> _M:
        """from_fd for an fd pyxsk opened: closed if adopting it fails."""
        try:
            return cls.from_fd(fd)
        except BaseException:
            _libc.close(fd, call="close(map fd %d)" % fd)
            raise

    @classmethod
    def from_pinned(cls: Type[_M], path: Union[str, "os.PathLike[str]"], flags: int = 0) -> _M:
        """The map pinned at ``path`` on a bpffs (BPF_OBJ_GET), as from_fd
        gives it.  ``flags``: BPF_F_RDONLY or BPF_F_WRONLY open it for
        reading or writing only (the file's mode must allow that)."""
        _check_open_flags(flags)
        return cls._from_own_fd(obj_get(path, flags, "map"))

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

    def _key_from(self, raw: bytes) -> Any:
        return self._decode(raw, self.key_size)

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
        return "bpf(%s, %s, key %r)" % (_CMD_NAMES[cmd], self._what, key)

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
        self._update(key, value, flags)

    def _update(self, key: object, value: object, flags: int) -> None:
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
        found: _K = self._key_from(next_buf.raw)
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
        self._update(key, value, k.BPF_ANY)

    def __delitem__(self, key: _K) -> None:
        self.delete(key)

    def __iter__(self) -> Iterator[_K]:
        key, seen = self.next_key(), 0
        while key is not None and seen < self.max_entries:
            if not self._sparse or key in self:
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


def _check_open_flags(flags: int) -> None:
    if isinstance(flags, bool) or not isinstance(flags, int) or flags & ~_OPEN_FLAGS \
            or flags == _OPEN_FLAGS:
        raise ConfigError("open flags are 0, BPF_F_RDONLY or BPF_F_WRONLY, not %r" % (flags,))


class ArrayMap(Map[int, _V]):
    """BPF_MAP_TYPE_ARRAY: ``max_entries`` values indexed 0..max_entries-1,
    all present from the start (zero); elements cannot be deleted."""

    _type_name = "ARRAY"
    _kernel_type = k.BPF_MAP_TYPE_ARRAY

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


class _PerCpuMap(Map[_K, List[_V]]):
    """Each element holds one value per possible CPU.

    Reading gives a list (one entry per CPU); writing takes such a list or
    one value for every CPU.  ``sum(key)`` adds an int-sized element up.
    """

    cpus: int

    def _setup(self) -> None:
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

    def sum(self: _PerCpuMap[_K, int], key: _K) -> int:
        """The element at ``key`` added up over the CPUs."""
        return sum(self[key])


class PerCpuArrayMap(_PerCpuMap[int, _V]):
    """BPF_MAP_TYPE_PERCPU_ARRAY: an ARRAY whose elements hold one value per
    possible CPU (``cpus`` of them): a list on reading, a list or one value
    for all CPUs on writing; ``sum(key)`` adds an int-sized element up."""

    _type_name = "PERCPU_ARRAY"
    _kernel_type = k.BPF_MAP_TYPE_PERCPU_ARRAY

    @overload
    def __init__(self: PerCpuArrayMap[int], max_entries: int, value_size: IntSize = 8, flags: int = 0,
                 name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: PerCpuArrayMap[Scalar], max_entries: int, value_size: int, flags: int = 0,
                 name: Optional[str] = None) -> None: ...

    def __init__(self, max_entries: int, value_size: int = 8, flags: int = 0,
                 name: Optional[str] = None) -> None:
        super().__init__(k.BPF_MAP_TYPE_PERCPU_ARRAY, _U32_SIZE, value_size, max_entries, flags, name)

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints[errno.EINVAL] = "array elements cannot be deleted (set them to zero instead)"
        hints[errno.E2BIG] = "key is beyond max_entries %d" % self.max_entries
        return hints


class HashMap(Map[_K, _V]):
    """BPF_MAP_TYPE_HASH: up to ``max_entries`` keys of ``key_size`` bytes;
    a full map refuses new keys (E2BIG)."""

    _type_name = "HASH"
    _kernel_type = k.BPF_MAP_TYPE_HASH

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
        Map.__init__(self, k.BPF_MAP_TYPE_HASH, key_size, value_size, max_entries, flags, name)

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints[errno.E2BIG] = "the map is full (max_entries %d)" % self.max_entries
        return hints


class LruHashMap(HashMap[_K, _V]):
    """BPF_MAP_TYPE_LRU_HASH: a HASH that, when full, evicts the keys least
    recently used instead of refusing new ones.  The kernel keeps the LRU
    lists per CPU, so eviction may begin a little before ``max_entries``
    keys; BPF_F_NO_COMMON_LRU in ``flags`` gives each CPU a list of its own."""

    _type_name = "LRU_HASH"
    _kernel_type = k.BPF_MAP_TYPE_LRU_HASH

    @overload
    def __init__(self: LruHashMap[int, int], key_size: IntSize, value_size: IntSize, max_entries: int,
                 flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: LruHashMap[int, Scalar], key_size: IntSize, value_size: int, max_entries: int,
                 flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: LruHashMap[Scalar, int], key_size: int, value_size: IntSize, max_entries: int,
                 flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: LruHashMap[Scalar, Scalar], key_size: int, value_size: int, max_entries: int,
                 flags: int = 0, name: Optional[str] = None) -> None: ...

    def __init__(self, key_size: int, value_size: int, max_entries: int, flags: int = 0,
                 name: Optional[str] = None) -> None:
        Map.__init__(self, k.BPF_MAP_TYPE_LRU_HASH, key_size, value_size, max_entries, flags, name)


class PerCpuHashMap(_PerCpuMap[_K, _V]):
    """BPF_MAP_TYPE_PERCPU_HASH: a HASH whose values are one per possible
    CPU: a list on reading, a list or one value for all CPUs on writing."""

    _type_name = "PERCPU_HASH"
    _kernel_type = k.BPF_MAP_TYPE_PERCPU_HASH

    @overload
    def __init__(self: PerCpuHashMap[int, int], key_size: IntSize, value_size: IntSize,
                 max_entries: int, flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: PerCpuHashMap[int, Scalar], key_size: IntSize, value_size: int,
                 max_entries: int, flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: PerCpuHashMap[Scalar, int], key_size: int, value_size: IntSize,
                 max_entries: int, flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: PerCpuHashMap[Scalar, Scalar], key_size: int, value_size: int,
                 max_entries: int, flags: int = 0, name: Optional[str] = None) -> None: ...

    def __init__(self, key_size: int, value_size: int, max_entries: int, flags: int = 0,
                 name: Optional[str] = None) -> None:
        Map.__init__(self, k.BPF_MAP_TYPE_PERCPU_HASH, key_size, value_size, max_entries, flags, name)

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints[errno.E2BIG] = "the map is full (max_entries %d)" % self.max_entries
        return hints


class LruPerCpuHashMap(PerCpuHashMap[_K, _V]):
    """BPF_MAP_TYPE_LRU_PERCPU_HASH: a PERCPU_HASH that evicts the least
    recently used keys when full (see :class:`LruHashMap`)."""

    _type_name = "LRU_PERCPU_HASH"
    _kernel_type = k.BPF_MAP_TYPE_LRU_PERCPU_HASH

    @overload
    def __init__(self: LruPerCpuHashMap[int, int], key_size: IntSize, value_size: IntSize,
                 max_entries: int, flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: LruPerCpuHashMap[int, Scalar], key_size: IntSize, value_size: int,
                 max_entries: int, flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: LruPerCpuHashMap[Scalar, int], key_size: int, value_size: IntSize,
                 max_entries: int, flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: LruPerCpuHashMap[Scalar, Scalar], key_size: int, value_size: int,
                 max_entries: int, flags: int = 0, name: Optional[str] = None) -> None: ...

    def __init__(self, key_size: int, value_size: int, max_entries: int, flags: int = 0,
                 name: Optional[str] = None) -> None:
        Map.__init__(self, k.BPF_MAP_TYPE_LRU_PERCPU_HASH, key_size, value_size, max_entries, flags,
                     name)


# -- LPM tries ------------------------------------------------------------------------------

_Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
_Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


class LpmKey(NamedTuple):
    """A key of an LPM trie as the kernel keeps it (struct bpf_lpm_trie_key):
    the prefix length in bits and the data bytes it applies to."""
    prefixlen: int
    data: bytes

    @property
    def network(self) -> _Network:
        """The key as an IPv4Network or IPv6Network (data of 4 or 16 bytes;
        bits beyond the prefix cleared)."""
        if len(self.data) not in (4, 16):
            raise ValueError("an LPM key of %d data bytes is not an IP network" % len(self.data))
        return ipaddress.ip_network((self.data, self.prefixlen), strict=False)


# what an LPM trie takes as a key: (prefixlen, data), a network, or an address (its full length)
LpmKeyLike = Union[LpmKey, Tuple[int, bytes], ipaddress.IPv4Network, ipaddress.IPv6Network,
                   ipaddress.IPv4Address, ipaddress.IPv6Address]


class LpmTrieMap(Map[LpmKeyLike, _V]):
    """BPF_MAP_TYPE_LPM_TRIE: longest-prefix match over ``data_size``-byte
    keys (4 for IPv4, 16 for IPv6; key_size is 4 more, for the prefix length).

    Keys are ``(prefixlen, data)`` (:class:`LpmKey`), or with 4 or 16 data
    bytes an ``ipaddress`` network; iteration gives LpmKeys (``.network``
    converts).  ``lookup`` of an address (or any key) gives the value of the
    longest stored prefix that covers it, as bpf_map_lookup_elem does in a
    program; ``del`` and ``in`` want the exact prefix, so ``in`` is true of
    any key some stored prefix covers.  The kernel allocates nodes as they
    are added: BPF_F_NO_PREALLOC is always set.
    """

    _type_name = "LPM_TRIE"
    _kernel_type = k.BPF_MAP_TYPE_LPM_TRIE

    @overload
    def __init__(self: LpmTrieMap[int], data_size: int, value_size: IntSize, max_entries: int,
                 flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: LpmTrieMap[Scalar], data_size: int, value_size: int, max_entries: int,
                 flags: int = 0, name: Optional[str] = None) -> None: ...

    def __init__(self, data_size: int, value_size: int, max_entries: int, flags: int = 0,
                 name: Optional[str] = None) -> None:
        _u32(data_size, "data_size", 1)
        super().__init__(k.BPF_MAP_TYPE_LPM_TRIE, _LPM_HEAD + data_size, value_size, max_entries,
                         flags | k.BPF_F_NO_PREALLOC, name)

    @classmethod
    def _create_hints(cls) -> Dict[int, str]:
        return {errno.EINVAL: "an LPM trie needs flags BPF_F_NO_PREALLOC and key_size 4 + 1..256 "
                              "data bytes"}

    @property
    def data_size(self) -> int:
        """Bytes of data in a key after its prefix length."""
        return self.key_size - _LPM_HEAD

    def _lpm_key(self, key: object) -> Tuple[int, bytes]:
        size = self.data_size
        if isinstance(key, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            prefixlen, data = key.prefixlen, key.network_address.packed
        elif isinstance(key, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            prefixlen, data = key.max_prefixlen, key.packed
        elif isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], (bytes, bytearray, memoryview)):
            prefixlen, data = key[0], bytes(key[1])
            if isinstance(prefixlen, bool) or not isinstance(prefixlen, int):
                raise TypeError("an LPM key's prefixlen is an int, not %r" % (prefixlen,))
        else:
            raise TypeError("an LPM key is (prefixlen, data bytes) or an ipaddress network or "
                            "address, not %r" % (key,))
        if len(data) != size:
            raise ValueError("this trie's keys have %d data bytes, %r has %d" % (size, key, len(data)))
        if not 0 <= prefixlen <= size * 8:
            raise ValueError("prefixlen must be 0..%d for %d data bytes, not %d" % (size * 8, size, prefixlen))
        return prefixlen, data

    def _key_buf(self, key: object) -> ctypes.Array[ctypes.c_char]:
        prefixlen, data = self._lpm_key(key)
        raw = bytes(k.bpf_lpm_trie_key(prefixlen=prefixlen)) + data
        return ctypes.create_string_buffer(raw, len(raw))

    def _key_from(self, raw: bytes) -> LpmKey:
        head = k.bpf_lpm_trie_key.from_buffer_copy(raw[:_LPM_HEAD])
        return LpmKey(head.prefixlen, bytes(raw[_LPM_HEAD:]))

    def next_key(self, key: Optional[LpmKeyLike] = None) -> Optional[LpmKey]:
        """The key after ``key`` (the first one for None), or None at the end."""
        found = super().next_key(key)
        return None if found is None else cast(LpmKey, found)

    def __iter__(self) -> Iterator[LpmKey]:
        for key in super().__iter__():
            yield cast(LpmKey, key)

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints[errno.ENOSPC] = "the trie is full (max_entries %d)" % self.max_entries
        return hints


# -- XDP redirect targets ------------------------------------------------------------------

class XskMap(Map[int, FdLike]):
    """BPF_MAP_TYPE_XSKMAP: queue index -> AF_XDP socket, for bpf_redirect_map.

    ``xskmap[queue] = sock`` takes an AF_XDP socket (any object with
    ``fileno()``) or its fd; the kernel keeps its own reference to the
    socket.  The kernel cannot be asked what a slot holds (lookup from user
    space is EOPNOTSUPP), so reading, ``in``, ``len`` and iteration report the
    sockets set through this object (none, for a map adopted by
    :meth:`from_fd`); ``del xskmap[queue]`` empties the slot in the kernel
    whoever filled it.
    """

    _type_name = "XSKMAP"
    _kernel_type = k.BPF_MAP_TYPE_XSKMAP
    _sockets: Dict[int, FdLike]

    def __init__(self, max_entries: int, name: Optional[str] = None) -> None:
        super().__init__(k.BPF_MAP_TYPE_XSKMAP, _U32_SIZE, _U32_SIZE, max_entries, 0, name)

    def _setup(self) -> None:
        self._sockets = {}

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
        self._update(queue, fd, k.BPF_ANY)
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


class DevMapValue(NamedTuple):
    """An 8-byte DEVMAP/DEVMAP_HASH value as read back (struct
    bpf_devmap_val): the interface and the id of its program (0: none)."""
    ifindex: int
    prog_id: int


class CpuMapValue(NamedTuple):
    """An 8-byte CPUMAP value as read back (struct bpf_cpumap_val): the
    queue size and the id of the program run on that CPU (0: none)."""
    qsize: int
    prog_id: int


# what a DEVMAP or CPUMAP slot takes: the u32 alone, or (u32, a program or its fd, or None)
ProgSlotValue = Union[int, Tuple[int, Optional[FdLike]]]


class _ProgSlotMap(Map[int, _V]):
    """DEVMAP, DEVMAP_HASH and CPUMAP: u32 keys; a value is one u32
    (value_size 4), or that u32 and a program (value_size 8: a struct whose
    ``bpf_prog`` is the program's fd on writing and its id on reading)."""

    _value_struct: ClassVar[Union[Type[k.bpf_devmap_val], Type[k.bpf_cpumap_val]]]
    _read_as: ClassVar[Union[Type[DevMapValue], Type[CpuMapValue]]]
    _attach_type: ClassVar[str]

    def _split(self, value: object) -> Tuple[int, Optional[FdLike]]:
        first_name = self._read_as._fields[0]
        if isinstance(value, (DevMapValue, CpuMapValue)):    # a value read back
            if value.prog_id:
                raise TypeError("%r carries the program's id, as read back; to set a program "
                                "pass (%s, prog) with the Prog or its fd" % (value, first_name))
            return value[0], None
        if isinstance(value, int) and not isinstance(value, bool):
            return value, None
        if isinstance(value, tuple) and len(value) == 2:
            first, prog = value
            if isinstance(first, int) and not isinstance(first, bool):
                return first, prog
        raise TypeError("a %s value is %s or (%s, prog), not %r" % (
            self._type_name, first_name, first_name, value))

    def _value_buf(self, value: object) -> ctypes.Array[ctypes.c_char]:
        first, prog = self._split(value)
        first_name = self._read_as._fields[0]
        if not 0 <= first <= _U32_MAX:
            raise ValueError("%s must be 0..%d, not %d" % (first_name, _U32_MAX, first))
        if self.value_size != _PROG_SLOT_SIZE:
            if prog is not None:
                raise ValueError("a program in a %s slot needs value_size %d (struct %s), this map's "
                                 "is %d" % (self._type_name, _PROG_SLOT_SIZE,
                                            self._value_struct.__name__, self.value_size))
            return ctypes.create_string_buffer(self._encode(first, self.value_size, "value"),
                                               self.value_size)
        raw = self._value_struct()
        setattr(raw, first_name, first)
        raw.bpf_prog.fd = _NO_PROG if prog is None else _fd_of(prog, "a %s program" % self._type_name)
        packed = bytes(raw)
        return ctypes.create_string_buffer(packed, len(packed))

    def _value_from(self, buf: ctypes.Array[ctypes.c_char]) -> _V:
        if self.value_size != _PROG_SLOT_SIZE:
            value: _V = self._decode(buf.raw, self.value_size)
            return value
        raw = self._value_struct.from_buffer_copy(buf.raw)
        return cast(_V, self._read_as(getattr(raw, self._read_as._fields[0]), raw.bpf_prog.id))

    def __setitem__(self, key: int, value: Union[_V, ProgSlotValue]) -> None:
        self._update(key, value, k.BPF_ANY)

    def delete(self, key: int) -> None:
        """Empty slot ``key``; KeyError if it is empty (the kernel would not say)."""
        if key not in self:
            raise KeyError(key)
        super().delete(key)

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints[errno.EBADF] = "the program is not an open fd"
        return hints


class DevMap(_ProgSlotMap[_V]):
    """BPF_MAP_TYPE_DEVMAP: index -> interface, for bpf_redirect_map (XDP
    redirects to another device, or bpf_redirect_map with BPF_F_BROADCAST).

    ``devmap[i] = ifindex``; with ``value_size=8`` also ``devmap[i] =
    (ifindex, prog)``, an XDP program loaded with expected_attach_type
    BPF_XDP_DEVMAP that runs on each frame before it is sent, and reading
    gives a :class:`DevMapValue` (ifindex, prog_id).  The kernel resolves the
    ifindex in the calling thread's network namespace when the slot is set.
    Empty slots are skipped by iteration and ``in``.
    """

    _type_name = "DEVMAP"
    _kernel_type = k.BPF_MAP_TYPE_DEVMAP
    _sparse = True
    _value_struct = k.bpf_devmap_val
    _read_as = DevMapValue

    @overload
    def __init__(self: DevMap[int], max_entries: int, value_size: Literal[4] = 4, flags: int = 0,
                 name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: DevMap[DevMapValue], max_entries: int, value_size: Literal[8], flags: int = 0,
                 name: Optional[str] = None) -> None: ...

    def __init__(self, max_entries: int, value_size: int = 4, flags: int = 0,
                 name: Optional[str] = None) -> None:
        Map.__init__(self, k.BPF_MAP_TYPE_DEVMAP, _U32_SIZE, value_size, max_entries, flags, name)

    @classmethod
    def _create_hints(cls) -> Dict[int, str]:
        return {errno.EINVAL: "a device map takes 4-byte keys and values of 4 bytes (ifindex) "
                              "or 8 (struct bpf_devmap_val)"}

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints[errno.EINVAL] = ("no interface has this ifindex in the calling thread's network "
                               "namespace, or the program is not an XDP program loaded with "
                               "expected_attach_type BPF_XDP_DEVMAP")
        return hints


class DevMapHash(DevMap[_V]):
    """BPF_MAP_TYPE_DEVMAP_HASH: a DEVMAP whose keys are any u32 (up to
    ``max_entries`` of them, e.g. ifindexes themselves) rather than indexes."""

    _type_name = "DEVMAP_HASH"
    _kernel_type = k.BPF_MAP_TYPE_DEVMAP_HASH
    _sparse = False

    @overload
    def __init__(self: DevMapHash[int], max_entries: int, value_size: Literal[4] = 4, flags: int = 0,
                 name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: DevMapHash[DevMapValue], max_entries: int, value_size: Literal[8],
                 flags: int = 0, name: Optional[str] = None) -> None: ...

    def __init__(self, max_entries: int, value_size: int = 4, flags: int = 0,
                 name: Optional[str] = None) -> None:
        Map.__init__(self, k.BPF_MAP_TYPE_DEVMAP_HASH, _U32_SIZE, value_size, max_entries, flags, name)

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints[errno.E2BIG] = "the map is full (max_entries %d)" % self.max_entries
        return hints


class CpuMap(_ProgSlotMap[_V]):
    """BPF_MAP_TYPE_CPUMAP: CPU number -> queue, for bpf_redirect_map: XDP
    hands frames to a kernel thread on that CPU, which builds the skbs.

    ``cpumap[cpu] = qsize`` (frames the queue holds, 1..16384; 0 empties the
    slot); with ``value_size=8`` also ``(qsize, prog)``, an XDP program
    loaded with expected_attach_type BPF_XDP_CPUMAP run on that CPU first,
    and reading gives a :class:`CpuMapValue` (qsize, prog_id).
    ``max_entries`` defaults to the possible CPUs; only their numbers take a
    queue.  Empty slots are skipped by iteration and ``in``.
    """

    _type_name = "CPUMAP"
    _kernel_type = k.BPF_MAP_TYPE_CPUMAP
    _sparse = True
    _value_struct = k.bpf_cpumap_val
    _read_as = CpuMapValue

    @overload
    def __init__(self: CpuMap[int], max_entries: Optional[int] = None, value_size: Literal[4] = 4,
                 flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: CpuMap[CpuMapValue], max_entries: Optional[int], value_size: Literal[8],
                 flags: int = 0, name: Optional[str] = None) -> None: ...

    def __init__(self, max_entries: Optional[int] = None, value_size: int = 4, flags: int = 0,
                 name: Optional[str] = None) -> None:
        entries = possible_cpus() if max_entries is None else max_entries
        Map.__init__(self, k.BPF_MAP_TYPE_CPUMAP, _U32_SIZE, value_size, entries, flags, name)

    @classmethod
    def _create_hints(cls) -> Dict[int, str]:
        return {errno.EINVAL: "a CPUMAP takes 4-byte keys and values of 4 bytes (qsize) "
                              "or 8 (struct bpf_cpumap_val)",
                errno.E2BIG: "max_entries is above the kernel's NR_CPUS"}

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints.update({
            errno.ENODEV: "no such CPU: this machine has %d possible CPUs" % possible_cpus(),
            errno.EOVERFLOW: "qsize is above %d" % _CPUMAP_MAX_QSIZE,
            errno.ENOMEM: "the program is not an XDP program loaded with expected_attach_type "
                          "BPF_XDP_CPUMAP (or memory for the queue ran out)",
            errno.E2BIG: "the CPU number is beyond max_entries %d" % self.max_entries,
        })
        return hints


# -- programs and maps as values -----------------------------------------------------------

class ProgArray(Map[int, int]):
    """BPF_MAP_TYPE_PROG_ARRAY: index -> program, for bpf_tail_call.

    ``progs[i] = prog`` takes a :class:`~pyxsk.bpf.Prog` or a program fd;
    reading gives the program's **id**, not an fd (fds belong to a process;
    the kernel answers lookups from user space with ids: ``prog_by_id``
    turns one into a Prog).  Programs in one array must share type and
    expected_attach_type.  The kernel empties the array when the last
    user-space reference to it (an fd or a pin) goes, even while a loaded
    program still uses it: keep this object open, or pin it.
    """

    _type_name = "PROG_ARRAY"
    _kernel_type = k.BPF_MAP_TYPE_PROG_ARRAY
    _sparse = True

    def __init__(self, max_entries: int, name: Optional[str] = None) -> None:
        super().__init__(k.BPF_MAP_TYPE_PROG_ARRAY, _U32_SIZE, _U32_SIZE, max_entries, 0, name)

    def _value_buf(self, value: object) -> ctypes.Array[ctypes.c_char]:
        return super()._value_buf(_fd_of(value, "a PROG_ARRAY value"))

    def __setitem__(self, key: int, prog: FdLike) -> None:
        self._update(key, prog, k.BPF_ANY)

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints.update({
            errno.EBADF: "the value is not an open fd",
            errno.EINVAL: "the value is not a program, or its type or expected_attach_type differs "
                          "from the programs the array holds (or is meant for), or the index is "
                          "beyond max_entries %d" % self.max_entries,
            errno.E2BIG: "index is beyond max_entries %d" % self.max_entries,
        })
        return hints


class _MapOfMaps(Map[_K, int]):
    """ARRAY_OF_MAPS and HASH_OF_MAPS: values are maps (a Map or an fd) of
    the kind ``inner_map`` had at creation, read back as map **ids**
    (``map_by_id`` turns one into a Map); a program's lookup gives the map."""

    def _value_buf(self, value: object) -> ctypes.Array[ctypes.c_char]:
        return super()._value_buf(_fd_of(value, "a %s value" % self._type_name))

    def __setitem__(self, key: _K, inner: FdLike) -> None:
        self._update(key, inner, k.BPF_ANY)

    @classmethod
    def _create_hints(cls) -> Dict[int, str]:
        return {errno.EINVAL: "values are 4 bytes (a map fd), and inner_map must be a map a map "
                              "of maps may hold (not a PROG_ARRAY, another map of maps...)",
                errno.EBADF: "inner_map is not an open map fd"}

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints.update({
            errno.EBADF: "the value is not an open map fd",
            errno.EINVAL: "the map differs from inner_map in type, key or value size, flags or "
                          "(unless inner_map had BPF_F_INNER_MAP) max_entries",
        })
        return hints


class ArrayOfMaps(_MapOfMaps[int]):
    """BPF_MAP_TYPE_ARRAY_OF_MAPS: index -> map (see :class:`HashOfMaps`)."""

    _type_name = "ARRAY_OF_MAPS"
    _kernel_type = k.BPF_MAP_TYPE_ARRAY_OF_MAPS
    _sparse = True

    def __init__(self, max_entries: int, inner_map: FdLike, flags: int = 0,
                 name: Optional[str] = None) -> None:
        super().__init__(k.BPF_MAP_TYPE_ARRAY_OF_MAPS, _U32_SIZE, _U32_SIZE, max_entries, flags, name,
                         inner_map=inner_map)

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints[errno.E2BIG] = "index is beyond max_entries %d" % self.max_entries
        return hints


class HashOfMaps(_MapOfMaps[_K]):
    """BPF_MAP_TYPE_HASH_OF_MAPS: ``key_size``-byte keys -> maps.

    ``inner_map`` is the template: every map stored must match its type,
    key and value sizes and flags (and max_entries, unless it was made with
    BPF_F_INNER_MAP); it may be closed once this map exists."""

    _type_name = "HASH_OF_MAPS"
    _kernel_type = k.BPF_MAP_TYPE_HASH_OF_MAPS

    @overload
    def __init__(self: HashOfMaps[int], key_size: IntSize, max_entries: int, inner_map: FdLike,
                 flags: int = 0, name: Optional[str] = None) -> None: ...
    @overload
    def __init__(self: HashOfMaps[Scalar], key_size: int, max_entries: int, inner_map: FdLike,
                 flags: int = 0, name: Optional[str] = None) -> None: ...

    def __init__(self, key_size: int, max_entries: int, inner_map: FdLike, flags: int = 0,
                 name: Optional[str] = None) -> None:
        Map.__init__(self, k.BPF_MAP_TYPE_HASH_OF_MAPS, key_size, _U32_SIZE, max_entries, flags, name,
                     inner_map=inner_map)

    def _hints(self) -> Dict[int, str]:
        hints = super()._hints()
        hints[errno.E2BIG] = "the map is full (max_entries %d)" % self.max_entries
        return hints


# -- by type ---------------------------------------------------------------------------------

_CLASSES: Dict[int, Type[Map[Any, Any]]] = {
    cls._kernel_type: cls for cls in (
        ArrayMap, PerCpuArrayMap, HashMap, PerCpuHashMap, LruHashMap, LruPerCpuHashMap, LpmTrieMap,
        XskMap, DevMap, DevMapHash, CpuMap, ProgArray, ArrayOfMaps, HashOfMaps)
    if cls._kernel_type is not None
}


def map_class(map_type: int) -> Type[Map[Any, Any]]:
    """The class whose objects stand for maps of ``map_type``
    (BPF_MAP_TYPE_*): what :func:`create_map`, :meth:`Map.from_fd`,
    :meth:`Map.from_pinned` and :func:`map_by_id` return.  A type without a
    class of its own gets the generic :class:`Map`."""
    if map_type == k.BPF_MAP_TYPE_PERF_EVENT_ARRAY:
        from .perf import PerfEventArray          # the readers' modules load only when needed
        return PerfEventArray
    if map_type == k.BPF_MAP_TYPE_RINGBUF:
        from .ringbuf import RingBufMap
        return RingBufMap
    return _CLASSES.get(map_type, Map)


def create_map(map_type: int, key_size: int, value_size: int, max_entries: int, flags: int = 0,
               name: Optional[str] = None, *, inner_map: Optional[FdLike] = None,
               btf: Optional[FdLike] = None, btf_key_type_id: int = 0, btf_value_type_id: int = 0,
               map_extra: int = 0, numa_node: Optional[int] = None, ifindex: int = 0) -> Map[Any, Any]:
    """BPF_MAP_CREATE with every attribute, returning an object of the class
    registered for ``map_type`` (:func:`map_class`).

    ``inner_map``: for ARRAY_OF_MAPS and HASH_OF_MAPS (required there), a map
    or fd of the kind the map will hold.  ``btf``, ``btf_key_type_id``,
    ``btf_value_type_id``: a loaded BTF object (an fd or an object with
    ``fileno()``) and the ids of the key and value types in it (bpftool then
    prints values by their types; spin locks and timers in values need
    them).  ``map_extra``: BLOOM_FILTER's hash count, ARENA's address.
    ``numa_node``: allocate on that NUMA node (sets BPF_F_NUMA_NODE).
    ``ifindex``: offload the map to that device (for offloaded programs).
    The name is up to 15 of [A-Za-z0-9_.].
    """
    attr = _create_attr(map_type, key_size, value_size, max_entries, flags, name, inner_map, btf,
                        btf_key_type_id, btf_value_type_id, map_extra, numa_node, ifindex)
    cls = map_class(map_type)
    obj = cls.__new__(cls)
    obj._adopt_new(cls._create(attr), attr)
    return obj


def map_by_id(map_id: int, flags: int = 0) -> Map[Any, Any]:
    """The map with id ``map_id`` (BPF_MAP_GET_FD_BY_ID), as the class
    registered for its type, holding a new fd of its own: close it when
    done.  ``flags``: BPF_F_RDONLY or BPF_F_WRONLY.  The kernel looks maps
    up by id only for CAP_SYS_ADMIN; an id no map has (any more) is
    FileNotFoundError."""
    _u32(map_id, "a map id", 1)
    _check_open_flags(flags)
    fd = _sys_bpf(k.BPF_MAP_GET_FD_BY_ID, k.bpf_attr_get_id(map_id=map_id, open_flags=flags),
                  "bpf(BPF_MAP_GET_FD_BY_ID, %d)" % map_id,
                  {errno.ENOENT: "no map has id %d" % map_id},
                  ("looking maps up by id", ("CAP_SYS_ADMIN",), None))
    return Map._from_own_fd(fd)
