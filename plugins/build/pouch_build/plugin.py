"""The entry point: registers the ``classic`` builder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pouch.markers import hookimpl
from pouch_build.builder import ClassicBuilder

if TYPE_CHECKING:
    from pouch.builders import Builder
    from pouch.config import EngineConfig

__all__ = ["pouch_add_builders"]


@hookimpl
def pouch_add_builders(config: EngineConfig) -> list[Builder]:
    return [ClassicBuilder(config.root / "build")]
