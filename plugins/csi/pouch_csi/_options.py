"""``volume create --driver csi`` options, checked and turned into a record and a capability.

Options (``-o KEY=VALUE``): ``driver`` (a registered CSI driver; may be left
out when only one is registered),
``size`` (``64MiB``, ``1G``…: the capacity asked for), ``fstype``,
``mount-flags`` (comma-separated), ``access-mode`` (``single-node-writer``
by default; the CSI modes in lower case with dashes), ``access-type``
(``mount`` or ``block``), ``param.K=V`` (the driver's parameters),
``from-snapshot=ID`` or ``from-volume=NAME`` (a new volume with that
content), and ``volume-id=ID`` (use a volume the driver already has instead
of creating one, with ``context.K=V`` its volume context). Anything else is
refused naming the option.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from pouch.errors import InvalidArgument
from pouch.models import parse_size
from pouch_csi._deferred import pb
from pouch_csi._records import Record

__all__ = ["access_modes", "capability", "parse"]


@functools.cache
def access_modes() -> dict[str, str]:
    """``single-node-writer`` → ``SINGLE_NODE_WRITER``, for every mode the CSI spec has."""
    return {
        name.lower().replace("_", "-"): name
        for name in pb.VolumeCapability.AccessMode.Mode.keys()  # noqa: SIM118 (an enum wrapper)
        if name != "UNKNOWN"
    }


_PLAIN = {
    "driver",
    "size",
    "fstype",
    "mount-flags",
    "access-mode",
    "access-type",
    "from-snapshot",
    "from-volume",
    "volume-id",
}


def parse(name: str, options: dict[str, str], labels: dict[str, str]) -> Record:
    """The record of a volume to create from ``options``; ``InvalidArgument`` naming the option."""
    for key in options:
        if key not in _PLAIN and not key.startswith(("param.", "context.")):
            raise InvalidArgument(
                f"unknown option {key!r} for the csi driver (known: {', '.join(sorted(_PLAIN))},"
                " param.KEY, context.KEY)",
                field=f"options.{key}",
            )
    driver = options.get("driver", "")
    if not driver:
        raise InvalidArgument(
            "say which CSI driver makes the volume: --opt driver=NAME (pouch csi ls lists them)",
            field="options.driver",
        )
    try:
        size = parse_size(options["size"]) if options.get("size") else 0
    except ValueError as exc:
        raise InvalidArgument(str(exc), field="options.size") from None
    mode = options.get("access-mode", "single-node-writer")
    if mode not in access_modes():
        raise InvalidArgument(
            f"unknown access mode {mode!r} (one of: {', '.join(access_modes())})",
            field="options.access-mode",
        )
    access_type = options.get("access-type", "mount")
    if access_type not in ("mount", "block"):
        raise InvalidArgument(
            f"access-type is mount or block, not {access_type!r}", field="options.access-type"
        )
    if "from-snapshot" in options and "from-volume" in options:
        raise InvalidArgument(
            "a volume comes from a snapshot or from a volume, not both", field="options.from-volume"
        )
    if "volume-id" in options and ("size" in options or "from-snapshot" in options):
        raise InvalidArgument(
            "volume-id names an existing volume: it takes no size or source",
            field="options.volume-id",
        )
    flags = [f for f in options.get("mount-flags", "").split(",") if f]
    return Record(
        name=name,
        driver=driver,
        volume_id=options.get("volume-id", ""),
        static="volume-id" in options,
        capacity=size,
        parameters={k[len("param.") :]: v for k, v in options.items() if k.startswith("param.")},
        context={k[len("context.") :]: v for k, v in options.items() if k.startswith("context.")},
        fstype=options.get("fstype", ""),
        mount_flags=flags,
        access_mode=access_modes()[mode],
        access_type=access_type,
        labels=dict(labels),
        options=dict(options),
        created_at=time.time(),
    )


def capability(record: Record) -> Any:
    """The ``VolumeCapability`` the volume was made with."""
    mode = pb.VolumeCapability.AccessMode(
        mode=pb.VolumeCapability.AccessMode.Mode.Value(record.access_mode)
    )
    if record.access_type == "block":
        return pb.VolumeCapability(block=pb.VolumeCapability.BlockVolume(), access_mode=mode)
    mount = pb.VolumeCapability.MountVolume(fs_type=record.fstype, mount_flags=record.mount_flags)
    return pb.VolumeCapability(mount=mount, access_mode=mode)
