"""The CRI log format: written by monitors, read back by the engine."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from pouch._logfiles import rotate
from pouch.logs import LogRecord, LogWriter, format_time, parse_line, parse_time, read_logs

pytestmark = pytest.mark.anyio


async def collect(path: Path, **options: object) -> list[LogRecord]:
    return [r async for r in read_logs(path, **options)]  # type: ignore[arg-type]


class Follower:
    """``read_logs(follow=True)`` of ``path`` in a task, until ``alive`` is False."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.alive = True
        self.seen: list[LogRecord] = []

    async def running(self) -> bool:
        return self.alive

    async def run(self) -> None:
        async for record in read_logs(
            self.path, follow=True, running=self.running, poll_interval=0.01
        ):
            self.seen.append(record)


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


def numbers(records: list[LogRecord]) -> list[int]:
    return [int(r.message.split()[-1]) for r in records]


async def test_writer_rotates_at_max_size_keeping_max_files(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = LogWriter(path, max_size=200, max_files=3)
    most = 0
    for n in range(30):
        writer.write("stdout", f"line {n}\n".encode())
        most = max(most, len(list(tmp_path.iterdir())))
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.log", "c.log.1", "c.log.2"]
    assert most == 3
    found = numbers(await collect(path))
    assert found == list(range(found[0], 30)) and found[0] > 0  # the oldest dropped, no gap


async def test_writer_with_one_file_keeps_only_the_live_one(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = LogWriter(path, max_size=200)
    for n in range(32):
        writer.write("stdout", f"line {n}\n".encode())
        assert [p.name for p in tmp_path.iterdir()] == ["c.log"]
    writer.close()
    found = numbers(await collect(path))
    assert found == list(range(found[0], 32)) and found[0] > 0


def test_rotate_moves_each_generation_up_and_drops_the_oldest(tmp_path: Path) -> None:
    log = tmp_path / "container.log"
    for name, text in (
        ("container.log", "live"),
        ("container.log.1", "one"),
        ("container.log.2", "two"),
    ):
        (tmp_path / name).write_text(text)
    rotate(log, 3)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {
        "container.log.1": "live",
        "container.log.2": "one",
    }
    log.write_text("new")
    rotate(log, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["container.log.1", "container.log.2"]


async def test_follow_goes_on_across_rotations_without_loss_or_repeat(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = LogWriter(path, max_size=300, max_files=2)  # a new file every 7 lines
    follower = Follower(path)
    seen = follower.seen

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(follower.run)
            for batch in range(20):  # 5 lines a batch: the follower is never a file behind
                for n in range(batch * 5, batch * 5 + 5):
                    writer.write("stdout", f"line {n}\n".encode())
                while len(seen) < batch * 5 + 5:
                    await anyio.sleep(0.01)
            follower.alive = False
    writer.close()
    assert numbers(seen) == list(range(100))


async def test_the_newest_file_is_read_as_live_until_the_writer_makes_the_next(
    tmp_path: Path,
) -> None:
    """Between a rotation and the monitor's reopen the log path is missing, and the
    monitor still writes to the file that became ``.1``."""
    path = tmp_path / "c.log"
    held = open(tmp_path / "c.log.1", "ab")  # noqa: SIM115, ASYNC230 - what conmon holds
    held.write(b"2023-11-14T22:13:20Z stdout F line 0\n")
    held.flush()
    follower = Follower(path)
    seen = follower.seen

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(follower.run)
            while not seen:
                await anyio.sleep(0.01)
            held.write(b"2023-11-14T22:13:21Z stdout F line 1\n")
            held.flush()
            held.close()
            path.write_bytes(b"2023-11-14T22:13:22Z stdout F line 2\n")  # the reopened file
            while len(seen) < 3:
                await anyio.sleep(0.01)
            follower.alive = False
    assert numbers(seen) == [0, 1, 2]
    assert numbers(await collect(path)) == [0, 1, 2]


async def test_follow_sees_new_lines_and_ends_when_the_container_stops(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = LogWriter(path)
    writer.write("stdout", b"first\n")
    follower = Follower(path)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(follower.run)
            await anyio.sleep(0.1)
            writer.write("stdout", b"second\n")
            await anyio.sleep(0.1)
            writer.write("stdout", b"third\n")
            follower.alive = False
    writer.close()
    assert [r.message for r in follower.seen] == [b"first", b"second", b"third"]


async def test_follow_reads_no_file_twice_when_the_path_is_replaced_again(
    tmp_path: Path,
) -> None:
    """kubelet's rotation: the log renamed, an empty file made at the path, which
    conmon's reopen then replaces by its own."""
    path = tmp_path / "c.log"
    path.write_bytes(
        b"2023-11-14T22:13:20Z stdout F line 0\n2023-11-14T22:13:20Z stdout F line 1\n"
    )
    follower = Follower(path)
    seen = follower.seen

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(follower.run)
            while len(seen) < 2:
                await anyio.sleep(0.01)
            path.rename(tmp_path / "c.log.1")
            path.write_bytes(b"")
            await anyio.sleep(0.1)  # the follower moves on to the empty file
            (tmp_path / "c.log.tmp").write_bytes(b"2023-11-14T22:13:21Z stdout F line 2\n")
            (tmp_path / "c.log.tmp").rename(path)
            while len(seen) < 3:
                await anyio.sleep(0.01)
            await anyio.sleep(0.1)  # time to read anything twice
            follower.alive = False
    assert numbers(seen) == [0, 1, 2]


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


def test_writer_on_a_full_disk_drops_whole_records_and_goes_on(tmp_path: Path) -> None:
    """Out of space the writer drops records whole (no half line, no exception
    that would end the monitor's pump) and writes again once space is back."""
    from pouch.testing.full_disk import loop_filesystem

    with loop_filesystem(tmp_path, size_mib=16) as disk:
        path = disk.mount / "container.log"
        writer = LogWriter(path)
        writer.write("stdout", b"before\n")
        disk.fill()
        line = b"x" * 3000 + b"\n"
        for _ in range(2000):  # more than any slack the filesystem keeps
            writer.write("stdout", line)
        assert writer.dropped > 0
        disk.free()
        writer.write("stdout", b"after\n")
        writer.close()
        records = [parse_line(raw) for raw in path.read_bytes().splitlines()]
        assert all(r is not None for r in records)  # every line a whole record
        texts = [r.message for r in records if r is not None]
        assert texts[0] == b"before" and texts[-1] == b"after"
        assert set(texts[1:-1]) <= {b"x" * 3000}
