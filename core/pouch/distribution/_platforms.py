"""Platforms: parsing ``--platform`` and choosing an index's manifest for one.

Owns ``parse_platform`` (``linux/arm64/v8``, ``arm64``, ``linux/x86_64`` …
normalised to the image-spec's GOOS/GOARCH names) and ``select_manifest``,
which picks the entry of an image index or Docker manifest list with the same
rule as ``ImageStore`` (os and architecture equal; variants compared when both
have one) and otherwise raises ``PlatformNotAvailable`` listing what the index
offers. It must not fetch anything.
"""

from __future__ import annotations

import msgspec

from pouch.distribution._errors import PlatformNotAvailable, RegistryError
from pouch.errors import InvalidArgument
from pouch.images import Descriptor, Index, Platform, host_platform

__all__ = ["format_platform", "parse_platform", "select_manifest"]

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
    "i686": "386",
}


def parse_platform(platform: str | Platform | None) -> Platform | None:
    """``"linux/arm64"`` → ``Platform(os="linux", architecture="arm64")``; None stays None."""
    if platform is None or isinstance(platform, Platform):
        return platform
    parts = [part.strip().lower() for part in platform.split("/")]
    if not platform.strip() or len(parts) > 3 or not all(parts):
        raise InvalidArgument(
            f"invalid platform {platform!r}: expected os/arch[/variant], e.g. linux/arm64",
            field="platform",
        )
    if len(parts) == 1:
        parts.insert(0, "linux")
    os_name, arch = parts[0], _ARCH_ALIASES.get(parts[1], parts[1])
    variant = parts[2] if len(parts) == 3 else ""
    return Platform(os=os_name, architecture=arch, variant=variant)


def format_platform(platform: Platform) -> str:
    return "/".join(p for p in (platform.os, platform.architecture, platform.variant) if p)


def _matches(candidate: Platform, wanted: Platform) -> bool:
    if (candidate.os, candidate.architecture) != (wanted.os, wanted.architecture):
        return False
    return not (candidate.variant and wanted.variant and candidate.variant != wanted.variant)


def select_manifest(raw: bytes, wanted: Platform | None, *, what: str) -> Descriptor:
    """The entry of the index ``raw`` for ``wanted`` (default: this host's platform)."""
    try:
        index = msgspec.json.decode(raw, type=Index)
    except msgspec.MsgspecError as exc:
        raise RegistryError(f"the image index of {what} is invalid: {exc}") from None
    target = wanted or host_platform()
    for entry in index.manifests:
        if entry.platform is not None and _matches(entry.platform, target):
            return entry
    available = [
        format_platform(entry.platform)
        for entry in index.manifests
        if entry.platform is not None and entry.platform.os != "unknown"
    ]
    raise PlatformNotAvailable(what, format_platform(target), available)
