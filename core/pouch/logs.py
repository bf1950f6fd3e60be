"""Container logs in the CRI line format, as conmon writes them.

One record a line: ``<RFC 3339 nano time> <stdout|stderr> <F|P> <text>``, where
``P`` marks a partial line continued by the next record. Every runtime's
monitor writes this format (``LogWriter`` is the reference writer); the engine
reads it (``read_logs``), so logs stay readable while pouchd is down and
after it restarts. Rotation keeps ``path.1`` … ``path.N`` beside the file
(``pouch._logfiles``): the monitor's, or the engine's for a monitor that
cannot (``pouch.engine._logrotate``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import BinaryIO, Literal

import anyio
import msgspec

from pouch._logfiles import LogChain, rotate

__all__ = ["LogRecord", "LogWriter", "format_time", "parse_line", "parse_time", "read_logs"]

Stream = Literal["stdout", "stderr"]


class LogRecord(msgspec.Struct, frozen=True):
    time: float  # seconds since the epoch
    stamp: str  # the RFC 3339 text as written (nanosecond precision)
    stream: Stream
    partial: bool
    message: bytes


def format_time(ns: int) -> str:
    seconds, nanos = divmod(ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


def parse_time(text: str) -> float:
    """RFC 3339 (any fraction length, ``Z`` or offset) → epoch seconds."""
    main, _, rest = text.partition(".")
    fraction = ""
    zone = rest
    if rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, zone = rest[:digits], rest[digits:]
    else:
        for sign in ("Z", "+", "-"):
            index = main.find(sign, 10)
            if index > 0:
                main, zone = main[:index], main[index:]
                break
    stamp = dt.datetime.fromisoformat(main + (zone.replace("Z", "+00:00") or "+00:00"))
    return stamp.timestamp() + (float("0." + fraction) if fraction else 0.0)


def parse_line(line: bytes) -> LogRecord | None:
    """One log line (without its newline) → record; None when malformed."""
    try:
        stamp, stream, tag, message = line.split(b" ", 3)
    except ValueError:
        parts = line.split(b" ")
        if len(parts) != 3:
            return None
        stamp, stream, tag = parts
        message = b""
    if stream not in (b"stdout", b"stderr") or tag not in (b"F", b"P"):
        return None
    try:
        text = stamp.decode()
        when = parse_time(text)
    except ValueError:
        return None
    return LogRecord(when, text, stream.decode(), tag == b"P", message)  # type: ignore[arg-type]


def _append(path: Path) -> BinaryIO:
    """``path`` opened to append, unbuffered: a write that fails leaves nothing
    behind to be written again later."""
    return open(path, "ab", buffering=0)


class LogWriter:
    """Appends records; at ``max_size`` bytes starts a new generation of the log.

    The full file becomes ``path.1`` (the older ones move up, those beyond
    ``max_files`` are dropped) and a new file starts at the path, so the log
    keeps at most ``max_files`` files whether or not the engine runs.
    """

    def __init__(self, path: Path, *, max_size: int = 0, max_files: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max_files
        # Records dropped for want of space (the disk or a quota full).
        self.dropped = 0
        self._file: BinaryIO = _append(path)

    def write(self, stream: Stream, data: bytes) -> None:
        """Write ``data``: each complete line as F, a trailing fragment as P.

        A file moved away from the log path (log rotation by its owner) is left
        behind: the writer goes on in the file now at the path, made if missing.
        """
        self._follow()
        lines = data.split(b"\n")
        tail = lines.pop()
        stamp = format_time(time.time_ns()).encode()
        out = [b"%s %s F %s\n" % (stamp, stream.encode(), line) for line in lines]
        if tail:
            out.append(b"%s %s P %s\n" % (stamp, stream.encode(), tail))
        if not self._append(b"".join(out)):
            return
        if self.max_size and self._file.tell() >= self.max_size:
            self._rotate()

    def _append(self, records: bytes) -> bool:
        """Write ``records`` whole, or drop them when there is no space (as
        docker's json-file logger does: the container runs on); never half."""
        start = self._file.tell()
        try:
            written = self._file.write(records)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            written = None
        if written == len(records):
            return True
        with contextlib.suppress(OSError):
            self._file.truncate(start)  # no record cut short
        self.dropped += 1
        return False

    def _follow(self) -> None:
        try:
            moved = os.stat(self.path).st_ino != os.fstat(self._file.fileno()).st_ino
        except FileNotFoundError:
            moved = True
        if moved:
            self._file.close()
            self._file = _append(self.path)

    def _rotate(self) -> None:
        # Closed first: a reader takes a newer file as the sign that this one is complete.
        self._file.close()
        rotate(self.path, self.max_files)
        self._file = _append(self.path)

    def close(self) -> None:
        self._file.close()


async def read_logs(
    path: Path,
    *,
    follow: bool = False,
    since: float = 0.0,
    until: float = 0.0,
    tail: int | None = None,
    running: Callable[[], Awaitable[bool]] | None = None,
    poll_interval: float = 0.1,
    pause: Callable[[float], Awaitable[None]] | None = None,
) -> AsyncIterator[LogRecord]:
    """Records from ``path`` (and its rotated files), filtered by time and ``tail``.

    With ``follow``, keeps reading new records, from one file to the next as
    the log rotates, until ``running()`` says the container has stopped and
    the files hold nothing more. Between looks it waits ``poll_interval``
    seconds, or ``pause(poll_interval)``, which may end sooner (when the
    container's state changes).
    """

    def wanted(record: LogRecord) -> bool:
        return record.time >= since and (not until or record.time <= until)

    def parsed(lines: list[bytes]) -> list[LogRecord]:
        records = (parse_line(raw) for raw in lines)
        return [r for r in records if r is not None and wanted(r)]

    existing: deque[LogRecord] | list[LogRecord] = deque(maxlen=tail) if tail is not None else []
    chain = LogChain(path)
    try:
        rotated, live = chain.open()[:-1], chain.current
        if tail != 0:
            for file in rotated:
                existing.extend(parsed(file.read().splitlines()))
        buffer = b""
        if live is not None:
            *lines, buffer = live.read().split(b"\n")  # a fragment waits for its end
            existing.extend(parsed(lines))
        for record in existing:
            yield record
        if not follow:
            return
        while True:
            current = chain.current
            chunk = current.read() if current is not None else b""
            if chunk:
                *lines, buffer = (buffer + chunk).split(b"\n")
                for record in parsed(lines):
                    yield record
                continue
            following = chain.successor()
            if following is not None:
                if current is not None:  # complete now that a newer file exists: its last bytes
                    for record in parsed((buffer + current.read()).split(b"\n")):
                        yield record
                chain.advance(following)
                buffer = b""
                continue
            if running is None or not await running():
                if current is None or not current.read(1):
                    return
                current.seek(-1, os.SEEK_CUR)
                continue
            await (pause or anyio.sleep)(poll_interval)
    finally:
        chain.close()
