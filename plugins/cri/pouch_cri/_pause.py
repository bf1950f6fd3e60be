"""The default sandbox image: the pod's infra process, built here, offline.

``pause/pause.c`` ships in the distribution; it is compiled static with the
host's C compiler (Debian's ``gcc`` and ``libc6-dev``) the first time a pod
needs it, into a cache keyed by the source's digest, and imported into the
engine's store as a one-file image. A configured ``sandbox_image`` other than
the default is pulled like any image instead.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import anyio

from pouch.engine import Engine
from pouch.errors import NoSuchObject, PouchError
from pouch.images import Image
from pouch.oci.image import ImageConfig

__all__ = ["DEFAULT_SANDBOX_IMAGE", "PauseBuildError", "build_pause", "ensure_sandbox_image"]

DEFAULT_SANDBOX_IMAGE = "localhost/pouch/pause:1.0"
_SOURCE = Path(__file__).resolve().parent / "pause" / "pause.c"


class PauseBuildError(PouchError):
    """The pause binary could not be built (no compiler, or the build failed)."""

    status = 503


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pouch-cri"


def build_pause(cache: Path | None = None) -> Path:
    """The static pause binary, compiled once per version of its source."""
    source = _SOURCE.read_bytes()
    directory = cache or _cache_dir()
    binary = directory / f"pause-{hashlib.sha256(source).hexdigest()[:16]}"
    if binary.exists():
        return binary
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise PauseBuildError(
            "no C compiler to build the pod infra process: apt-get install gcc libc6-dev,"
            " or set [plugin.cri] sandbox_image to a pause image you pulled"
        )
    directory.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f".{binary.name}.{os.getpid()}")
    done = subprocess.run(
        [compiler, "-static", "-Os", "-s", "-o", str(partial), str(_SOURCE)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise PauseBuildError(
            f"building the pause binary failed (is libc6-dev installed?): {done.stderr.strip()}"
        )
    partial.replace(binary)
    return binary


def _rootfs_tar(binary: Path) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tar.gettarinfo(str(binary), arcname="pause")
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode = 0o755
        with binary.open("rb") as stream:
            tar.addfile(info, stream)
    return out.getvalue()


async def ensure_sandbox_image(engine: Engine, reference: str) -> Image:
    """The sandbox image, built and imported (the default) or pulled (another)."""
    try:
        return await engine.images.inspect(reference)
    except NoSuchObject:
        pass
    if reference != DEFAULT_SANDBOX_IMAGE:
        await engine.images.pull(reference)
        return await engine.images.inspect(reference)
    binary = await anyio.to_thread.run_sync(build_pause)
    tar = await anyio.to_thread.run_sync(_rootfs_tar, binary)
    config = ImageConfig(entrypoint=["/pause"], labels={"io.pouch.cri.pause": "1.0"})
    return await engine.images.import_rootfs(io.BytesIO(tar), reference, config=config)
