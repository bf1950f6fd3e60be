"""``--log-opt max-size/max-file`` on runc, as a user of ``pouch`` sees it.

conmon does not rotate: pouchd does, and asks conmon to reopen. At no moment
may the container's log directory hold more than ``max-file`` log files, and
``pouch logs`` (also ``-f``, across rotations) shows the kept lines with none
missing or twice.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pouch.testing.daemon import PouchDaemon

pytestmark = [pytest.mark.root, pytest.mark.binary("runc", "conmon")]

# Numbers 0, 1, 2 … one a line; stops at SIGTERM.
CHATTY = "trap 'exit 0' TERM; i=0; while :; do echo $i; i=$((i+1)); done"


@pytest.fixture
def pouch_runtime() -> str:
    return "runc"


def pouch(daemon: PouchDaemon, *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pouch", *args],
        env={**os.environ, "POUCH_HOST": daemon.host},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"pouch {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture
def detached(pouchd: PouchDaemon, pouchd_busybox: str) -> Iterator[list[str]]:
    """IDs of the containers a test runs; removed, running or not, after it."""
    ids: list[str] = []
    yield ids
    for container in ids:
        subprocess.run(
            [sys.executable, "-m", "pouch", "rm", "-f", container],
            env={**os.environ, "POUCH_HOST": pouchd.host},
            capture_output=True,
            timeout=60,
            check=False,
        )


def run(daemon: PouchDaemon, ids: list[str], size: str, files: int, script: str) -> str:
    container = pouch(
        daemon,
        "run",
        "-d",
        "--log-opt",
        f"max-size={size}",
        "--log-opt",
        f"max-file={files}",
        "busybox",
        "sh",
        "-c",
        script,
    ).strip()
    ids.append(container)
    return container


def log_files(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.startswith("container.log"))


def gaps(numbers: list[int]) -> list[tuple[int, int]]:
    return [(a, b) for a, b in itertools.pairwise(numbers) if b != a + 1]


def test_a_chatty_container_never_has_more_than_max_file_logs(
    pouchd: PouchDaemon, detached: list[str]
) -> None:
    container = run(pouchd, detached, "64k", 2, CHATTY)
    directory = Path(pouchd.json("GET", f"/containers/{container}/json")["LogPath"]).parent
    too_many: list[list[str]] = []
    rotated = False
    for _ in range(400):
        names = log_files(directory)
        if len(names) > 2:
            too_many.append(names)
        rotated = rotated or "container.log.1" in names
        time.sleep(0.005)
    pouch(pouchd, "stop", "-t", "10", container)
    assert too_many == [], f"more than max-file=2 log files: {too_many[:5]}"
    assert rotated, "the log never rotated"
    assert len(log_files(directory)) <= 2

    numbers = [int(line) for line in pouch(pouchd, "logs", container).split()]
    assert numbers and numbers[0] > 0  # the oldest lines went with the dropped files
    assert gaps(numbers) == []  # and no kept line is missing or shown twice


def test_logs_follow_goes_on_across_rotations(pouchd: PouchDaemon, detached: list[str]) -> None:
    # 64 kB hold about 1400 lines; the output starts once the follower is likely there.
    script = "sleep 1; i=0; while [ $i -lt 8000 ]; do echo $i; i=$((i+1)); usleep 300; done"
    container = run(pouchd, detached, "64k", 2, script)
    follower = subprocess.run(
        [sys.executable, "-m", "pouch", "logs", "-f", container],
        env={**os.environ, "POUCH_HOST": pouchd.host},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert follower.returncode == 0, follower.stderr
    numbers = [int(line) for line in follower.stdout.split()]
    assert gaps(numbers) == []
    assert numbers[-1] == 7999  # it ended with the container, after its last line
    assert len(numbers) > 3 * 1400, "the follower did not see several rotations"
    directory = Path(pouchd.json("GET", f"/containers/{container}/json")["LogPath"]).parent
    assert log_files(directory) == ["container.log", "container.log.1"]
