"""``python -m pouch`` runs the ``pouch`` command line (``pouch.cli.main``)."""

from __future__ import annotations

import sys

from pouch.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
