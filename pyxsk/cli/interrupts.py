"""Ctrl-C and SIGTERM for commands that build things in the kernel.

A command that attaches an XDP program or creates namespaces must remove
them however it stops.  Python's own Ctrl-C handling raises
KeyboardInterrupt between any two bytecodes, which can land after the kernel
made something and before the code recorded it (a namespace mounted but not
yet in the list of things to delete, a program attached but not yet marked
as ours), or in the middle of the clean-up itself.  So, once
:func:`install` has run:

* inside :func:`deferred` (set-up and tear-down) a signal is only noted; it
  raises :class:`Interrupted` when the outermost deferred block ends;
* :func:`guarded` builds a context manager and enters it deferred, and exits
  it deferred, so its ``with`` body is the only place a signal lands;
* after the first :class:`Interrupted`, further SIGINT/SIGTERM are ignored:
  the clean-up runs to its end (it is bounded) instead of being cut short by
  an impatient second Ctrl-C.

Without :func:`install` (pyxsk used as a library) nothing changes: the
functions still nest correctly and Python's default handler stays.

Before :func:`install`, while Python imports the command line, a Ctrl-C
would raise KeyboardInterrupt from the middle of some import and print a
traceback.  ``python3 -m pyxsk`` and the ``pyxsk`` script therefore first
install a handler of their own (:mod:`pyxsk.__main__`, before this package
is imported), so that such a Ctrl-C ends the process at once with status
130 and nothing printed: nothing has been created yet.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from types import FrameType
from typing import (Any, Callable, ContextManager, Dict, Iterator, Optional, TypeVar,
                    Union)

_T = TypeVar("_T")

Handler = Union[Callable[[int, Optional[FrameType]], object], int, signal.Handlers, None]
"""What ``signal.getsignal`` returns and ``signal.signal`` takes."""

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_BASE = 128          # a process stopped by signal N exits 128 + N (shell convention)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return EXIT_BASE + self.signum


class _State:
    installed: bool = False
    previous: Dict[int, Handler] = {}    # the handlers install() replaced, for uninstall()
    depth: int = 0                       # how many deferred blocks we are inside
    pending: Optional[int] = None        # a signal noted while deferred
    fired: bool = False                  # an Interrupted has been raised: ignore the rest


def _handler(signum: int, frame: Optional[FrameType]) -> None:
    if _State.fired:
        return
    if _State.depth:
        _State.pending = signum
        return
    _State.fired = True
    raise Interrupted(signum)


def install() -> None:
    """Route SIGINT and SIGTERM through this module (main thread only) and
    make sure neither is blocked: a parent may have started us with a mask."""
    _State.previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    for signum in SIGNALS:
        signal.signal(signum, _handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    _State.installed = True
    _State.depth, _State.pending, _State.fired = 0, None, False


def uninstall() -> None:
    """Back to the handlers :func:`install` found (Python's defaults if it
    found none it could restore)."""
    defaults: Dict[int, Handler] = {signal.SIGINT: signal.default_int_handler,
                                    signal.SIGTERM: signal.SIG_DFL}
    for signum in SIGNALS:
        previous = _State.previous.get(signum)
        signal.signal(signum, previous if previous is not None else defaults[signum])
    _State.previous = {}
    _State.installed = False
    _State.depth, _State.pending, _State.fired = 0, None, False


def raise_pending() -> None:
    """Raise the signal noted while deferred, if there is one and no deferred
    block is still open."""
    if _State.pending is not None and not _State.depth and not _State.fired:
        signum, _State.pending = _State.pending, None
        _State.fired = True
        raise Interrupted(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Run the body with SIGINT/SIGTERM noted instead of raised; the noted
    signal is raised when the outermost block ends."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
    raise_pending()


@contextlib.contextmanager
def guarded(factory: Callable[..., ContextManager[_T]], *args: Any,
            **kwargs: Any) -> Iterator[_T]:
    """``with guarded(XskSocket, "eth0") as xsk:`` -- call ``factory`` and
    enter what it returns with signals deferred, run the body with signals
    live, and exit deferred.  A signal that came during set-up is raised at
    the start of the body, so the exit (the clean-up) still runs."""
    _State.depth += 1
    try:
        manager = factory(*args, **kwargs)
        value = manager.__enter__()
    except BaseException:
        _State.depth -= 1
        raise
    try:
        _State.depth -= 1          # inside the try: from here a signal reaches the clean-up
        raise_pending()
        yield value
    except BaseException:
        with deferred():
            if not manager.__exit__(*sys.exc_info()):
                raise
    else:
        with deferred():
            manager.__exit__(None, None, None)
