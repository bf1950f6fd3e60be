"""Helpers and fixtures for the image store tests.

Layer tarballs are built here with ``tarfile``; real mounts are always undone.
The project runs pytest in importlib mode, so test modules cannot import this
file: they get the helpers through the ``kit`` fixture.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest

from pouch.drivers import Mount
from pouch.images import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Descriptor,
    Image,
    ImageDocument,
    ImageStore,
    Manifest,
    RootFS,
    host_platform,
)
from pouch.oci.image import ImageConfig
from pouch.store import Database

MTIME = 946684800  # 2000-01-01T00:00:00Z


class Layer:
    """Entries of one layer tarball, written with ``tarfile`` in PAX format."""

    def __init__(self) -> None:
        self.entries: list[tuple[tarfile.TarInfo, bytes | None]] = []

    def _add(self, info: tarfile.TarInfo, data: bytes | None = None) -> Layer:
        info.mtime = info.mtime or MTIME
        info.uname = info.gname = ""
        if data is not None:
            info.size = len(data)
        self.entries.append((info, data))
        return self

    @staticmethod
    def _info(name: str, kind: bytes, mode: int, uid: int = 0, gid: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.uid, info.gid = kind, mode, uid, gid
        return info

    def dir(self, name: str, mode: int = 0o755, *, uid: int = 0, gid: int = 0) -> Layer:
        return self._add(self._info(name, tarfile.DIRTYPE, mode, uid, gid))

    def file(
        self,
        name: str,
        data: bytes = b"",
        mode: int = 0o644,
        *,
        uid: int = 0,
        gid: int = 0,
        mtime: int = MTIME,
        xattrs: dict[str, bytes] | None = None,
    ) -> Layer:
        info = self._info(name, tarfile.REGTYPE, mode, uid, gid)
        info.mtime = mtime
        info.pax_headers = {
            f"SCHILY.xattr.{key}": value.decode("utf-8", "surrogateescape")
            for key, value in (xattrs or {}).items()
        }
        return self._add(info, data)

    def symlink(self, name: str, target: str) -> Layer:
        info = self._info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        return self._add(info)

    def hardlink(self, name: str, target: str) -> Layer:
        info = self._info(name, tarfile.LNKTYPE, 0o644)
        info.linkname = target
        return self._add(info)

    def device(self, name: str, major: int, minor: int, *, block: bool = False) -> Layer:
        info = self._info(name, tarfile.BLKTYPE if block else tarfile.CHRTYPE, 0o666)
        info.devmajor, info.devminor = major, minor
        return self._add(info)

    def fifo(self, name: str) -> Layer:
        return self._add(self._info(name, tarfile.FIFOTYPE, 0o600))

    def whiteout(self, path: str) -> Layer:
        parent, _, name = path.rpartition("/")
        return self.file(f"{parent}/.wh.{name}" if parent else f".wh.{name}")

    def opaque(self, directory: str) -> Layer:
        return self.file(f"{directory}/.wh..wh..opq")

    def tobytes(self, *, compress: bool = False) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for info, content in self.entries:
                tar.addfile(info, io.BytesIO(content) if content is not None else None)
        data = buffer.getvalue()
        return gzip.compress(data, mtime=0) if compress else data

    def write(self, path: Path, *, compress: bool = False) -> Path:
        path.write_bytes(self.tobytes(compress=compress))
        return path


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def manifest_for(
    store: ImageStore, layers: list[bytes], *, config: ImageConfig | None = None
) -> Descriptor:
    """Write layer, config and manifest blobs for ``layers`` (tar bytes, maybe gzipped)."""
    descriptors, diff_ids = [], []
    for data in layers:
        compressed = data[:2] == b"\x1f\x8b"
        diff_ids.append(sha256(gzip.decompress(data) if compressed else data))
        digest = store.content.write(data)
        media = OCI_LAYER_GZIP if compressed else OCI_LAYER
        descriptors.append(Descriptor(mediaType=media, digest=digest, size=len(data)))
    platform = host_platform()
    document = ImageDocument(
        created="2024-05-01T10:00:00.123456789Z",
        architecture=platform.architecture,
        os=platform.os,
        config=config or ImageConfig(cmd=["sh"]),
        rootfs=RootFS(type="layers", diff_ids=diff_ids),
    )
    config_bytes = msgspec.json.encode(document)
    config_digest = store.content.write(config_bytes)
    manifest = Manifest(
        schemaVersion=2,
        mediaType=OCI_MANIFEST,
        config=Descriptor(mediaType=OCI_CONFIG, digest=config_digest, size=len(config_bytes)),
        layers=descriptors,
    )
    raw = msgspec.json.encode(manifest)
    return Descriptor(mediaType=OCI_MANIFEST, digest=store.content.write(raw), size=len(raw))


@pytest.fixture(autouse=True)
def _skip_root_tests_unless_root(request: pytest.FixtureRequest) -> None:
    # The pouch pytest plugin does this too, when pouch is installed rather than on PYTHONPATH.
    if request.node.get_closest_marker("root") and os.geteuid() != 0:
        pytest.skip("needs root (mknod, chown, mount)")


@contextmanager
def mounted(mounts: list[Mount], target: Path) -> Iterator[Path]:
    """Mount the snapshot's mounts on ``target`` for the block; always unmounted after."""
    target.mkdir(parents=True, exist_ok=True)
    done: list[Path] = []
    try:
        for mount in mounts:
            if mount.type == "bind":  # "rbind" in the options makes mount(8) bind
                command = ["mount", "-o", ",".join(mount.options), mount.source]
            else:
                command = ["mount", "-t", mount.type, "-o", ",".join(mount.options), mount.source]
            subprocess.run([*command, str(target)], check=True, capture_output=True)
            done.append(target)
        yield target
    finally:
        for path in reversed(done):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(path)], capture_output=True)


def visible(root: Path) -> set[str]:
    """Every path under ``root`` as a user of the mount sees it."""
    found = set()
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(top, name), root))
    return found


@pytest.fixture
def root_dir() -> Iterator[Path]:
    """A short state root: overlay options list every layer's path."""
    path = Path(tempfile.mkdtemp(prefix="p", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def store(root_dir: Path) -> Iterator[ImageStore]:
    db = Database(root_dir / "pouch.db")
    try:
        yield ImageStore(root_dir, db)
    finally:
        db.close()


@pytest.fixture
def build_image(store: ImageStore) -> Callable[..., Image]:
    def build(layers: list[bytes], name: str = "example.com/app:1") -> Image:
        return store.add_image(manifest_for(store, layers), names=[name])

    return build


class Kit:
    """What the tests use from here (importlib mode: modules cannot import conftest)."""

    Layer = Layer
    sha256 = staticmethod(sha256)
    manifest_for = staticmethod(manifest_for)
    mounted = staticmethod(mounted)
    visible = staticmethod(visible)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
