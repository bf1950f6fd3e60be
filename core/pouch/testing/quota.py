"""A loop-mounted filesystem with project quota, for tests of sized directories and volumes.

``prjquota_filesystem("xfs")`` (or ``"ext4"``) makes a small image under /tmp,
formats it, loop-mounts it with ``prjquota`` and yields the mount point;
lazily unmounted and removed at the end, even when the test fails. Where the
kernel has no project quota (CONFIG_QUOTA for ext4, CONFIG_XFS_QUOTA for
xfs) or mkfs is missing, the test is skipped saying which.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["prjquota_filesystem"]

_MKFS = {"ext4": ["mkfs.ext4", "-q", "-O", "quota,project"], "xfs": ["mkfs.xfs", "-q"]}


@contextlib.contextmanager
def prjquota_filesystem(fstype: str, size: str = "300M") -> Iterator[Path]:
    mkfs = _MKFS[fstype]
    if shutil.which(mkfs[0]) is None:
        pytest.skip(f"{mkfs[0]} is not installed")
    work = Path(tempfile.mkdtemp(prefix="pouch-quota-", dir="/tmp"))
    image, mount = work / f"{fstype}.img", work / "mnt"
    mount.mkdir()
    try:
        subprocess.run(["truncate", "-s", size, str(image)], check=True)
        subprocess.run([*mkfs, str(image)], check=True, capture_output=True)
        mounted = subprocess.run(
            ["mount", "-o", "loop,prjquota", str(image), str(mount)], capture_output=True, text=True
        )
        if mounted.returncode != 0:
            pytest.skip(
                f"cannot mount {fstype} with prjquota here ({mounted.stderr.strip()[:80]}…):"
                " this kernel lacks project quota (CONFIG_QUOTA / CONFIG_XFS_QUOTA)"
            )
        try:
            yield mount
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
