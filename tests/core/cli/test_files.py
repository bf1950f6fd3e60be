"""``pouch cp``, ``diff``, ``export``, ``commit``, ``history``, ``system df``: real pouchd."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from .conftest import Pouch

pytestmark = pytest.mark.slow


def test_cp_diff_export_commit_history_df(cli: Pouch, tmp_path: Path) -> None:
    source = tmp_path / "note.txt"
    source.write_text("from the host\n")
    cli.ok("create", "--name", "box", "busybox", "cat", "/root/note.txt")
    cli.ok("cp", str(source), "box:/root/note.txt")  # a stopped container, a new name
    assert cli.ok("start", "-a", "box") == "from the host\n"
    cli.ok("cp", "box:/root/note.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "from the host\n"
    (tmp_path / "out").mkdir()
    cli.ok("cp", "box:/etc", str(tmp_path / "out"))
    assert (tmp_path / "out" / "etc" / "passwd").exists()
    missing = cli("cp", "box:/nothing", str(tmp_path))
    assert missing.status != 0 and "Could not find the file /nothing" in missing.err

    diff = cli.ok("diff", "box").splitlines()
    assert "C /root" in diff and "A /root/note.txt" in diff

    exported = subprocess.run(
        [sys.executable, "-m", "pouch", "export", "box"],
        env=cli.env,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        assert "root/note.txt" in tar.getnames()

    image = cli.ok("commit", "-c", "CMD cat /root/note.txt", "-m", "noted", "box", "noted:1")
    assert image.startswith("sha256:")
    assert cli.ok("run", "--rm", "noted:1") == "from the host\n"
    history = cli.ok("history", "noted:1").splitlines()
    assert history[0].split()[:2] == ["IMAGE", "CREATED"]
    assert history[1].startswith(image.strip().removeprefix("sha256:")[:12])
    assert "noted" in history[1] and history[2].startswith("<missing>")

    df = cli.ok("system", "df").splitlines()
    assert [line.split()[0] for line in df] == ["TYPE", "Images", "Containers", "Local", "Build"]
    assert "box" in cli.ok("system", "df", "-v")
