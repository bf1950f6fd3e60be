"""Child processes' exits through pidfds, not a thread per child.

On Python 3.11 asyncio learns that a child it started has exited from a
``ThreadedChildWatcher``: one thread per child, blocked in ``waitpid``. A
container start runs three or four children (conmon, the runtime's
``start`` and ``delete``), so a batch of twenty starts some eighty threads,
each made and joined while the event loop waits for the GIL.
``PidfdChildWatcher`` waits on a pidfd in the event loop itself instead; the
kernel has pidfds since Linux 5.3. Python 3.12 and later choose it on their
own where it works, so ``watch_children_with_pidfds`` does nothing there.
"""

from __future__ import annotations

import asyncio
import os
import sys
import warnings

__all__ = ["watch_children_with_pidfds"]


def _pidfds_work() -> bool:
    try:
        fd = os.pidfd_open(os.getpid())
    except (AttributeError, OSError):
        return False
    os.close(fd)
    return True


def watch_children_with_pidfds() -> None:
    """Use pidfds for the running loop's children where Python does not already."""
    if sys.version_info >= (3, 12) or not _pidfds_work():
        return
    loop = asyncio.get_running_loop()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(loop)
        asyncio.set_child_watcher(watcher)
