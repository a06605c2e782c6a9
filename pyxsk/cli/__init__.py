"""The command line, ``python3 -m pyxsk`` and ``pyxsk``: the commands and what only they use.

:mod:`~pyxsk.cli.commands` (the parser and one function a command),
:mod:`~pyxsk.cli.interrupts` (Ctrl-C and SIGTERM while the kernel holds what
a command made), :mod:`~pyxsk.cli.demo`, :mod:`~pyxsk.cli.benchmark` and
:mod:`~pyxsk.cli.loops` (the xdpsock-like packet loops),
:mod:`~pyxsk.cli.replay`, :mod:`~pyxsk.cli.probe` (``pyxsk doctor``) and
:mod:`~pyxsk.cli.summary` (one-line summaries of frames and sockets).
The library never imports this package.
"""

from __future__ import annotations
