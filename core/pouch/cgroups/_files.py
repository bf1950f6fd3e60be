"""Parsers for the cgroup filesystem's file formats, tolerant of files that vanish.

A cgroup can go at any moment (its container exits), so a read that fails
gives 0 or nothing instead of an error.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["read_int", "read_keyed"]


def read_int(path: Path) -> int:
    """A single number (``memory.current``); 0 for "max", a missing or unreadable file."""
    try:
        text = path.read_text().strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0


def read_keyed(path: Path) -> dict[str, int]:
    """Summed values of ``key value`` lines and of ``maj:min key=value …`` lines.

    ``cpu.stat`` and ``memory.events`` (v2) are ``key value``;
    ``blkio.throttle.io_service_bytes`` (v1) is ``maj:min Op value``, keyed
    ``"maj:min Op"``; ``io.stat`` (v2) is ``maj:min rbytes=… wbytes=…``, whose
    keys are summed over devices.
    """
    values: dict[str, int] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return values
    for line in lines:
        parts = line.split()
        for part in parts[1:]:
            key, eq, value = part.partition("=")
            if eq and value.isdigit():
                values[key] = values.get(key, 0) + int(value)
        if len(parts) >= 2 and parts[-1].isdigit():
            key = " ".join(parts[:-1])
            values[key] = values.get(key, 0) + int(parts[-1])
    return values
