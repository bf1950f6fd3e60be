"""Container logs in the CRI line format, as conmon writes them.

One record a line: ``<RFC 3339 nano time> <stdout|stderr> <F|P> <text>``, where
``P`` marks a partial line continued by the next record. Every runtime's
monitor writes this format (``LogWriter`` is the reference writer); the engine
only reads it (``read_logs``), so logs stay readable while pouchd is down and
after it restarts. Rotation keeps ``path.1`` … ``path.N`` beside the file.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import BinaryIO, Literal

import anyio
import msgspec

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


class LogWriter:
    """Appends records; at ``max_size`` bytes starts a new file in the log's place.

    The old file is replaced (a new one renamed over it), as conmon does, not
    truncated: the engine holds a hard link to the live file and keeps the
    replaced one as a generation (``pouch.engine._logrotate``) when ``max-file`` asks.
    """

    def __init__(self, path: Path, *, max_size: int = 0) -> None:
        self.path = path
        self.max_size = max_size
        self._file: BinaryIO = open(path, "ab")  # noqa: SIM115 - kept open for the writer's life

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
        self._file.write(b"".join(out))
        self._file.flush()
        if self.max_size and self._file.tell() >= self.max_size:
            self._replace()

    def _follow(self) -> None:
        try:
            moved = os.stat(self.path).st_ino != os.fstat(self._file.fileno()).st_ino
        except FileNotFoundError:
            moved = True
        if moved:
            self._file.close()
            self._file = open(self.path, "ab")  # noqa: SIM115

    def _replace(self) -> None:
        self._file.close()
        fresh = self.path.with_name(f".{self.path.name}.new")
        fresh.write_bytes(b"")
        os.replace(fresh, self.path)
        self._file = open(self.path, "ab")  # noqa: SIM115

    def close(self) -> None:
        self._file.close()


def _files(path: Path) -> list[Path]:
    """The rotated files oldest first, then the live one."""
    rotated = []
    index = 1
    while (candidate := path.with_name(f"{path.name}.{index}")).exists():
        rotated.append(candidate)
        index += 1
    return [*reversed(rotated), path]


async def read_logs(
    path: Path,
    *,
    follow: bool = False,
    since: float = 0.0,
    until: float = 0.0,
    tail: int | None = None,
    running: Callable[[], Awaitable[bool]] | None = None,
    poll_interval: float = 0.1,
) -> AsyncIterator[LogRecord]:
    """Records from ``path`` (and its rotated files), filtered by time and ``tail``.

    With ``follow``, keeps reading new records until ``running()`` says the
    container has stopped and the file holds nothing more.
    """

    def wanted(record: LogRecord) -> bool:
        return record.time >= since and (not until or record.time <= until)

    existing: deque[LogRecord] | list[LogRecord] = deque(maxlen=tail) if tail is not None else []
    if tail != 0:
        for file in _files(path)[:-1]:
            for raw in file.read_bytes().splitlines():
                record = parse_line(raw)
                if record is not None and wanted(record):
                    existing.append(record)
    try:
        handle = open(path, "rb")  # noqa: SIM115, ASYNC230 - local file, read in small steps
    except FileNotFoundError:
        for record in existing:
            yield record
        return
    try:
        for raw in handle.read().splitlines(keepends=True):
            if not raw.endswith(b"\n"):
                handle.seek(-len(raw), os.SEEK_CUR)
                break
            record = parse_line(raw[:-1])
            if record is not None and wanted(record):
                existing.append(record)
        for record in existing:
            yield record
        if not follow:
            return
        buffer = b""
        while True:
            chunk = handle.read()
            if chunk:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for raw in lines:
                    record = parse_line(raw)
                    if record is not None and wanted(record):
                        yield record
                continue
            try:
                current = os.stat(path)
            except FileNotFoundError:
                return  # the container and its log were removed while we followed
            if current.st_ino != os.fstat(handle.fileno()).st_ino or (
                handle.tell() > current.st_size
            ):
                handle.close()
                handle = open(path, "rb")  # noqa: SIM115, ASYNC230 - rotated under us
                continue
            if running is not None and not await running():
                if not handle.read(1):
                    return
                handle.seek(-1, os.SEEK_CUR)
                continue
            await anyio.sleep(poll_interval)
    finally:
        handle.close()
