"""What a crash leaves with no record naming it is gone once the engine starts again.

Each leftover is made as a ``kill -9`` at the wrong moment would leave it: a
network namespace pinned (a real bind mount) but never recorded, a container
directory and writable snapshot whose record was never added. What records
do name is kept.
"""

from __future__ import annotations

import os
import shutil

import pytest

from pouch import ContainerConfig
from pouch.config import EngineConfig
from pouch.mounts import is_mountpoint, unmount
from pouch.netns import create_netns
from pouch.testing import EngineFactory

pytestmark = pytest.mark.anyio


async def test_a_crash_s_leftovers_are_swept_and_records_kept(
    engine_factory: EngineFactory, pouch_config: EngineConfig, busybox: str
) -> None:
    async with engine_factory() as engine:
        kept = await engine.create(ContainerConfig(image=busybox, cmd=["true"]))
        store = engine.images.store
        store.rootfs("f" * 64, busybox)  # a create cut short before its record
    stray_dir = pouch_config.root / "containers" / ("f" * 64)
    stray_dir.mkdir(parents=True)
    stray_bundle = pouch_config.run_root / "containers" / ("e" * 64)
    stray_bundle.mkdir(parents=True)
    netns_dir = pouch_config.run_root / "netns"
    pinned = netns_dir / ("d" * 64)
    unpinned = netns_dir / ("c" * 64)
    if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"):
        await create_netns(pinned)
        assert is_mountpoint(pinned)
    else:
        pinned.parent.mkdir(parents=True, exist_ok=True)
        pinned.touch()
    unpinned.touch()  # the file is made before the namespace is pinned on it

    try:
        async with engine_factory() as engine:
            assert engine.lookup(kept.id).id == kept.id
            assert (pouch_config.root / "containers" / kept.id).is_dir()
            assert engine.images.store.writable(kept.id).is_dir()
            assert not engine.images.store.snapshots.exists("f" * 64)
        assert not stray_dir.exists()
        assert not stray_bundle.exists()
        assert not pinned.exists() and not unpinned.exists()
    finally:
        if is_mountpoint(pinned):
            unmount(pinned)
