"""BPF maps as Python mappings: ``map[key] = value``, ``del``, ``in``,
iteration (BPF_MAP_GET_NEXT_KEY), with keys and values packed to the sizes
the map was created with.  ARRAY, PERCPU_ARRAY (a list per key, one value
per possible CPU), HASH and XSKMAP (values are AF_XDP sockets or fds)."""

import collections
import collections.abc
import ctypes
import errno
import sys

from .. import _libc
from ..errors import ConfigError, syscall_error
from ..uapi import bpf as k
from .syscall import _CMD_NAMES, _FdObject, _NET_ADMIN_MAPS, _U32_SIZE, _fd_of, _info, _needs_bpf, _obj_name, _sys_bpf

_PERCPU_VALUE_ALIGN = 8              # each CPU's copy of a per-CPU value is 8-byte aligned
_INT_SIZES = (1, 2, 4, 8)
_POSSIBLE_CPUS = "/sys/devices/system/cpu/possible"
_ITEMS = object()                    # update() without a value: MutableMapping.update
MapInfo = collections.namedtuple("MapInfo", "id type name key_size value_size max_entries flags")


def possible_cpus():
    """How many CPUs the kernel may ever bring up (per-CPU maps hold one value each)."""
    with open(_POSSIBLE_CPUS) as f:
        text = f.read().strip()
    count = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


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

    def update(self, key=_ITEMS, /, value=_ITEMS, flags=k.BPF_ANY, **items):
        """Set ``key`` to ``value``; ``flags`` BPF_ANY, BPF_NOEXIST or BPF_EXIST.

        Without a value it is MutableMapping.update: ``update(mapping)`` or
        ``update(pairs)`` sets each item as ``map[key] = value`` does (BPF_ANY)."""
        if value is _ITEMS:
            if flags != k.BPF_ANY:
                raise TypeError("flags go with update(key, value, flags)")
            if key is _ITEMS:
                super().update(**items)
            else:
                super().update(key, **items)
            return
        if items:
            raise TypeError("update(key, value, flags) takes no other keywords, not %s"
                            % ", ".join(items))
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
