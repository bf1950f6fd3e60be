"""Says when running containers' logs stop being written for want of space, and when they resume.

A container's monitor (conmon, or pouch's own) writes its log. When the
filesystem holding the log is full, the monitor drops the output and the
container runs on, as docker's json-file driver does; but the monitor tells
no one. ``LogSpace`` looks instead: every few seconds it asks each filesystem
holding a running container's log whether a block can still be had, and
logs one line when a container's output starts being dropped and one when
it is written again, never one per write. It only reads and probes (an
unnamed file of one block, gone when closed); it never touches a log.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import anyio

from pouch.models import Container

__all__ = ["LogSpace", "out_of_space"]

log = logging.getLogger(__name__)

_INTERVAL = 2.0


def out_of_space(directory: Path) -> bool:
    """True when nothing more can be written in ``directory``'s filesystem.

    Only a filesystem that reports no free blocks for unprivileged writers is
    probed, with a one-block allocation as the monitors' own user (root, who
    may still have the reserved blocks).
    """
    try:
        if os.statvfs(directory).f_bavail > 0:
            return False
        fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    try:
        os.posix_fallocate(fd, 0, os.fstatvfs(fd).f_frsize)
    except OSError as exc:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    finally:
        os.close(fd)
    return False


class LogSpace:
    """Watches the logs of the containers ``running()`` lists; ``root`` is the state root."""

    def __init__(
        self,
        running: Callable[[], Iterable[Container]],
        root: Path,
        *,
        full: Callable[[Path], bool] = out_of_space,
    ) -> None:
        self._running = running
        self._root = root
        self._full = full
        self._dropping: set[str] = set()  # ids of containers whose output is being dropped

    async def watch(self, interval: float = _INTERVAL) -> None:
        """Check every ``interval`` seconds until cancelled; a failed check is logged once."""
        failing = False
        while True:
            try:
                logs = [(c.id, c.name, Path(c.log_path)) for c in self._running() if c.log_path]
                if logs or self._dropping:
                    await anyio.to_thread.run_sync(self.check, logs)
                failing = False
            except Exception:
                if not failing:
                    log.exception("checking the space left for container logs failed")
                failing = True
            await anyio.sleep(interval)

    def _area(self, log_path: Path) -> Path:
        """What to free space on, as the user knows it: the state root when the log is in it."""
        return self._root if log_path.is_relative_to(self._root) else log_path.parent

    def check(self, logs: Iterable[tuple[str, str, Path]]) -> None:
        """One look at the logs (id, name, path) of the running containers (blocking)."""
        verdicts: dict[int, bool] = {}  # one probe per filesystem
        dropping: set[str] = set()
        for container_id, name, path in logs:
            try:
                device = os.stat(path.parent).st_dev
            except OSError:
                continue  # removed meanwhile
            if device not in verdicts:
                verdicts[device] = self._full(path.parent)
            short = container_id[:12]
            if verdicts[device]:
                dropping.add(container_id)
                if container_id not in self._dropping:
                    log.warning(
                        "container %s (%s): no space left on device for its log %s; its output"
                        " is dropped, and the container runs on, until space is freed on the"
                        " filesystem of %s",
                        short,
                        name,
                        path,
                        self._area(path),
                    )
            elif container_id in self._dropping:
                log.info(
                    "container %s (%s): space is free again on the filesystem of %s; its log %s"
                    " is written again",
                    short,
                    name,
                    self._area(path),
                    path,
                )
        self._dropping = dropping
