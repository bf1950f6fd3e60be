"""Signal numbers and handlers without the ``signal`` module.

``signal`` wraps these functions in enums, whose import is a good part of a
short command's start-up; the C module underneath takes and returns plain
numbers and handlers, which is all the CLI needs.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # no stub: ``signal``'s functions, unwrapped

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["NAMES", "SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGWINCH", "SIG_DFL"]

SIGHUP: int = _signal.SIGHUP
SIGINT: int = _signal.SIGINT
SIGQUIT: int = _signal.SIGQUIT
SIGTERM: int = _signal.SIGTERM
SIGUSR1: int = _signal.SIGUSR1
SIGWINCH: int = _signal.SIGWINCH
SIG_DFL: int = _signal.SIG_DFL

NAMES = {
    SIGHUP: "SIGHUP",
    SIGINT: "SIGINT",
    SIGQUIT: "SIGQUIT",
    SIGTERM: "SIGTERM",
    SIGUSR1: "SIGUSR1",
    SIGWINCH: "SIGWINCH",
}


def signal(signum: int, handler: Any) -> Any:
    """``signal.signal``: install ``handler``; the previous one."""
    return _signal.signal(signum, handler)
