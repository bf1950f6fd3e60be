"""``inspect``: the daemon's JSON for containers, images, networks and volumes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from pouch.cli._errors import APIError
from pouch.cli._format import dump_json
from pouch.cli._http import Client
from pouch.cli._template import Template

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["inspect", "inspect_each", "show_objects"]

_PATHS: dict[str, Callable[[str], str]] = {
    "container": lambda name: f"/containers/{name}/json",
    "image": lambda name: f"/images/{name}/json",
    "network": lambda name: f"/networks/{name}",
    "volume": lambda name: f"/volumes/{name}",
}


def show_objects(objects: Sequence[Any], fmt: str | None) -> None:
    """A JSON array (docker's indentation), or one rendered line per object."""
    if fmt:
        template = Template(fmt)
        for obj in objects:
            sys.stdout.write(template.render(obj) + "\n")
    else:
        sys.stdout.write(dump_json(list(objects)) + "\n")


def inspect_each(
    client: Client, names: Sequence[str], kinds: Sequence[str], query: dict[str, Any] | None = None
) -> tuple[list[Any], bool]:
    """Look each name up as each kind in turn; report the misses; (found, all found)."""
    found: list[Any] = []
    ok = True
    for name in names:
        last: APIError | None = None
        for kind in kinds:
            try:
                found.append(client.get(_PATHS[kind](name), query if kind == "container" else None))
                break
            except APIError as exc:
                if not exc.not_found:
                    raise
                last = exc
        else:
            ok = False
            message = last.message if len(kinds) == 1 and last else f"No such object: {name}"
            sys.stdout.flush()
            sys.stderr.write(f"Error: {message}\n")
    return found, ok


def inspect(args: argparse.Namespace, client: Client) -> int:
    kinds = [args.type] if args.type else list(_PATHS)
    found, ok = inspect_each(client, args.names, kinds, {"size": args.size or None})
    if found or not args.format:
        show_objects(found, args.format)
    return 0 if ok else 1
