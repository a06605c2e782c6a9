"""The kernel's user-space ABI, one module per UAPI header, names as the kernel spells them.

Only constants and ctypes structures live here: no behaviour.  Each module
says which header it follows; the tests compare every size, offset and value
with gcc on the installed headers and with the running kernel's BTF.
"""

from __future__ import annotations
import typing

if typing.TYPE_CHECKING:
    from ctypes import _CData, _CField
    from typing import TypeVar

    _CT = TypeVar("_CT", bound=_CData)
    _T = TypeVar("_T")

    # A structure field as the type checker sees it (ctypes itself reads only
    # ``_fields_``): on the class, the descriptor with ``.offset`` and
    # ``.size``; on an instance, a value of type _T (an int for the integer
    # types, bytes for a char array, the structure for a nested one).
    Field = _CField[_CT, _T, _T]
