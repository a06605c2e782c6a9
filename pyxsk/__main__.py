"""``python3 -m pyxsk`` and the ``pyxsk`` script: the command line of :mod:`pyxsk.cli`.

A Ctrl-C while Python is still importing the command line ends it quietly
with status 130: the handler goes in here, before :mod:`pyxsk.cli` and
everything it imports, and :func:`pyxsk.cli.interrupts.install` takes over
once the command runs.  (Python imports the ``pyxsk`` package itself before
this module runs; it imports nothing until a name is used.)
"""

from __future__ import annotations

import signal
import sys

EXIT_BASE = 128          # a shell's status for death by signal N is 128 + N


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(EXIT_BASE + signum)       # SystemExit prints nothing


def run() -> int:
    """The entry point: quiet Ctrl-C first, then import and run the command line."""
    signal.signal(signal.SIGINT, _exit_quietly)
    from .cli.commands import main
    return main()


if __name__ == "__main__":
    sys.exit(run())
