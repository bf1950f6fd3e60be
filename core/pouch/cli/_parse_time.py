"""``--since`` and ``--until``: relative durations, RFC 3339 times, Unix timestamps."""

from __future__ import annotations

import re
import time

from pouch.cli._errors import UsageError
from pouch.humanize import go_duration

__all__ = ["parse_timestamp"]


def parse_timestamp(text: str, now: float | None = None) -> str:
    """``--since``/``--until`` → ``seconds.nanoseconds`` as the API wants.

    Takes a relative duration (``10m``, ``1h30m``: that long before now), an
    RFC 3339 time (``2024-05-01T10:00:00Z``; local time without a zone), a date
    (``2024-05-01``) or a Unix timestamp (``1714557600.5``).
    """
    value = text.strip()
    now = time.time() if now is None else now
    nanoseconds = go_duration(value)
    if nanoseconds is not None:
        stamp = now - nanoseconds / 1e9
    elif re.fullmatch(r"\d+(\.\d{1,9})?", value):
        whole, _, frac = value.partition(".")
        return f"{whole}.{frac.ljust(9, '0')}"
    else:
        from datetime import datetime

        try:
            stamp = datetime.fromisoformat(value.replace("z", "Z")).timestamp()
        except ValueError:
            raise UsageError(
                f"invalid time {text!r}: use RFC 3339 (2024-05-01T10:00:00Z), "
                "a duration (10m, 1h30m) or a Unix timestamp"
            ) from None
    whole_seconds = int(stamp // 1)
    return f"{whole_seconds}.{round((stamp - whole_seconds) * 1e9):09d}"
