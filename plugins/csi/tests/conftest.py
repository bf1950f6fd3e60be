"""Fixtures of the CSI tests: a real ``pouch-csi-hostdir`` and engines that know it.

``hostdir`` is the driver process (``pouch_csi.testing``); ``csi_settings``
the ``[plugin.csi]`` table that registers it as ``hostdir``, with a short
retry interval so that steps retried after a failure are seen within a test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pouch_csi.testing import HostdirDriver, running_hostdir

pytestmark = pytest.mark.root


@pytest.fixture
def hostdir(tmp_path: Path) -> Iterator[HostdirDriver]:
    with running_hostdir(tmp_path / "hostdir") as driver:
        yield driver


def csi_settings(driver: HostdirDriver, name: str = "hostdir") -> dict[str, object]:
    return {"drivers": {name: {"endpoint": driver.endpoint, "timeout": 20}}, "retry_interval": 0.2}
