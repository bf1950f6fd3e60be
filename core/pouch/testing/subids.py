"""``subid_files_restored()``: /etc/subuid and /etc/subgid put back as they were.

Tests of user-namespace remapping add ranges for pouch's user to the host's
files; this context manager restores their bytes (or their absence) after.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pouch import userns

__all__ = ["subid_files_restored"]


@contextlib.contextmanager
def subid_files_restored() -> Iterator[None]:
    saved = {p: p.read_bytes() if p.exists() else None for p in (userns.SUBUID, userns.SUBGID)}
    try:
        yield
    finally:
        for path, data in saved.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(data)
