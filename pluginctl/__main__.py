"""``python -m pluginctl``: the same as the ``pluginctl`` command."""

import sys

from pluginctl.cli import main

if __name__ == "__main__":
    sys.exit(main())
