"""``python3 -m pyxsk``: the command line of :mod:`pyxsk.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
