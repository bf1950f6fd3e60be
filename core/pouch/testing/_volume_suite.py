"""``VolumeDriverConformance``: the class a volume plugin subclasses, and what its tests share.

The class names the driver under test and the options its volumes are made
with; its tests live in ``_volume_tests``. Containers run on the runtime
``preferred_runtime()`` picks (runc where this host can run it); the tests
that look at a volume's data from inside containers skip where that runtime
has no namespaces (and so mounts nothing).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, ClassVar

import anyio
import pytest

from pouch.drivers import Capability, VolumeDriver, VolumeInfo
from pouch.errors import NoSuchObject
from pouch.models import Mount
from pouch.testing import _volume_tests
from pouch.testing._suite import SuiteBase, driver_unavailable, with_tests
from pouch.testing.daemon import preferred_runtime

if TYPE_CHECKING:
    from pouch.engine import Engine

__all__ = ["VolumeDriverConformance"]


@with_tests(_volume_tests)
class VolumeDriverConformance(SuiteBase):
    """Subclass it as ``Test<Driver>`` and set ``driver`` to the volume driver's name."""

    #: the volume driver under test.
    driver: ClassVar[str] = ""
    #: an option and a value ``create`` must refuse, with ``InvalidArgument``
    #: naming ``bad_option_field`` (the option itself when empty).
    bad_option: ClassVar[tuple[str, str]] = ("kit-no-such-option", "1")
    bad_option_field: ClassVar[str] = ""
    runtime: ClassVar[str] = preferred_runtime()[0]

    def volume_options(self) -> dict[str, str]:
        """Options every volume of the tests is created with; override for a driver's needs."""
        return {}

    def volume_driver(self, engine: Engine) -> VolumeDriver:
        reason = driver_unavailable(engine, "volume", self.driver)
        if reason is not None:
            pytest.skip(reason)
        return engine.kernel.volumes.get(self.driver)

    def declares(self, engine: Engine, capability: Capability) -> bool:
        return capability in self.volume_driver(engine).describe().capabilities

    def mount(self, name: str = "", *, read_only: bool = False) -> Mount:
        """A volume of the driver at /data; an anonymous one without ``name``."""
        return Mount(
            type="volume", source=name, target="/data", read_only=read_only, driver=self.driver
        )

    @contextlib.asynccontextmanager
    async def volume(self, driver: VolumeDriver) -> AsyncIterator[VolumeInfo]:
        """A new volume on the driver object; removed at the end unless the test did."""
        name = "kit-" + secrets.token_hex(4)
        info = await driver.create(name, self.volume_options(), {"pouch.testing": "kit"})
        try:
            yield info
        finally:
            with anyio.CancelScope(shield=True), contextlib.suppress(NoSuchObject):
                await driver.remove(name)
