"""Images made of containers and their past: ``POST /commit``, ``GET /images/{name}/history``.

Translation only: docker's query parameters (``changes`` as Dockerfile
instructions, read by ``api_images.parse_changes``) go to ``engine.commits``;
history entries come back with docker's field names and familiar tags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from pouch.daemon.api_images import familiar, parse_changes, repo_tag
from pouch.daemon.http import Reply, Request
from pouch.daemon.routing import Router, flag, json_reply, text_arg
from pouch.errors import InvalidArgument

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon

__all__ = ["routes"]

routes = Router()

_REFUSED = ("ONBUILD", "FROM", "RUN", "COPY", "ADD", "MAINTAINER", "HEALTHCHECK", "SHELL", "ARG")


@routes.route("POST", "/commit")
async def commit(ctx: Daemon, request: Request) -> Reply:
    container = text_arg(request, "container")
    if not container:
        raise InvalidArgument("name the container to commit", field="container")
    raw = await request.body()
    try:
        config = msgspec.json.decode(raw) if raw.strip() else None
    except msgspec.DecodeError:
        raise InvalidArgument("the body is not JSON", field="body") from None
    if isinstance(config, dict) and any(
        v not in (None, "", [], {}, False) for v in config.values()
    ):
        raise InvalidArgument(
            "a container config in the body is not supported; pass Dockerfile"
            " instructions in changes (docker commit --change)",
            field="body",
        )
    changes = request.query.get("changes", [])
    for change in changes:
        word = change.strip().partition(" ")[0].upper()
        if word in _REFUSED:
            raise InvalidArgument(f"{word} is not a valid change command", field="changes")
    repo, tag = text_arg(request, "repo"), text_arg(request, "tag")
    if tag and not repo:
        raise InvalidArgument("a tag needs a repository", field="tag")
    reference = repo_tag(repo, tag, "repo") if repo else ""
    image = await ctx.engine.commits.commit(
        container,
        reference=reference,
        comment=text_arg(request, "comment"),
        author=text_arg(request, "author"),
        pause=flag(request, "pause", default=True),
        changes=parse_changes([c for c in changes if c.strip()]),
    )
    return json_reply({"Id": image.id}, 201)


@routes.route("GET", "/images/{name:path}/history")
async def history(ctx: Daemon, request: Request) -> Reply:
    entries = await ctx.engine.commits.history(request.params["name"])
    return json_reply(
        [
            {
                "Id": entry.id,
                "Created": entry.created,
                "CreatedBy": entry.created_by,
                "Tags": [familiar(name) for name in entry.tags] or None,
                "Size": entry.size,
                "Comment": entry.comment,
            }
            for entry in entries
        ]
    )
