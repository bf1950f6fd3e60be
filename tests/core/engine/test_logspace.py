"""pouchd says once that a container's log stops being written for want of space, once it resumes.

The filesystem's verdict is given by the test; the probe itself is checked on
this host's filesystems (which have room), and on a full one by the
full-disk tests of the daemon.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pouch.engine._logspace import LogSpace, out_of_space


def test_one_line_when_full_and_one_when_freed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "state"
    log_dir = root / "containers" / "c1"
    log_dir.mkdir(parents=True)
    full = {"now": False}
    space = LogSpace(lambda: [], root, full=lambda directory: full["now"])
    logs = [("c1" + "0" * 62, "chatty", log_dir / "container.log")]
    caplog.set_level(logging.INFO, logger="pouch.engine._logspace")

    space.check(logs)
    assert caplog.messages == []
    full["now"] = True
    for _ in range(5):  # the container goes on writing: still one line
        space.check(logs)
    full["now"] = False
    space.check(logs)
    space.check(logs)

    assert caplog.messages == [
        f"container c10000000000 (chatty): no space left on device for its log"
        f" {log_dir}/container.log; its output is dropped, and the container runs on, until"
        f" space is freed on the filesystem of {root}",
        f"container c10000000000 (chatty): space is free again on the filesystem of {root};"
        f" its log {log_dir}/container.log is written again",
    ]


def test_a_container_gone_while_full_is_forgotten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    space = LogSpace(lambda: [], tmp_path, full=lambda directory: True)
    caplog.set_level(logging.INFO, logger="pouch.engine._logspace")
    space.check([("c1" * 32, "one", tmp_path / "container.log")])
    space.check([])
    space.check([("c1" * 32, "one", tmp_path / "container.log")])
    assert len(caplog.messages) == 2  # said again for the new run, never "written again"
    assert all("no space left on device" in message for message in caplog.messages)


def test_a_filesystem_with_room_is_not_full(tmp_path: Path) -> None:
    assert not out_of_space(tmp_path)
