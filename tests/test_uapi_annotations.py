"""The field annotations of every ctypes structure in pyxsk.uapi, pyxsk._libc and
pyxsk.net.netlink: ``name: Field[ctype, value]`` names exactly the fields
``_fields_`` declares (and the members of ``_anonymous_`` unions), with the
same C type, and says what reading the field gives.  The type checker sees
only the annotations and ctypes only ``_fields_``: they must not drift apart."""

import ctypes
import importlib
import pkgutil
import re

import pytest

import pyxsk.uapi

MODULES = ["pyxsk.uapi." + m.name for m in pkgutil.iter_modules(pyxsk.uapi.__path__)] + [
    "pyxsk._libc", "pyxsk.net.netlink"]

_INTS = (ctypes.c_int8, ctypes.c_int16, ctypes.c_int32, ctypes.c_int64, ctypes.c_uint8,
         ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int, ctypes.c_uint,
         ctypes.c_short, ctypes.c_ushort, ctypes.c_long, ctypes.c_ulong, ctypes.c_size_t,
         ctypes.c_ssize_t)
_FIELD = re.compile(r"Field\[(.+), (.+)\]")


def _structures():
    for name in MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, (ctypes.Structure, ctypes.Union)) \
                    and value.__module__ == name:
                yield value


def _ctype(text, module):
    """The ctypes type an annotation spells: ``ctypes.c_uint32``, a structure
    name, ``ctypes.Array[T]`` (matched by element type) or ``ctypes._Pointer[T]``."""
    match = re.fullmatch(r"ctypes\.(Array|_Pointer)\[(.+)\]", text)
    if match:
        return match.group(1), _ctype(match.group(2), module)
    if text.startswith("ctypes."):
        return getattr(ctypes, text[len("ctypes."):])
    return getattr(module, text)


def _as_spelled(ctype):
    if isinstance(ctype, type) and issubclass(ctype, ctypes.Array):
        return "Array", _as_spelled(ctype._type_)
    if isinstance(ctype, type) and issubclass(ctype, ctypes._Pointer):
        return "_Pointer", _as_spelled(ctype._type_)
    return ctype


def _reads_as(ctype, spelled):
    """What reading a field of ``ctype`` gives, written as the annotations write it."""
    if ctype in _INTS:
        return "int"
    if ctype is ctypes.c_void_p:
        return "Optional[int]"
    if issubclass(ctype, ctypes.Array) and ctype._type_ is ctypes.c_char:
        return "bytes"
    return spelled          # arrays, pointers and structures read as themselves


def _expected(cls):
    anonymous = set(getattr(cls, "_anonymous_", ()))
    for field in cls._fields_:
        if field[0].startswith("__"):
            continue        # padding such as ifinfomsg.__ifi_pad: a class body would mangle it
        yield field[0], field[1]
        if field[0] in anonymous:
            for inner in field[1]._fields_:
                yield inner[0], inner[1]


@pytest.mark.parametrize("cls", list(_structures()), ids=lambda c: c.__name__)
def test_annotations_match_fields(cls):
    module = importlib.import_module(cls.__module__)
    annotations = vars(cls).get("__annotations__", {})
    expected = dict(_expected(cls))
    assert list(annotations) == list(expected)
    for name, ctype in expected.items():
        match = _FIELD.fullmatch(annotations[name])
        assert match, (name, annotations[name])
        spelled, reads = match.groups()
        assert _ctype(spelled, module) == _as_spelled(ctype), (name, spelled)
        assert reads == _reads_as(ctype, spelled), (name, reads)
