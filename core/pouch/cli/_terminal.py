"""The local terminal: raw mode that is always undone, its size, and SIGWINCH.

Raw mode passes every key (Ctrl-C included) to the container's terminal. The
previous settings come back on every way out: a normal return, an exception,
and SIGTERM or SIGHUP, which are turned into ``SystemExit`` while raw so the
``finally`` runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import termios
import tty
from collections.abc import Callable
from types import FrameType, TracebackType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RawTerminal", "WindowWatcher", "terminal_size"]


def terminal_size(fd: int) -> tuple[int, int] | None:
    """``(rows, columns)`` of the terminal on ``fd``, or None when it is not one."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


class RawTerminal:
    """``with RawTerminal(fd):`` puts ``fd``'s terminal in raw mode, when it is a terminal."""

    def __init__(self, fd: int, enabled: bool = True) -> None:
        self.fd = fd
        self.enabled = enabled and os.isatty(fd)
        self._saved: list[Any] | None = None
        self._handlers: dict[int, Any] = {}

    def __enter__(self) -> RawTerminal:
        if self.enabled:
            self._saved = termios.tcgetattr(self.fd)
            for signum in (signal.SIGTERM, signal.SIGHUP):
                self._handlers[signum] = signal.signal(signum, _exit_on_signal)
            tty.setraw(self.fd, termios.TCSANOW)
        return self

    def restore(self) -> None:
        if self._saved is not None:
            # When the terminal went away (SIGHUP) there is nothing to restore.
            with contextlib.suppress(termios.error):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None
        for signum, handler in self._handlers.items():
            signal.signal(signum, handler)
        self._handlers.clear()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()


class WindowWatcher:
    """Calls ``resize(rows, columns)`` now and on every SIGWINCH, while in the ``with``."""

    def __init__(self, fd: int, resize: Callable[[int, int], None]) -> None:
        self.fd = fd
        self.resize = resize
        self._previous: Any = None

    def _changed(self, signum: int = 0, frame: FrameType | None = None) -> None:
        size = terminal_size(self.fd)
        if size is not None and size[0] > 0 and size[1] > 0:
            # A resize that fails must not end the session.
            with contextlib.suppress(Exception):
                self.resize(*size)

    def __enter__(self) -> WindowWatcher:
        self._changed()
        self._previous = signal.signal(signal.SIGWINCH, self._changed)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        signal.signal(signal.SIGWINCH, self._previous or signal.SIG_DFL)
