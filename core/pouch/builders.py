"""Image builders: what a plugin implements to turn a build context into an image.

A plugin returns builders from ``pouch_add_builders``; the engine picks one
by name (the first registered when none is asked for) and calls ``build``
with the engine itself, so a builder runs its steps as containers on any
installed runtime and stores results in the engine's image store through
the engine's public API. ``POST /build``, ``pouch build`` and docker's
clients reach it through ``Engine.build``.

This module defines the contract only; it must not import the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import msgspec

from pouch.drivers import DriverInfo

if TYPE_CHECKING:
    from pouch.engine import Engine

__all__ = ["BuildOutput", "BuildRequest", "Builder"]


class BuildRequest(msgspec.Struct, kw_only=True):
    """One build, as ``docker build``'s flags and the Engine API's ``/build`` ask it."""

    #: the build context: a directory the builder may read, not change.
    context: Path
    #: the Dockerfile: a path relative to the context.
    dockerfile: str = "Dockerfile"
    #: ``-t``: references to tag the result with.
    tags: list[str] = []
    #: ``--build-arg NAME=VALUE``; a None value takes the variable from nowhere (unset).
    build_args: dict[str, str | None] = {}
    #: ``--label``: labels added to the final image.
    labels: dict[str, str] = {}
    #: ``--target``: the stage to stop at (its name); "" builds the last one.
    target: str = ""
    #: ``--no-cache``: run every step.
    no_cache: bool = False
    #: ``--pull``: fetch every ``FROM`` image again.
    pull: bool = False
    #: ``--network`` for ``RUN`` steps: "" (the engine's default), "none", "host" or a name.
    network: str = ""
    #: ``--platform``: "" is the host's.
    platform: str = ""
    #: the runtime of the step containers; "" is the engine's default.
    runtime: str = ""


class BuildOutput(Protocol):
    """Where a builder reports progress, in the lines ``docker build`` prints."""

    async def write(self, text: str) -> None:
        """Text for the user (``Step 2/5 : RUN make``, a step's output …)."""


class Builder(Protocol):
    """Builds images from a context and a Dockerfile (``pouch build``)."""

    #: the name a build selects it by.
    name: str

    def describe(self) -> DriverInfo:
        """Name, version and details for ``pouch info``."""

    async def build(self, engine: Engine, request: BuildRequest, output: BuildOutput) -> str:
        """Build; return the image's ID. ``InvalidArgument`` (naming the
        instruction or option) for a bad Dockerfile or request, ``PouchError``
        for a failed step; nothing the build made stays behind but cached
        results."""

    async def prune(self, engine: Engine) -> list[str]:
        """Forget the build cache (``pouch builder prune``); the IDs of what was removed."""
