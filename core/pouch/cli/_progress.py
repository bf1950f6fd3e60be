"""Pull, push and load progress, as docker shows it.

On a terminal every layer keeps one line that is redrawn in place (cursor up,
clear, write, cursor down) with a progress bar; elsewhere each status change is
a plain line and progress-bar updates are left out, so logs stay readable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pouch.cli._errors import CLIError
from pouch.cli._format import human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

__all__ = ["ProgressView", "bar"]

BAR_WIDTH = 50


def bar(detail: Mapping[str, Any] | None) -> str:
    """``[=====>      ]  1.2MB/3.4MB`` from a ``progressDetail``; "" without a total."""
    if not detail:
        return ""
    current = int(detail.get("current") or 0)
    total = int(detail.get("total") or 0)
    if total <= 0:
        return human_size(current) if current else ""
    filled = min(BAR_WIDTH, BAR_WIDTH * current // total)
    arrow = ">" if filled < BAR_WIDTH else ""
    body = ("=" * filled + arrow).ljust(BAR_WIDTH)
    return f"[{body}] {human_size(current):>8}/{human_size(total)}"


class ProgressView:
    """Writes a stream of progress messages to ``out``; raises on an ``error`` message."""

    def __init__(self, out: TextIO, tty: bool, sources: bool = False) -> None:
        """``sources``: add where a layer came from (pouchd's ``source``) to its status."""
        self.out = out
        self.tty = tty
        self.sources = sources
        self._lines: dict[str, int] = {}
        self.last_status = ""

    def show_all(self, messages: Iterable[Any]) -> None:
        for message in messages:
            if isinstance(message, dict):
                self.show(message)

    def show(self, message: Mapping[str, Any]) -> None:
        if message.get("error"):
            self._lines.clear()
            raise CLIError(str(message["error"]))
        if "stream" in message:
            self._lines.clear()
            self.out.write(str(message["stream"]))
            self.out.flush()
            return
        layer = str(message.get("id") or "")
        status = str(message.get("status") or "")
        if self.sources and message.get("source"):
            status += f" (from {message['source']})"
        detail = message.get("progressDetail")
        progress = str(message.get("progress") or "") or bar(detail)
        if status:
            self.last_status = status
        tracked = bool(layer) and ("progressDetail" in message or "progress" in message)
        if not self.tty:
            if progress and tracked:
                return  # a progress-bar update: only on terminals
            self.out.write(f"{layer}: {status}\n" if layer else f"{status}\n")
            self.out.flush()
            return
        text = f"{layer}: {status}" + (f" {progress}" if progress else "") if layer else status
        if not tracked:
            self._lines.clear()
            self.out.write(f"\x1b[2K{text}\n")
            self.out.flush()
            return
        if layer not in self._lines:
            self._lines[layer] = len(self._lines)
            self.out.write("\n")
        up = len(self._lines) - self._lines[layer]
        self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\r\x1b[{up}B")
        self.out.flush()
