"""``pouchd`` with the host-process test runtime registered — for tests only.

``python -m pouch.testing._pouchd_launcher ARGS`` runs exactly the program
``pouchd ARGS`` runs (``pouch.daemon.main.main``), plus the
``ProcessRuntimePlugin`` that ``pouch.testing.plugin`` gives engines in tests.
That runtime isolates nothing, so it is never reachable from ``pouchd``
itself: this module is the only way in, and only ``pouch.testing.daemon``
starts it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pouch.config import EngineConfig
from pouch.daemon.main import main

__all__ = ["process_runtime_plugins"]


def process_runtime_plugins(config: EngineConfig) -> Sequence[tuple[str, object]]:
    from pouch.testing.process_runtime import ProcessRuntimePlugin

    return [("process", ProcessRuntimePlugin(config))]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], extra_plugins=process_runtime_plugins))
