"""The hostdir driver's volumes and snapshots: under its root, a JSON file each.

A volume is ``<root>/volumes/<id>/`` with ``volume.json`` (what the
controller knows: name, capacity, parameters, the nodes it is published to)
and its data in one of two *backings*:

- ``directory``: the files are in ``data/``; a size is an ext4/xfs project
  quota on it (``pouch.quota``), which needs a root on a filesystem mounted
  with ``prjquota``;
- ``image``: the files are in a filesystem (ext4 by default, or the
  capability's ``fs_type``) made in a sparse file ``image`` of the size asked,
  loop-mounted by the Node service; the size holds on any kernel.

The parameter ``backing`` picks one; ``auto`` (the default) takes a directory
when there is no size or the root has project quota, an image otherwise.
Snapshots (``<root>/snapshots/<id>/``) are copies of the data (an image is
copied sparse, with its filesystem frozen while mounted). IDs are derived
from the name, so a repeated ``CreateVolume`` finds what the first one made.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import TypeVar

import msgspec

from pouch.mounts import mount_table
from pouch.quota import Projects, QuotaError, clear, limit, support

__all__ = [
    "BACKINGS",
    "SnapshotRecord",
    "Store",
    "StoreError",
    "VolumeRecord",
    "loop_mounts",
    "run",
]

BACKINGS = ("auto", "directory", "image")
FILESYSTEMS = {"ext4": ["mkfs.ext4", "-q", "-F", "-m", "0"], "xfs": ["mkfs.xfs", "-q", "-f"]}
MIN_IMAGE = {"ext4": 1 << 20, "xfs": 300 << 20}  # what mkfs accepts


class StoreError(Exception):
    """A volume cannot be made as asked; the message says why."""


class VolumeRecord(msgspec.Struct, omit_defaults=True, kw_only=True):
    id: str
    name: str
    capacity: int = 0
    parameters: dict[str, str] = {}
    backing: str = "directory"
    fstype: str = ""  # of an image
    # "project" when a directory's size is enforced, "none" when it is only recorded.
    quota: str = "none"
    source_snapshot: str = ""
    source_volume: str = ""
    published_nodes: list[str] = []
    # An image whose file grew while mounted: its filesystem grows before the next mount.
    needs_grow: bool = False
    # Publish-only mode: the targets bound from the driver's own mount of an image.
    node_targets: list[str] = []
    created_at: float = 0.0


class SnapshotRecord(msgspec.Struct, omit_defaults=True, kw_only=True):
    id: str
    name: str
    source_volume: str
    backing: str = "directory"
    fstype: str = ""
    size: int = 0
    created_at: float = 0.0


_R = TypeVar("_R", bound=msgspec.Struct)


def _id(kind: str, name: str) -> str:
    return f"{kind}-" + hashlib.sha256(name.encode()).hexdigest()[:24]


def run(*argv: str, ok: tuple[int, ...] = (0,)) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode not in ok:
        raise StoreError(f"{argv[0]} failed: {done.stderr.strip() or done.stdout.strip()}")


def loop_mounts(image: Path) -> list[str]:
    """Where ``image`` is loop-mounted now (its loop devices' mount points)."""
    listed = subprocess.run(
        ["losetup", "--noheadings", "--output", "NAME", "--associated", str(image)],
        capture_output=True,
        text=True,
    )
    devices = set(listed.stdout.split())
    return [entry.point for entry in mount_table() if entry.source in devices]


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.projects = Projects(root / "projects.json")
        (root / "volumes").mkdir(parents=True, exist_ok=True)
        (root / "snapshots").mkdir(parents=True, exist_ok=True)

    # -- volumes -------------------------------------------------------------------

    def volume_dir(self, volume_id: str) -> Path:
        if "/" in volume_id or volume_id in ("", ".", ".."):
            raise KeyError(volume_id)
        return self.root / "volumes" / volume_id

    def data(self, volume_id: str) -> Path:
        """A directory volume's files."""
        return self.volume_dir(volume_id) / "data"

    def image(self, volume_id: str) -> Path:
        """An image volume's filesystem image."""
        return self.volume_dir(volume_id) / "image"

    def volume(self, volume_id: str) -> VolumeRecord:
        """The volume ``volume_id``; ``KeyError`` when there is none."""
        return _load(self.volume_dir(volume_id) / "volume.json", VolumeRecord)

    def volume_by_name(self, name: str) -> VolumeRecord | None:
        try:
            return self.volume(_id("vol", name))
        except KeyError:
            return None

    def volumes(self) -> list[VolumeRecord]:
        return _load_all(self.root / "volumes", "volume.json", VolumeRecord)

    def save_volume(self, record: VolumeRecord) -> None:
        _write(self.volume_dir(record.id) / "volume.json", record)

    def choose_backing(self, backing: str, capacity: int, fstype: str) -> str:
        if backing not in BACKINGS:
            raise StoreError(f"backing is one of {', '.join(BACKINGS)}, not {backing!r}")
        if fstype and fstype not in FILESYSTEMS:
            raise StoreError(f"fs_type {fstype!r} is not supported (ext4, xfs)")
        if backing == "auto":
            quota = support(self.root).startswith("project")
            backing = "directory" if not capacity or quota else "image"
        if backing == "image":
            if not capacity:
                raise StoreError("an image volume needs a size (capacity_range)")
            fs = fstype or "ext4"
            if capacity < MIN_IMAGE[fs]:
                raise StoreError(f"an {fs} image needs at least {MIN_IMAGE[fs]} bytes")
        elif fstype:
            raise StoreError(f"fs_type {fstype} needs backing=image (a directory has none)")
        return backing

    def create_volume(
        self,
        name: str,
        capacity: int,
        parameters: dict[str, str],
        *,
        backing: str,
        fstype: str = "",
        snapshot: SnapshotRecord | None = None,
        clone_of: VolumeRecord | None = None,
    ) -> VolumeRecord:
        origin = snapshot or clone_of
        if origin is not None and origin.backing != backing:
            raise StoreError(f"the source is a {origin.backing} volume, this one a {backing}")
        record = VolumeRecord(
            id=_id("vol", name),
            name=name,
            capacity=capacity,
            parameters=parameters,
            backing=backing,
            fstype=(fstype or "ext4") if backing == "image" else "",
            source_snapshot=snapshot.id if snapshot else "",
            source_volume=clone_of.id if clone_of else "",
            created_at=time.time(),
        )
        directory = self.volume_dir(record.id)
        shutil.rmtree(directory, ignore_errors=True)  # what a crashed create left
        directory.mkdir(parents=True)
        try:
            if backing == "image":
                self._make_image(record, snapshot, clone_of)
            else:
                self._make_directory(record, snapshot, clone_of)
            self.save_volume(record)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            clear(None, record.id, self.projects)
            raise
        return record

    def _make_directory(
        self, record: VolumeRecord, snapshot: SnapshotRecord | None, clone: VolumeRecord | None
    ) -> None:
        if snapshot is not None:
            shutil.copytree(
                self.snapshot_dir(snapshot.id) / "data", self.data(record.id), symlinks=True
            )
        elif clone is not None:
            shutil.copytree(self.data(clone.id), self.data(record.id), symlinks=True)
        else:
            self.data(record.id).mkdir()
        if record.capacity:
            record.quota = self._limit(record.id, record.capacity)

    def _make_image(
        self, record: VolumeRecord, snapshot: SnapshotRecord | None, clone: VolumeRecord | None
    ) -> None:
        image = self.image(record.id)
        if snapshot is None and clone is None:
            with open(image, "wb") as file:
                file.truncate(record.capacity)
            run(*FILESYSTEMS[record.fstype], str(image))
            return
        if snapshot is not None:
            copy_image(self.snapshot_dir(snapshot.id) / "image", image)
        elif clone is not None:
            copy_image(self.image(clone.id), image)
        if record.capacity > image.stat().st_size:
            os.truncate(image, record.capacity)
            grow_offline(image, record.fstype)
        record.capacity = image.stat().st_size

    def _limit(self, volume_id: str, capacity: int) -> str:
        try:
            limit(self.data(volume_id), volume_id, capacity, self.projects, field="capacity")
        except QuotaError:
            return "none"
        return "project"

    def expand(self, record: VolumeRecord, capacity: int) -> VolumeRecord:
        """Grow the volume's limit or image file; the filesystem grows on the node."""
        record.capacity = capacity
        if record.backing == "image":
            os.truncate(self.image(record.id), capacity)
            record.needs_grow = bool(loop_mounts(self.image(record.id)))
            if not record.needs_grow:
                grow_offline(self.image(record.id), record.fstype)
        else:
            record.quota = self._limit(record.id, capacity)
        self.save_volume(record)
        return record

    def delete_volume(self, volume_id: str) -> None:
        directory = self.volume_dir(volume_id)
        clear(self.data(volume_id), volume_id, self.projects)
        _delete(directory)

    # -- snapshots -----------------------------------------------------------------

    def snapshot_dir(self, snapshot_id: str) -> Path:
        if "/" in snapshot_id or snapshot_id in ("", ".", ".."):
            raise KeyError(snapshot_id)
        return self.root / "snapshots" / snapshot_id

    def snapshot(self, snapshot_id: str) -> SnapshotRecord:
        return _load(self.snapshot_dir(snapshot_id) / "snapshot.json", SnapshotRecord)

    def snapshot_by_name(self, name: str) -> SnapshotRecord | None:
        try:
            return self.snapshot(_id("snap", name))
        except KeyError:
            return None

    def snapshots(self) -> list[SnapshotRecord]:
        return _load_all(self.root / "snapshots", "snapshot.json", SnapshotRecord)

    def create_snapshot(self, name: str, volume: VolumeRecord) -> SnapshotRecord:
        record = SnapshotRecord(
            id=_id("snap", name),
            name=name,
            source_volume=volume.id,
            backing=volume.backing,
            fstype=volume.fstype,
            created_at=time.time(),
        )
        directory = self.snapshot_dir(record.id)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        try:
            if volume.backing == "image":
                copy_image(self.image(volume.id), directory / "image")
                record.size = (directory / "image").stat().st_size
            else:
                shutil.copytree(self.data(volume.id), directory / "data", symlinks=True)
                record.size = _du(directory / "data")
            _write(directory / "snapshot.json", record)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return record

    def delete_snapshot(self, snapshot_id: str) -> None:
        _delete(self.snapshot_dir(snapshot_id))


def copy_image(source: Path, target: Path) -> None:
    """Copy a filesystem image sparse, frozen meanwhile where it is mounted (consistent)."""
    frozen = loop_mounts(source)[:1]
    for point in frozen:
        run("fsfreeze", "--freeze", point)
    try:
        run("cp", "--sparse=always", str(source), str(target))
    finally:
        for point in frozen:
            run("fsfreeze", "--unfreeze", point)


def grow_offline(image: Path, fstype: str) -> None:
    """Grow the filesystem in an unmounted ``image`` to the file's size."""
    if fstype == "ext4":
        run("e2fsck", "-fy", str(image), ok=(0, 1))  # 1: it corrected something
        run("resize2fs", str(image))
    # xfs grows only when mounted (xfs_growfs): the node does it when it mounts it.


def can_grow_online() -> bool:
    """ext4 grows while mounted only for a process with CAP_SYS_RESOURCE (EXT4_IOC_RESIZE_FS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> 24 & 1)
    return False


def _load(path: Path, kind: type[_R]) -> _R:
    """The record in ``path``; ``KeyError`` when there is none."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=kind)
    except (FileNotFoundError, NotADirectoryError):
        raise KeyError(path.parent.name) from None


def _load_all(directory: Path, filename: str, kind: type[_R]) -> list[_R]:
    """Every readable record under ``directory`` (half-made or half-deleted ones skipped)."""
    found = []
    for entry in sorted(directory.iterdir()):
        try:
            found.append(_load(entry / filename, kind))
        except (KeyError, msgspec.DecodeError):
            continue
    return found


def _delete(directory: Path) -> None:
    """Rename first: a crash mid-delete leaves nothing that looks whole."""
    if directory.exists():
        doomed = directory.with_name(f".deleting-{directory.name}")
        os.replace(directory, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def _write(path: Path, record: msgspec.Struct) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(msgspec.json.encode(record))
    os.replace(temporary, path)


def _du(directory: Path) -> int:
    return sum(p.lstat().st_size for p in directory.rglob("*") if p.is_file())
