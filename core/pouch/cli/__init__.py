"""The ``pouch`` command line: a docker-like client of pouchd's Docker Engine API.

It speaks HTTP to the daemon with the standard library only and imports lazily:
``pouch --help`` loads argparse and this package's argument tables, and a
command loads its own module and the HTTP client when it runs. Nothing here may
import the engine, anyio, pluggy, stevedore or msgspec — the CLI is a client,
and users notice its start-up time (``tests/core/cli/test_startup.py``).

Entry point: ``pouch.cli.main:program``, which runs ``main`` and exits without
the interpreter's teardown (``python -m pouch`` runs ``main``).
"""

from __future__ import annotations
