"""What the calling thread may do: its effective capabilities, and hints for
refusals that name the capability that was missing.

The kernel answers EPERM without saying which capability it checked.  pyxsk
knows what each of its calls needs (loading an XDP program: CAP_BPF and
CAP_NET_ADMIN) and compares that with the thread's effective set, read with
capget(2), so a refusal can say "this process lacks CAP_BPF" instead of
leaving the user to guess.

capget(2) reports the capabilities held in the thread's own user namespace.
The kernel checks bpf(2) against the initial user namespace and rtnetlink
against the one that owns the network namespace, so inside a container
holding "all" capabilities of its own user namespace nothing is missing here
while the kernel still refuses; the hint then says that.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence

from . import _libc
from .uapi import capability as _cap

__all__ = ["NAMES", "ELSEWHERE", "effective", "missing", "hint"]

# capability number -> its name, for the capabilities pyxsk's calls need
NAMES: Dict[int, str] = {number: name for name, number in vars(_cap).items()
                         if name.startswith("CAP_")}
_NUMBERS = {name: number for number, name in NAMES.items()}
# capabilities younger than the calls that check them: older kernels want
# the alternative (CAP_SYS_ADMIN for bpf(2)) instead
_INTRODUCED = {"CAP_BPF": "5.8", "CAP_PERFMON": "5.8"}


def _effective_mask() -> int:
    """The calling thread's effective set as one 64-bit mask (capget(2)
    version 3 returns it in two 32-bit halves)."""
    header = _cap.user_cap_header(_cap._LINUX_CAPABILITY_VERSION_3, 0)
    data = (_cap.user_cap_data * _cap._LINUX_CAPABILITY_U32S_3)()
    _libc.capget(header, data, call="capget(calling thread)")
    mask: int = sum(half.effective << (32 * i) for i, half in enumerate(data))
    return mask


def effective() -> FrozenSet[str]:
    """The names (``"CAP_BPF"``, ...) in :data:`NAMES` that the calling
    thread holds in its effective set: the ones the kernel checks."""
    mask = _effective_mask()
    return frozenset(name for number, name in NAMES.items() if mask >> number & 1)


def _check_names(names: Iterable[str]) -> None:
    unknown = [name for name in names if name not in _NUMBERS]
    if unknown:
        raise ValueError("unknown capabilities %s (pyxsk knows %s)"
                         % (", ".join(unknown), ", ".join(sorted(_NUMBERS))))


def missing(needed: Sequence[str], alternative: Optional[str] = None) -> List[str]:
    """Those of ``needed`` (names) the calling thread lacks, in the order
    given; none if it holds ``alternative``, a capability the kernel takes
    instead of all of them (CAP_SYS_ADMIN does for bpf(2))."""
    _check_names(list(needed) + ([alternative] if alternative else []))
    held = effective()
    if alternative is not None and alternative in held:
        return []
    return [name for name in needed if name not in held]


# said when nothing is missing: the capabilities may not count where the kernel looks
ELSEWHERE = (", which this process holds in its own user namespace: the kernel checked "
             "another one (as in a container), or a security module refused")


def hint(what: str, needed: Sequence[str], alternative: Optional[str] = None,
         held: str = ELSEWHERE) -> str:
    """The hint for an EPERM from a call that needs ``needed``: "``what``
    needs CAP_A and CAP_B (or ``alternative``); this process lacks CAP_B",
    or, when nothing is missing, that text followed by ``held``."""
    lacking = missing(needed, alternative)
    text = "%s needs %s" % (what, " and ".join(needed))
    if alternative is not None:
        newer = [name for name in needed if name in _INTRODUCED]
        if newer:
            text += " (or %s, which kernels before %s require instead of %s)" % (
                alternative, _INTRODUCED[newer[0]], " and ".join(newer))
        else:
            text += " (or %s)" % alternative
    if lacking:
        return text + "; this process lacks %s" % " and ".join(lacking)
    return text + held
