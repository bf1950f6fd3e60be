"""The CRI log format: written by monitors, read back by the engine."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from pouch.logs import LogRecord, LogWriter, format_time, parse_line, parse_time, read_logs

pytestmark = pytest.mark.anyio


async def collect(path: Path, **options: object) -> list[LogRecord]:
    return [r async for r in read_logs(path, **options)]  # type: ignore[arg-type]


def test_time_round_trips_with_nanoseconds() -> None:
    text = format_time(1_700_000_000_123_456_789)
    assert text == "2023-11-14T22:13:20.123456789Z"
    assert parse_time(text) == pytest.approx(1_700_000_000.123456789)
    assert parse_time("2023-11-14T23:13:20+01:00") == 1_700_000_000


def test_parse_line_splits_fields_and_rejects_garbage() -> None:
    record = parse_line(b"2023-11-14T22:13:20.5Z stderr P half a line")
    assert record is not None
    assert (record.stream, record.partial, record.message) == ("stderr", True, b"half a line")
    assert parse_line(b"2023-11-14T22:13:20Z stdout F") is not None  # an empty line
    assert parse_line(b"not a log line") is None
    assert parse_line(b"2023-11-14T22:13:20Z stdin F x") is None


async def test_writer_marks_partial_lines_and_reader_filters(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = LogWriter(path)
    writer.write("stdout", b"one\ntwo\nhalf")
    writer.write("stderr", b"oops\n")
    writer.close()
    records = await collect(path)
    assert [(r.stream, r.partial, r.message) for r in records] == [
        ("stdout", False, b"one"),
        ("stdout", False, b"two"),
        ("stdout", True, b"half"),
        ("stderr", False, b"oops"),
    ]
    assert [r.message for r in await collect(path, tail=2)] == [b"half", b"oops"]
    assert await collect(path, tail=0) == []
    assert await collect(path, since=time.time() + 60) == []


async def test_writer_replaces_the_file_at_max_size_and_the_engine_keeps_generations(
    tmp_path: Path,
) -> None:
    from pouch.engine._logrotate import rotate_once

    path = tmp_path / "c.log"
    writer = LogWriter(path, max_size=200)
    rotate_once(path, 3)  # the engine links the live file
    for n in range(30):
        writer.write("stdout", f"line {n:02d}\n".encode())
        rotate_once(path, 3)
    writer.close()
    names = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".link"))
    assert names == ["c.log", "c.log.1", "c.log.2"]
    messages = [r.message for r in await collect(path)]
    assert messages == sorted(messages) and messages[-1] == b"line 29"
    assert len(messages) < 30  # the oldest generation was dropped


async def test_follow_sees_new_lines_and_ends_when_the_container_stops(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = LogWriter(path)
    writer.write("stdout", b"first\n")
    alive = True

    async def running() -> bool:
        return alive

    seen: list[bytes] = []

    async def follow() -> None:
        async for record in read_logs(path, follow=True, running=running, poll_interval=0.01):
            seen.append(record.message)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(follow)
            await anyio.sleep(0.1)
            writer.write("stdout", b"second\n")
            await anyio.sleep(0.1)
            writer.write("stdout", b"third\n")
            alive = False
    writer.close()
    assert seen == [b"first", b"second", b"third"]


def test_rotation_keeps_the_replaced_file_as_the_next_generation(tmp_path: Path) -> None:
    from pouch.engine._logrotate import rotate_once

    log = tmp_path / "container.log"
    log.write_bytes(b"first\n")
    assert not rotate_once(log, 3)  # the first look only links the current file
    for text in (b"second\n", b"third\n", b"fourth\n"):
        replacement = tmp_path / "new"
        replacement.write_bytes(text)
        replacement.replace(log)  # what a monitor does at max-size
        assert rotate_once(log, 3)
    assert (tmp_path / "container.log").read_bytes() == b"fourth\n"
    assert (tmp_path / "container.log.1").read_bytes() == b"third\n"
    assert (tmp_path / "container.log.2").read_bytes() == b"second\n"
    assert not (tmp_path / "container.log.3").exists()


def test_writer_follows_a_file_moved_away_from_the_path(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    writer = LogWriter(log)
    writer.write("stdout", b"before\n")
    log.rename(tmp_path / "c.log.rotated")  # kubelet's rotation
    writer.write("stdout", b"after missing\n")  # no file at the path: made anew
    (tmp_path / "fresh").write_bytes(b"")
    (tmp_path / "fresh").rename(log)  # a file put in its place is written to
    writer.write("stderr", b"after replaced\n")
    writer.close()
    assert (tmp_path / "c.log.rotated").read_bytes().endswith(b"stdout F before\n")
    assert log.read_bytes().endswith(b"stderr F after replaced\n")
    assert b"before" not in log.read_bytes()
