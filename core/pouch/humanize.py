"""Durations for the CLI and the daemon: docker's ages (go-units' HumanDuration) and Go's
duration syntax (``1m30s``), which docker takes in flags and filters.

Standard library only: the CLI imports it at start-up.
"""

from __future__ import annotations

__all__ = ["go_duration", "human_duration"]

_GO_DURATION = r"(?:\d+(?:\.\d*)?(?:ns|us|µs|ms|s|m|h))+"
_GO_DURATION_PART = r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)"
_NANOSECONDS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9}
_NANOSECONDS.update({"m": 60 * 10**9, "h": 3600 * 10**9})


def go_duration(text: str) -> int | None:
    """Go's duration syntax (``1m30s``, ``500ms``, ``1.5h``) in nanoseconds; None if not one."""
    import re  # only when asked: the CLI starts without it

    value = text.strip()
    if not re.fullmatch(_GO_DURATION, value):
        return None
    parts = re.findall(_GO_DURATION_PART, value)
    return round(sum(float(number) * _NANOSECONDS[unit] for number, unit in parts))


def human_duration(seconds: float) -> str:
    """``3 minutes``, ``About an hour``, ``2 weeks``."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"
