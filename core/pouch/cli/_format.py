"""Output as docker prints it: aligned tables, ``--format``, human sizes and ages."""

from __future__ import annotations

import sys
import time

from pouch.cli._template import HeaderRow, Template
from pouch.humanize import human_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any, TextIO

__all__ = [
    "api_time",
    "bytes_size",
    "dump_json",
    "emit",
    "go_time",
    "human_duration",
    "human_size",
    "make_template",
    "tabulate",
]


def tabulate(lines: Iterable[str], minwidth: int = 10, padding: int = 3) -> list[str]:
    """Align tab-separated cells into columns (Go's tabwriter as docker sets it up)."""
    rows = [line.split("\t") for line in lines]
    widths: list[int] = []
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            width = max(len(cell) + padding, minwidth)
            if index == len(widths):
                widths.append(width)
            elif width > widths[index]:
                widths[index] = width
    out = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        out.append(("".join(cells) + row[-1]).rstrip())
    return out


def make_template(fmt: str | None, default: str) -> Template:
    """``--format``: empty for the default table, ``json`` for a JSON object a line."""
    if not fmt or fmt == "table":
        return Template(default)
    if fmt == "json":
        return Template("{{json .}}")
    return Template(fmt)


def emit(
    template: Template,
    rows: Iterable[Mapping[str, Any]],
    headers: dict[str, str],
    out: TextIO | None = None,
) -> None:
    """Print rows through ``template``, with a header and alignment for ``table``."""
    out = out or sys.stdout
    lines: list[str] = []
    if template.table:
        lines.append(template.render(HeaderRow(headers)))
    lines.extend(template.render(row) for row in rows)
    if template.table:
        lines = tabulate("\n".join(lines).split("\n"))
    for line in lines:
        out.write(line + "\n")


def _scaled(size: float, base: float, units: tuple[str, ...], precision: int) -> str:
    index = 0
    while size >= base and index < len(units) - 1:
        size /= base
        index += 1
    return f"{size:.{precision}g}{units[index]}"


def human_size(size: float) -> str:
    """Decimal sizes as ``docker images`` prints them: ``4.26MB``."""
    return _scaled(size, 1000.0, ("B", "kB", "MB", "GB", "TB", "PB"), 3)


def bytes_size(size: float) -> str:
    """Binary sizes as ``docker stats`` prints them: ``1.5MiB``."""
    return _scaled(size, 1024.0, ("B", "KiB", "MiB", "GiB", "TiB", "PiB"), 4)


_FRACTION = r"\.(\d+)"


def api_time(value: Any) -> float:
    """A time from the API (RFC 3339 with nanoseconds, or Unix seconds) → Unix seconds."""
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return 0.0
    import re
    from datetime import datetime

    text = re.sub(_FRACTION, lambda m: "." + m.group(1)[:6].ljust(6, "0"), value, count=1)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def go_time(stamp: float) -> str:
    """``2024-05-01 10:00:00 +0200 CEST``: Go's time.String, as ``{{.CreatedAt}}`` shows."""
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(stamp))


def dump_json(value: Any) -> str:
    """Indented JSON as ``inspect`` prints it."""
    import json

    return json.dumps(value, indent=4, ensure_ascii=False)
