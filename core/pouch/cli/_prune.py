"""The ``prune`` commands of images, containers, networks and volumes, their filters, and
docker's report of what a prune deleted."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from pouch.cli._common import confirm
from pouch.cli._format import human_size
from pouch.cli._http import Client
from pouch.cli._parse import parse_filters
from pouch.cli._parse_time import parse_timestamp

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = [
    "ALL_IMAGES",
    "container_prune",
    "image_lines",
    "image_prune",
    "network_prune",
    "prune_filters",
    "volume_prune",
    "write_deleted",
]

ALL_IMAGES = "all images without at least one container associated to them"


def image_lines(deleted: Iterable[dict[str, Any]]) -> list[str]:
    """``ImagesDeleted`` as docker prints it: ``untagged: NAME`` and ``deleted: ID`` lines."""
    return [f"{key.lower()}: {value}" for item in deleted for key, value in item.items() if value]


def write_deleted(title: str, lines: Sequence[str]) -> None:
    """``TITLE:``, a line each and a blank line, as docker does; nothing when none went."""
    if lines:
        sys.stdout.write(f"{title}:\n" + "".join(f"{line}\n" for line in lines) + "\n")


def _reclaimed(answer: dict[str, Any]) -> None:
    sys.stdout.write(f"Total reclaimed space: {human_size(answer.get('SpaceReclaimed') or 0)}\n")


def prune_filters(items: Iterable[str], *extra: str) -> str | None:
    """``--filter`` items (``until`` made absolute) and ``extra`` ones as the API's JSON."""
    return parse_filters([*(_absolute_until(item) for item in items), *extra])


def image_prune(args: argparse.Namespace, client: Client) -> int:
    what = ALL_IMAGES if args.all else "all dangling images"
    if not confirm(f"WARNING! This will remove {what}.", args.force):
        return 0
    filters = prune_filters(args.filter, *(["dangling=false"] if args.all else []))
    answer = client.post("/images/prune", {"filters": filters}) or {}
    write_deleted("Deleted Images", image_lines(answer.get("ImagesDeleted") or []))
    _reclaimed(answer)
    return 0


def _absolute_until(item: str) -> str:
    """``until=10m`` → ``until=<unix time>``: that long before now on this machine."""
    key, sep, value = item.partition("=")
    if sep and key.strip().lower() == "until":
        return f"{key}={parse_timestamp(value)}"
    return item


def container_prune(args: argparse.Namespace, client: Client) -> int:
    if not confirm("WARNING! This will remove all stopped containers.", args.force):
        return 0
    answer = client.post("/containers/prune", {"filters": prune_filters(args.filter)}) or {}
    write_deleted("Deleted Containers", answer.get("ContainersDeleted") or [])
    _reclaimed(answer)
    return 0


def network_prune(args: argparse.Namespace, client: Client) -> int:
    if not confirm("WARNING! This will remove all networks not used by any container.", args.force):
        return 0
    answer = client.post("/networks/prune", {"filters": prune_filters(args.filter)}) or {}
    write_deleted("Deleted Networks", answer.get("NetworksDeleted") or [])
    return 0


def volume_prune(args: argparse.Namespace, client: Client) -> int:
    what = "all volumes" if args.all else "all anonymous volumes"
    if not confirm(
        f"WARNING! This will remove {what} not used by at least one container.", args.force
    ):
        return 0
    filters = prune_filters(args.filter, f"all={'true' if args.all else 'false'}")
    answer = client.post("/volumes/prune", {"filters": filters}) or {}
    write_deleted("Deleted Volumes", answer.get("VolumesDeleted") or [])
    _reclaimed(answer)
    return 0
