"""``python3 -m pyxsk`` and the ``pyxsk`` script: the command line of :mod:`pyxsk.cli`.

A Ctrl-C while Python is still importing the command line ends it quietly
with status 130 (:func:`pyxsk.interrupts.quiet_until_installed`): the handler
goes in before :mod:`pyxsk.cli` and everything it imports.  (Python imports
the ``pyxsk`` package itself before this module runs.)
"""

import sys

from . import interrupts


def run():
    """The entry point: quiet Ctrl-C first, then import and run the command line."""
    interrupts.quiet_until_installed()
    from .cli import main
    return main()


if __name__ == "__main__":
    sys.exit(run())
