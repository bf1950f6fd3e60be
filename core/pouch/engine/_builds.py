"""Builds: the request checked, the builder chosen, the work traced.

The builder (``pouch.builders``) does the work through the engine's public
API; this module only makes sure what reaches it is sound: a Dockerfile path
inside the context, a builder that exists.
"""

from __future__ import annotations

import contextlib
import shutil
import tarfile
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import anyio

from pouch.builders import BuildOutput, BuildRequest
from pouch.errors import InvalidArgument, NotSupported
from pouch.images import parse_reference
from pouch.telemetry import operation

if TYPE_CHECKING:
    from pouch.engine import Engine

__all__ = ["build", "prune", "unpacked_context"]


def _check(request: BuildRequest) -> None:
    dockerfile = PurePosixPath(request.dockerfile)
    if not request.dockerfile or dockerfile.is_absolute() or ".." in dockerfile.parts:
        raise InvalidArgument(
            f"the Dockerfile {request.dockerfile!r} must be a path inside the build context",
            field="dockerfile",
        )
    if not request.context.is_dir():
        raise InvalidArgument(f"the build context {request.context} is not a directory")
    for tag in request.tags:
        try:
            parse_reference(tag)
        except InvalidArgument as exc:
            raise InvalidArgument(f"invalid tag {tag!r}: {exc}", field="t") from None


def _unpack(archive: Path, directory: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            # The "data" filter refuses what a context has no business holding:
            # absolute paths, "..", links reaching out of it, device nodes.
            tar.extractall(directory, filter="data")
    except tarfile.FilterError as exc:
        raise InvalidArgument(f"the build context is refused: {exc}", field="context") from None
    except (tarfile.TarError, EOFError) as exc:
        raise InvalidArgument(
            f"the build context is not a tar archive (plain, gzip, bzip2 or xz): {exc}",
            field="context",
        ) from None


@contextlib.asynccontextmanager
async def unpacked_context(engine: Engine, archive: Path) -> AsyncIterator[Path]:
    """The build context ``archive`` unpacked in a directory of its own, removed after."""
    parent = engine.config.run_root / "builds"
    parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory = Path(tempfile.mkdtemp(dir=parent, prefix="context-"))
    try:
        await anyio.to_thread.run_sync(_unpack, archive, directory)
        yield directory
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(shutil.rmtree, directory, True)


async def build(engine: Engine, request: BuildRequest, output: BuildOutput, name: str) -> str:
    builders = engine.kernel.builders
    if not name and not builders.names():
        raise NotSupported(
            "no image builder is installed here: pip install pouch-build, then restart pouchd"
        )
    builder = builders.get(name) if name else next(iter(builders))
    _check(request)
    with operation("image.build") as span:
        span.set_attribute("pouch.builder.name", builder.name)
        image_id = await builder.build(engine, request, output)
    for tag in request.tags:
        await engine.images.tag(image_id, tag)
    return image_id


async def prune(engine: Engine) -> list[str]:
    """Every builder's cache forgotten; what they removed."""
    removed: list[str] = []
    for builder in engine.kernel.builders:
        removed += await builder.prune(engine)
    return removed
