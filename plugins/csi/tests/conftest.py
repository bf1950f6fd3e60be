"""Fixtures of the CSI tests: a real ``pouch-csi-hostdir`` and engines that know it.

``hostdir`` is the driver process (``pouch_csi.testing``); ``csi_settings``
the ``[plugin.csi]`` table that registers it as ``hostdir``, with a short
retry interval so that steps retried after a failure are seen within a test;
``pouch()`` runs the pouch CLI (and so ``pouch csi``) against a pouchd;
``clean`` checks, after a test, that nothing stays mounted under pouchd's run
root or the driver's root and that no loop device points into the driver.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pouch_csi.testing import HostdirDriver, running_hostdir, unmount_under

from pouch.testing.daemon import PouchDaemon, preferred_runtime

pytestmark = pytest.mark.root


@pytest.fixture
def hostdir(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HostdirDriver]:
    """The driver, with the flags a test class names in ``hostdir_flags``."""
    flags = getattr(request.cls, "hostdir_flags", ())
    with running_hostdir(tmp_path / "hostdir", *flags) as driver:
        yield driver


def csi_settings(driver: HostdirDriver, name: str = "hostdir") -> dict[str, object]:
    return {"drivers": {name: {"endpoint": driver.endpoint, "timeout": 20}}, "retry_interval": 0.2}


BIN = Path(sys.executable).parent


@pytest.fixture
def pouch_runtime() -> str:
    runtime, reason = preferred_runtime()
    if runtime != "runc":
        pytest.skip(reason)
    return runtime


@pytest.fixture
def clean(pouchd: PouchDaemon, hostdir: HostdirDriver) -> Iterator[None]:
    yield
    left = unmount_under(pouchd.run_root, hostdir.root)
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    assert str(hostdir.root) not in loops, loops
    assert not left, f"left mounted: {left}"


def pouch(pouchd: PouchDaemon, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POUCH_HOST": pouchd.host, "PATH": f"{BIN}:{os.environ['PATH']}"}
    done = subprocess.run(
        [str(BIN / "pouch"), *args], env=env, capture_output=True, text=True, timeout=120
    )
    if check:
        assert done.returncode == 0, (args, done.stdout, done.stderr, pouchd.log()[-3000:])
    return done
