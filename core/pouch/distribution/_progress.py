"""Progress of a pull or push, in the words ``docker pull`` prints.

Owns ``PullProgress`` (one status line: a layer's short digest or the
reference, a docker status string, bytes done of total) and ``Reporter``,
which hands them to the caller's callback. Callbacks run on worker threads
(the pull's own thread and its download threads), one line at a time: a
callback that touches an event loop must hop back to it
(``anyio.from_thread.run_sync`` with a token, or a thread-safe queue). The
statuses of one layer always arrive in order. An exception raised by the
callback aborts the pull or push and is raised from it. This module must not
do any transfer itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

__all__ = [
    "ALREADY_EXISTS",
    "DOWNLOADING",
    "DOWNLOAD_COMPLETE",
    "EXTRACTING",
    "PULLING_FS_LAYER",
    "PULL_COMPLETE",
    "VERIFYING",
    "WAITING",
    "ProgressCallback",
    "PullProgress",
    "Reporter",
    "short_id",
]

PULLING_FS_LAYER = "Pulling fs layer"
WAITING = "Waiting"
DOWNLOADING = "Downloading"
VERIFYING = "Verifying Checksum"
DOWNLOAD_COMPLETE = "Download complete"
EXTRACTING = "Extracting"
PULL_COMPLETE = "Pull complete"
ALREADY_EXISTS = "Already exists"

# Byte counters are reported at most this often per layer (the last one always).
_INTERVAL = 0.1


class PullProgress(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One progress line. ``id`` is a layer's 12-hex short digest, a tag, or empty."""

    status: str
    id: str = ""
    current: int = 0
    total: int = 0
    source: str = ""
    """Where a downloaded layer came from ("peer 10.0.0.2:5050", "registry …")."""

    def to_docker(self) -> dict[str, Any]:
        """The Docker Engine API's JSON message for this line (``/images/create``)."""
        message: dict[str, Any] = {"status": self.status}
        if self.id:
            message["id"] = self.id
        if self.source:
            message["source"] = self.source  # pouch's own; docker's clients ignore it
        if self.total or self.current:
            message["progressDetail"] = {"current": self.current, "total": self.total}
        else:
            message["progressDetail"] = {}
        return message


ProgressCallback = Callable[[PullProgress], None]


def short_id(digest: str) -> str:
    """``sha256:0123456789ab…`` → ``0123456789ab``, as docker names layers."""
    return digest.partition(":")[2][:12] or digest[:12]


class Reporter:
    """Sends progress to a callback (or nowhere), one line at a time across threads."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._lock = threading.Lock()

    def __call__(
        self, status: str, id: str = "", current: int = 0, total: int = 0, source: str = ""
    ) -> None:
        if self._callback is None:
            return
        line = PullProgress(status=status, id=id, current=current, total=total, source=source)
        # One line at a time: callbacks need not be thread-safe themselves.
        with self._lock:
            self._callback(line)

    def counted(
        self, chunks: Iterable[bytes], id: str, total: int, status: str = DOWNLOADING
    ) -> Iterator[bytes]:
        """Pass ``chunks`` through, reporting ``status`` with the bytes so far."""
        done, reported, last = 0, 0, time.monotonic()
        self(status, id, 0, total)
        for chunk in chunks:
            done += len(chunk)
            now = time.monotonic()
            if now - last >= _INTERVAL:
                self(status, id, done, total)
                reported, last = done, now
            yield chunk
        if done != reported:
            self(status, id, done, total)
