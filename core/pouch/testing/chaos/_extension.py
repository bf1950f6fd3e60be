"""What a plugin adds to a chaos run: operations of its own API, and their checks.

The harness drives pouchd through the ``pouch`` CLI; a plugin that serves
another API (the CRI plugin's gRPC socket) gives an ``Extension``: weighted
operations the workers draw beside the CLI's, a check run after every
restart (what its clients were told still holds), and a removal of
everything it made, run before the final restart and leak check.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Protocol

__all__ = ["Extension", "Operation"]

# Runs one operation; whether it succeeded.
Operation = Callable[[random.Random], bool]


class Extension(Protocol):
    def operations(self) -> Sequence[tuple[int, Operation]]:
        """(weight, operation) pairs; the CLI's weigh about 100 together."""
        ...

    def check(self) -> list[str]:
        """The violations after a restart, one line each."""
        ...

    def remove_all(self) -> list[str]:
        """Remove everything the operations made; what could not be removed."""
        ...
