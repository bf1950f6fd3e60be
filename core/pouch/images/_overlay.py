"""Mount descriptions for snapshots: overlayfs options, and whether they fit.

Owns the syntax of the overlay mount (``lowerdir`` top first, ``upperdir``,
``workdir``) and the kernel's limit on it: mount(2) copies one page of
options, so a long state root or very many layers cannot be mounted, and that
is reported before a container is created rather than when it starts. It must
not mount anything nor know where snapshots live.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pouch.drivers import Mount
from pouch.errors import InvalidArgument

__all__ = ["OPTIONS_MAX", "describe"]

OPTIONS_MAX = os.sysconf("SC_PAGE_SIZE") - 1  # the page includes the final NUL
# overlayfs learnt "index" in 4.13; containerd turns it off too where it is known.
_INDEX_OFF = ["index=off"] if Path("/sys/module/overlay/parameters/index").exists() else []


def describe(
    lowers: Sequence[str], upper: str | None, work: str | None, *, metacopy: bool = False
) -> list[Mount]:
    """The mounts of a snapshot: ``lowers`` top first; no ``upper`` means read-only.

    One layer and no upper is a read-only bind, no layers a writable bind of
    ``upper``; anything else is one overlay mount (even over a single layer, so
    the container's changes never reach the layer). Raises ``InvalidArgument``
    when the options would not fit in the kernel's page.
    """
    if not lowers:
        assert upper is not None
        return [Mount(type="bind", source=upper, options=["rbind", "rw"])]
    if upper is None and len(lowers) == 1:
        return [Mount(type="bind", source=lowers[0], options=["rbind", "ro"])]
    options = [*_INDEX_OFF, "lowerdir=" + ":".join(lowers)]
    if upper is not None:
        options += [f"upperdir={upper}", f"workdir={work}"]
    if metacopy:  # the upper layer holds metadata-only copies (see _shift)
        options.append("metacopy=on")
    length = len(",".join(options))
    if length > OPTIONS_MAX:
        raise InvalidArgument(
            f"the image has {len(lowers)} layers: its overlay mount options would take "
            f"{length} bytes, more than the kernel's {OPTIONS_MAX}; use a shorter state "
            f"root than {Path(lowers[0]).parent.parent.parent} or an image with fewer layers"
        )
    return [Mount(type="overlay", source="overlay", options=options)]
