"""Test images built offline from files on this host: no registry, no network.

``LayerBuilder`` collects the entries of one image layer (directories, files,
symlinks, hard links, whiteouts) and writes them as a deterministic tar:
entries sorted by path, fixed mtimes and owners, no user or group names, so the
same input always gives the same bytes and therefore the same digest.
``busybox_rootfs_tar`` uses it for the rootfs every conformance test runs in:
Debian's statically linked busybox plus the handful of files a shell needs.

This module builds tarballs only; importing them is ``ImageStore``'s job.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import posixpath
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from pouch.oci.image import ImageConfig

__all__ = [
    "BUSYBOX_CONFIG",
    "BUSYBOX_PATH",
    "BusyboxMissing",
    "LayerBuilder",
    "busybox_layer",
    "busybox_rootfs_tar",
]

# Where Debian's busybox-static package installs its binary.
BUSYBOX_PATH = Path("/bin/busybox")

# The image config ``busybox:latest`` is imported with, as Docker Hub's has it.
BUSYBOX_CONFIG = ImageConfig(
    env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    cmd=["sh"],
)

# 2000-01-01T00:00:00Z: any fixed time works, zero upsets some tar readers.
FIXED_MTIME = 946684800

_PASSWD = b"""\
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
_GROUP = b"""\
root:x:0:
nogroup:x:65534:
"""


class BusyboxMissing(RuntimeError):
    """The static busybox binary the test images are made of is not installed."""


class _Entry:
    __slots__ = ("data", "gid", "kind", "linkname", "mode", "source", "uid")

    def __init__(
        self,
        kind: bytes,
        mode: int,
        *,
        uid: int = 0,
        gid: int = 0,
        data: bytes = b"",
        source: Path | None = None,
        linkname: str = "",
    ) -> None:
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.data = data
        self.source = source
        self.linkname = linkname


def _clean(path: str) -> str:
    """``/bin/sh`` and ``bin/sh/`` → ``bin/sh``; refuses to leave the root."""
    norm = posixpath.normpath(path.strip("/") or ".")
    if norm == "." or norm == ".." or norm.startswith("../"):
        raise ValueError(f"{path!r} is not a path inside the layer")
    return norm


class LayerBuilder:
    """The entries of one layer, written as a reproducible tar.

    Paths are absolute or relative to the layer's root, interchangeably. Missing
    parent directories are added (0755, root) when the layer is written, unless
    ``parents=False`` — useful for a layer that must only hold whiteouts.
    Adding a path twice replaces the earlier entry. Methods return the builder,
    so calls chain.
    """

    def __init__(self, *, mtime: int = FIXED_MTIME, parents: bool = True) -> None:
        self.mtime = mtime
        self.parents = parents
        self._entries: dict[str, _Entry] = {}

    def dir(self, path: str, mode: int = 0o755, *, uid: int = 0, gid: int = 0) -> LayerBuilder:
        self._entries[_clean(path)] = _Entry(tarfile.DIRTYPE, mode, uid=uid, gid=gid)
        return self

    def file(
        self, path: str, data: bytes = b"", mode: int = 0o644, *, uid: int = 0, gid: int = 0
    ) -> LayerBuilder:
        self._entries[_clean(path)] = _Entry(tarfile.REGTYPE, mode, uid=uid, gid=gid, data=data)
        return self

    def copy(self, path: str, source: Path, mode: int | None = None) -> LayerBuilder:
        """A regular file with the content of ``source`` (read when the layer is written)."""
        if mode is None:
            mode = stat.S_IMODE(source.stat().st_mode)
        self._entries[_clean(path)] = _Entry(tarfile.REGTYPE, mode, source=source)
        return self

    def symlink(self, path: str, target: str) -> LayerBuilder:
        self._entries[_clean(path)] = _Entry(tarfile.SYMTYPE, 0o777, linkname=target)
        return self

    def link(self, path: str, target: str) -> LayerBuilder:
        """A hard link to ``target``, which must be in this layer as well."""
        self._entries[_clean(path)] = _Entry(tarfile.LNKTYPE, 0o644, linkname=_clean(target))
        return self

    def whiteout(self, path: str) -> LayerBuilder:
        """Delete ``path`` of the layers below (the ``.wh.<name>`` marker of the image spec)."""
        parent, name = posixpath.split(_clean(path))
        return self.file(posixpath.join(parent, ".wh." + name), mode=0o600)

    def opaque(self, path: str) -> LayerBuilder:
        """Hide everything the layers below hold under directory ``path``."""
        self.dir(path)
        return self.file(posixpath.join(_clean(path), ".wh..wh..opq"), mode=0o600)

    def paths(self) -> list[str]:
        return sorted(self._entries)

    def _members(self) -> Iterator[tuple[str, _Entry]]:
        entries = dict(self._entries)
        if self.parents:
            for path in list(entries):
                parent = posixpath.dirname(path)
                while parent and parent not in entries:
                    entries[parent] = _Entry(tarfile.DIRTYPE, 0o755)
                    parent = posixpath.dirname(parent)
        for path in sorted(entries, key=lambda p: p.split("/")):
            yield path, entries[path]

    def write(self, dest: Path | BinaryIO, *, compress: bool = False) -> str:
        """Write the tar (gzipped with ``compress``) to a file or stream; return its digest."""
        if isinstance(dest, Path):
            with open(dest, "wb") as out:
                return self.write(out, compress=compress)
        hashing = _HashingWriter(dest)
        sink = cast(BinaryIO, hashing)
        if compress:
            # mtime=0 and no file name keep the gzip header reproducible too.
            with gzip.GzipFile(fileobj=sink, mode="wb", mtime=0, filename="") as zipped:
                self._write_tar(cast(BinaryIO, zipped))
        else:
            self._write_tar(sink)
        return "sha256:" + hashing.sha256.hexdigest()

    def tobytes(self, *, compress: bool = False) -> bytes:
        buffer = io.BytesIO()
        self.write(buffer, compress=compress)
        return buffer.getvalue()

    def _write_tar(self, out: BinaryIO) -> None:
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path, entry in self._members():
                info = tarfile.TarInfo(path)
                info.type = entry.kind
                info.mode = entry.mode
                info.uid, info.gid = entry.uid, entry.gid
                info.uname = info.gname = ""
                info.mtime = self.mtime
                info.linkname = entry.linkname
                if entry.kind != tarfile.REGTYPE:
                    tar.addfile(info)
                elif entry.source is not None:
                    with open(entry.source, "rb") as content:
                        info.size = entry.source.stat().st_size
                        tar.addfile(info, content)
                else:
                    info.size = len(entry.data)
                    tar.addfile(info, io.BytesIO(entry.data))


class _HashingWriter:
    """Passes writes through to ``out`` and hashes them on the way."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.written = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.out.write(data)
        self.written += len(data)
        return len(data)

    def tell(self) -> int:
        return self.written

    def flush(self) -> None:
        self.out.flush()


def _applets(busybox: Path) -> list[str]:
    result = subprocess.run([str(busybox), "--list"], capture_output=True, check=True, timeout=30)
    return sorted({name for name in result.stdout.decode().split() if "/" not in name})


def busybox_layer(busybox: Path = BUSYBOX_PATH) -> LayerBuilder:
    """The entries of the busybox rootfs, for a test to extend before writing."""
    if not busybox.is_file():
        raise BusyboxMissing(
            f"{busybox} not found: the test images need Debian's static busybox; "
            "run 'apt-get install busybox-static'"
        )
    layer = LayerBuilder()
    for directory in ("bin", "etc", "dev", "proc", "sys", "usr", "usr/bin", "var"):
        layer.dir(directory)
    layer.dir("root", 0o700)
    layer.dir("tmp", 0o1777)
    layer.dir("var/tmp", 0o1777)
    layer.copy("bin/busybox", busybox, 0o755)
    for applet in _applets(busybox):
        if applet != "busybox":
            layer.symlink(f"bin/{applet}", "busybox")
    layer.file("etc/passwd", _PASSWD)
    layer.file("etc/group", _GROUP)
    return layer


def busybox_rootfs_tar(dest: Path, *, busybox: Path = BUSYBOX_PATH) -> Path:
    """Write the busybox rootfs tarball to ``dest`` (a file, or a directory to put one in)."""
    if dest.is_dir():
        dest = dest / "busybox-rootfs.tar"
    busybox_layer(busybox).write(dest)
    return dest


# -- registry test images -------------------------------------------------------
# The push-ready images (``single_layer_image``, ``whiteout_image``, ``zstd_image``,
# ``multi_platform_image``, ``many_layers_image``, ``push_image_to_registry`` …)
# live in ``pouch.testing.registry_images`` to keep both modules small; they
# are reachable from here too. Imported lazily: they need ``pouch.distribution``.
_REGISTRY_IMAGES = frozenset(
    {
        "WHITEOUT_DATA",
        "TestImage",
        "busybox_layer_bytes",
        "image_from_layers",
        "many_layers_image",
        "multi_platform_image",
        "push_image_to_registry",
        "push_test_image",
        "single_layer_image",
        "whiteout_image",
        "zstd_image",
    }
)


def __getattr__(name: str) -> Any:
    if name in _REGISTRY_IMAGES:
        from pouch.testing import registry_images

        return getattr(registry_images, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
