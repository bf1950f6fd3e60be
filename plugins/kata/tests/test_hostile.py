"""A VM that cannot come up: a clear error, and nothing of it left behind.

Slow: each case starts QEMU (under TCG).
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from pouch_kata._assets import INITRAMFS, MANIFEST, VMLINUX, Assets, sha256_file
from pouch_kata._guest import state_root

from pouch.config import EngineConfig
from pouch.engine import Engine
from pouch.errors import PouchError
from pouch.models import ContainerConfig

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.anyio]


@pytest.fixture
def broken_assets(guest_assets: Assets, tmp_path: Path) -> Path:
    """The real kernel with an initramfs whose /init is not there: the guest panics."""
    directory = tmp_path / "assets"
    directory.mkdir()
    shutil.copy2(guest_assets.vmlinux, directory / VMLINUX)
    with gzip.open(directory / INITRAMFS, "wb") as out:
        out.write(b"070701" + b"0" * 104)  # the start of a cpio header and nothing more
    manifest = msgspec.json.decode((guest_assets.directory / MANIFEST).read_bytes())
    manifest["initramfs_sha256"] = sha256_file(directory / INITRAMFS)
    (directory / MANIFEST).write_bytes(msgspec.json.encode(manifest))
    return directory


@pytest.fixture
def pouch_config(pouch_config: EngineConfig, broken_assets: Path) -> Iterator[EngineConfig]:
    settings = {"assets": str(broken_assets), "accel": "tcg"}
    yield msgspec.structs.replace(pouch_config, plugin={"kata": settings})


def _left(run_root: Path) -> list[str]:
    where = str(state_root(run_root))
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if where.encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
    if where in Path("/proc/self/mountinfo").read_text():
        found.append("a mount")
    root = state_root(run_root)
    if root.is_dir():
        found += [f"directory {p.name}" for p in root.iterdir()]
    return found


async def test_a_guest_that_does_not_boot_is_a_clear_error(
    engine: Engine, busybox: str, pouch_config: EngineConfig
) -> None:
    container = await engine.create(ContainerConfig(image=busybox, cmd=["true"], runtime="kata"))
    with pytest.raises(PouchError) as caught:
        await engine.start(container.id)
    message = str(caught.value)
    assert "kata:" in message and "guest console:" in message, message
    assert not _left(pouch_config.run_root)
    await engine.remove(container.id)
