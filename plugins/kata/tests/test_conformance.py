"""The runtime conformance suite against kata: every container a QEMU micro-VM.

Slow: each test boots at least one VM (about 3 s under TCG, more on a busy
host); the guest assets are built once per session by the conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest
from pouch_kata._assets import Assets

from pouch.config import EngineConfig
from pouch.testing.conformance import RuntimeConformance

pytestmark = [pytest.mark.root, pytest.mark.slow]


class TestKata(RuntimeConformance):
    runtime = "kata"
    timeout = 300.0  # under TCG on a busy host the log rotation test alone takes minutes

    @pytest.fixture
    def pouch_config(
        self, pouch_config: EngineConfig, guest_assets: Assets
    ) -> Iterator[EngineConfig]:
        """The engine uses the assets the conftest built (under TCG: no probe)."""
        settings = {"assets": str(guest_assets.directory), "accel": "tcg"}
        yield msgspec.structs.replace(pouch_config, plugin={"kata": settings})
