"""A small loop-mounted ext4 filesystem that a test can fill up and free again.

``loop_filesystem(work)`` makes an image file under ``work``, formats it
(ext4 without blocks reserved for root, so "full" means full for pouchd
too), attaches it to a loop device, mounts it and yields a
``LoopFilesystem``; at the end the filler is deleted, the filesystem
unmounted and the loop device detached, also when the test failed. Where
this host cannot (not root, no ``mkfs.ext4`` or ``losetup``, no loop
devices), the test is skipped saying why. A mount still busy at the end is
detached lazily and then reported as a failure: something the test started
was left holding it.

``LoopFilesystem.fill(leave)`` takes the free space with one filler file
(``fallocate``, then writes until the kernel says no), ``free()`` deletes it.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["LoopFilesystem", "loop_filesystem"]

_CHUNK = 64 * 1024
_MARGIN = 1 << 20  # left to the filesystem's own metadata by the fallocate step
_TOOLS = ("mkfs.ext4", "losetup", "mount", "umount")


class LoopFilesystem:
    """A mounted filesystem at ``mount`` and its filler file."""

    def __init__(self, mount: Path, device: str) -> None:
        self.mount = mount
        self.device = device
        self.filler = mount / "filler"

    def available(self) -> int:
        """Bytes a writer can still have, as ``df`` shows them."""
        st = os.statvfs(self.mount)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int = 0) -> int:
        """Take all but about ``leave`` bytes (with 0: every byte a write can get); what is left."""
        # Unbuffered: a buffer would fail again to flush when the file is closed.
        with open(self.filler, "ab", buffering=0) as out:
            wanted = self.available() - leave - _MARGIN
            if wanted > 0:
                with contextlib.suppress(OSError):
                    os.posix_fallocate(out.fileno(), os.fstat(out.fileno()).st_size, wanted)
            chunk = b"\0" * _CHUNK
            for _ in range(self.available() // _CHUNK + 1024):  # bounded: the space is finite
                if leave and self.available() <= leave:
                    break
                try:
                    out.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
        return self.available()

    def free(self) -> None:
        """Delete the filler: the space is back."""
        self.filler.unlink(missing_ok=True)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@contextlib.contextmanager
def loop_filesystem(work: Path, size_mib: int = 128) -> Iterator[LoopFilesystem]:
    """A ``size_mib`` MiB ext4 filesystem mounted under ``work`` for the block."""
    if os.geteuid() != 0:
        pytest.skip("a loop-mounted filesystem needs root")
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"a loop-mounted filesystem needs {', '.join(missing)} (e2fsprogs, mount)")
    image, mount = work / "disk.img", work / "disk"
    mount.mkdir(parents=True)
    with open(image, "wb") as sparse:
        sparse.truncate(size_mib << 20)
    made = _run("mkfs.ext4", "-q", "-F", "-m", "0", str(image))
    if made.returncode != 0:
        image.unlink()
        pytest.skip(f"mkfs.ext4 failed: {made.stderr.strip()[:200]}")
    attached = _run("losetup", "--find", "--show", str(image))
    if attached.returncode != 0:
        image.unlink()
        pytest.skip(f"no loop device here: {attached.stderr.strip()[:200]}")
    device = attached.stdout.strip()
    busy = ""
    try:
        mounted = _run("mount", "-t", "ext4", device, str(mount))
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a loop device here: {mounted.stderr.strip()[:200]}")
        filesystem = LoopFilesystem(mount, device)
        try:
            yield filesystem
        finally:
            filesystem.free()
            # An engine this process ran on the filesystem (the kit's cleanup of a
            # pouchd) may leave a plugin's SQLite connection for the collector.
            gc.collect()
            unmounted = _run("umount", str(mount))
            if unmounted.returncode != 0:
                busy = unmounted.stderr.strip()
                _run("umount", "-l", str(mount))
    finally:
        _run("losetup", "-d", device)
        image.unlink(missing_ok=True)
    if busy:
        raise AssertionError(f"{mount} was still busy at the end (detached lazily): {busy}")
