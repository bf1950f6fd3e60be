"""The engine's rotation of a log whose monitor only reopens it when told (conmon)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import anyio
import pytest

from pouch.engine._logrotate import LogRotations, next_look
from pouch.logs import format_time, read_logs

pytestmark = pytest.mark.anyio


class HeldFile:
    """Writes like conmon: to the file it opened, until told to reopen; then it
    makes ``<log>.tmp`` and renames it to the log's path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: BinaryIO = open(path, "ab")  # noqa: SIM115 - closed by close()
        self.reopens = 0

    def write(self, n: int) -> None:
        stamp = format_time(1_700_000_000_000_000_000 + n)
        self.file.write(f"{stamp} stdout F line {n}\n".encode())
        self.file.flush()

    async def reopen(self) -> None:
        self.file.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        self.file = open(tmp, "wb")  # noqa: SIM115, ASYNC230 - as conmon does
        os.rename(tmp, self.path)
        self.reopens += 1

    def close(self) -> None:
        self.file.close()


async def test_rotates_at_max_size_keeping_max_files_without_loss(tmp_path: Path) -> None:
    log = tmp_path / "container.log"
    (tmp_path / "container.log.link").write_bytes(b"")  # what an older engine left
    writer = HeldFile(log)
    most = 0
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            rotations = LogRotations(tg)
            rotations.keep("c" * 64, log, 1000, 2, writer.reopen)
            for chunk in range(10):  # 30 lines, about 1.3 kB: one rotation each
                for n in range(chunk * 30, chunk * 30 + 30):
                    writer.write(n)
                    most = max(most, len(os.listdir(tmp_path)))
                while writer.reopens <= chunk:
                    await anyio.sleep(0.005)
            rotations.stop("c" * 64)
    writer.close()
    assert most == 2
    assert sorted(os.listdir(tmp_path)) == ["container.log", "container.log.1"]
    lines = [r.message async for r in read_logs(log)]
    assert lines == [f"line {n}".encode() for n in range(270, 300)]


async def test_one_file_means_the_full_one_goes(tmp_path: Path) -> None:
    log = tmp_path / "container.log"
    writer = HeldFile(log)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            rotations = LogRotations(tg)
            rotations.keep("c" * 64, log, 1000, 1, writer.reopen)
            for n in range(30):
                writer.write(n)
            while not writer.reopens:
                await anyio.sleep(0.005)
            writer.write(30)
            rotations.stop("c" * 64)
    writer.close()
    assert os.listdir(tmp_path) == ["container.log"]
    assert [r.message async for r in read_logs(log)] == [b"line 30"]


def test_a_fast_log_is_looked_at_often_a_quiet_one_rarely() -> None:
    assert next_look(1_000_000, 0.0) == 0.5
    assert next_look(1_000_000, 100_000_000.0) == 0.005
    assert next_look(1_000_000, 10_000_000.0) == pytest.approx(0.05)
