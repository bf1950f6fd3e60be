"""The initramfs archive: newc entries the kernel (and GNU cpio) can read back."""

from __future__ import annotations

import gzip
import io
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from pouch_kata._cpio import CpioWriter, read_newc


def archive() -> bytes:
    raw = io.BytesIO()
    out = CpioWriter(raw, mtime=1_700_000_000)
    out.directory("bin")
    out.file("bin/busybox", b"\x7fELF" + b"x" * 1001, 0o755)
    out.symlink("bin/sh", "/bin/busybox")
    out.file("init", b"#!/bin/sh\n", 0o755)
    out.close()
    return raw.getvalue()


def test_entries_read_back_with_modes_and_data() -> None:
    entries = read_newc(archive())
    assert [name for name, _, _ in entries] == ["bin", "bin/busybox", "bin/sh", "init"]
    modes = {name: mode for name, mode, _ in entries}
    assert stat.S_ISDIR(modes["bin"])
    assert modes["bin/busybox"] == stat.S_IFREG | 0o755
    assert stat.S_ISLNK(modes["bin/sh"])
    data = {name: body for name, _, body in entries}
    assert data["bin/sh"] == b"/bin/busybox"
    assert data["bin/busybox"] == b"\x7fELF" + b"x" * 1001


def test_padded_to_whole_blocks_and_gzip_is_read_too() -> None:
    blob = archive()
    assert len(blob) % 512 == 0
    assert read_newc(gzip.compress(blob)) == read_newc(blob)


def test_same_inputs_same_bytes() -> None:
    assert archive() == archive()


def test_a_name_written_twice_is_refused() -> None:
    out = CpioWriter(io.BytesIO())
    out.directory("etc")
    with pytest.raises(ValueError, match="twice"):
        out.directory("etc")


@pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio not installed")
def test_gnu_cpio_lists_it(tmp_path: Path) -> None:
    listing = subprocess.run(
        ["cpio", "-t", "--quiet"], input=archive(), capture_output=True, check=True
    ).stdout.decode()
    assert listing.split() == ["bin", "bin/busybox", "bin/sh", "init"]
