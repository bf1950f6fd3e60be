"""Where a spec's ``cgroupsPath`` puts a container, under either cgroup manager.

With the ``cgroupfs`` manager the path is the cgroup's own (``/pouch/<id>``).
With ``systemd`` it is runc's and crun's ``slice:prefix:name``: the runtime
asks systemd, over D-Bus, for a transient unit ``prefix-name.scope`` in that
slice, and systemd places the cgroup where its slices nest (``a-b.slice``
lives in ``a.slice``). Readers turn either form into the directory below each
hierarchy's root with ``cgroup_dir``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

__all__ = ["SYSTEMD_SLICE", "cgroup_dir", "cgroups_path", "systemd_booted"]

SYSTEMD_SLICE = "system.slice"
_PARENT = "/pouch"
_PREFIX = "pouch"


def cgroups_path(container_id: str, manager: Literal["cgroupfs", "systemd"]) -> str:
    """The ``cgroupsPath`` a container gets: ``/pouch/<id>`` or ``system.slice:pouch:<id>``."""
    if manager == "systemd":
        return f"{SYSTEMD_SLICE}:{_PREFIX}:{container_id}"
    return f"{_PARENT}/{container_id}"


def _slice_dirs(name: str) -> list[str]:
    if name in ("", "-.slice"):
        return []
    dirs, stem = [], ""
    for piece in name.removesuffix(".slice").split("-"):
        stem = f"{stem}-{piece}" if stem else piece
        dirs.append(f"{stem}.slice")
    return dirs


def cgroup_dir(path: str) -> str:
    """The cgroup below a hierarchy's root, ``/``-led, for either form of ``cgroupsPath``."""
    if ":" not in path:
        return "/" + path.strip("/")
    slice_name, prefix, name = [*path.split(":", 2), "", ""][:3]
    unit = name if name.endswith(".slice") else f"{prefix}-{name}.scope" if prefix else name
    return "/" + "/".join([*_slice_dirs(slice_name or SYSTEMD_SLICE), unit])


def systemd_booted(run: Path = Path("/run/systemd/system")) -> bool:
    """Whether systemd is the host's init (``sd_booted``): only then is its manager usable."""
    return run.is_dir()
