"""Local image endpoints: list, inspect, tag, remove, prune, and ``docker import`` (fromSrc).

Names are shown in docker's familiar form (``busybox:latest``, not
``docker.io/library/busybox:latest``); an image without a name is
``<none>:<none>``, as API 1.41 clients expect. Registry transfers and archives
are ``api_image_transfer``'s.
"""

from __future__ import annotations

import fnmatch
import shlex
from typing import TYPE_CHECKING, Any

import msgspec

from pouch.daemon._prune import bool_filter, prune_filters
from pouch.daemon.container_views import ZERO_TIME, rfc3339
from pouch.daemon.http import Reply, Request
from pouch.daemon.routing import Router, filters_arg, flag, json_reply, text_arg
from pouch.errors import InvalidArgument
from pouch.images import Image, parse_reference
from pouch.oci.image import ImageConfig

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon

__all__ = ["familiar", "parse_changes", "routes"]

routes = Router()

_LIST_FILTERS = frozenset({"dangling", "label", "reference"})


def familiar(name: str) -> str:
    try:
        return parse_reference(name, default_tag=False).familiar()
    except InvalidArgument:
        return name


def _tags(image: Image) -> list[str]:
    return [familiar(n) for n in image.names] or ["<none>:<none>"]


def _digests(image: Image) -> list[str]:
    return [familiar(d) for d in image.digests] or ["<none>@<none>"]


def _summary(image: Image) -> dict[str, Any]:
    return {
        "Id": image.id,
        "ParentId": "",
        "RepoTags": _tags(image),
        "RepoDigests": _digests(image),
        "Created": int(image.created),
        "Size": image.size,
        "VirtualSize": image.size,
        "SharedSize": -1,
        "Labels": dict(image.config.labels or {}),
        "Containers": -1,
    }


def _matches(image: Image, filters: dict[str, list[str]]) -> bool:
    for value in filters.get("dangling", []):
        if value.lower() not in ("true", "1", "false", "0"):
            raise InvalidArgument(f"dangling must be true or false, not {value!r}", field="filters")
        if (value.lower() in ("true", "1")) != (not image.names):
            return False
    labels = image.config.labels or {}
    for spec in filters.get("label", []):
        key, sep, wanted = spec.partition("=")
        if key not in labels or (sep and labels[key] != wanted):
            return False
    patterns = filters.get("reference", [])
    if patterns:
        names = [familiar(n) for n in image.names]
        candidates = names + [n.rpartition(":")[0] for n in names]
        if not any(fnmatch.fnmatchcase(c, p) for p in patterns for c in candidates):
            return False
    return True


@routes.route("GET", "/images/json")
async def list_images(ctx: Daemon, request: Request) -> Reply:
    filters = filters_arg(request)
    for key in filters:
        if key not in _LIST_FILTERS:
            raise InvalidArgument(f"invalid filter {key!r}", field="filters")
    images = await ctx.engine.images.list()
    return json_reply([_summary(i) for i in images if _matches(i, filters)])


def _docker_config(config: ImageConfig) -> dict[str, Any]:
    return {
        "Hostname": "",
        "Domainname": "",
        "User": config.user,
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "ExposedPorts": config.exposed_ports,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": config.env,
        "Cmd": config.cmd,
        "Image": "",
        "Volumes": config.volumes,
        "WorkingDir": config.working_dir,
        "Entrypoint": config.entrypoint,
        "OnBuild": config.on_build,
        "Labels": config.labels,
        "StopSignal": config.stop_signal or None,
        "Healthcheck": msgspec.to_builtins(config.healthcheck) if config.healthcheck else None,
        **({"Shell": config.shell} if config.shell else {}),
    }


@routes.route("GET", "/images/{name:path}/json")
async def inspect(ctx: Daemon, request: Request) -> Reply:
    image = await ctx.engine.images.inspect(request.params["name"])
    return json_reply(
        {
            "Id": image.id,
            "RepoTags": [familiar(n) for n in image.names],
            "RepoDigests": [familiar(d) for d in image.digests],
            "Parent": "",
            "Comment": "",
            "Created": rfc3339(image.created),
            "Container": "",
            "ContainerConfig": {},
            "DockerVersion": "",
            "Author": image.author,
            "Config": _docker_config(image.config),
            "Architecture": image.architecture,
            "Variant": image.variant or None,
            "Os": image.os,
            "OsVersion": "",
            "Size": image.size,
            "VirtualSize": image.size,
            "GraphDriver": {"Name": "overlay2", "Data": {}},
            "RootFS": {"Type": "layers", "Layers": list(image.diff_ids)},
            "Metadata": {"LastTagTime": ZERO_TIME},
        }
    )


def repo_tag(repo: str, tag: str, field: str = "repo") -> str:
    """docker's (repo, tag) query pair → one reference; a sha256 "tag" is a digest."""
    if not repo:
        raise InvalidArgument("a repository name is required", field=field)
    if not tag:
        return repo
    return f"{repo}@{tag}" if tag.startswith("sha256:") else f"{repo}:{tag}"


@routes.route("POST", "/images/{name:path}/tag")
async def tag(ctx: Daemon, request: Request) -> Reply:
    target = repo_tag(text_arg(request, "repo"), text_arg(request, "tag"))
    await ctx.engine.images.tag(request.params["name"], target)
    return json_reply(None, 201)


@routes.route("DELETE", "/images/{name:path}")
async def remove(ctx: Daemon, request: Request) -> Reply:
    removal = await ctx.engine.images.remove(request.params["name"], force=flag(request, "force"))
    items: list[dict[str, str]] = [{"Untagged": familiar(n)} for n in removal.untagged]
    items += [{"Deleted": image_id} for image_id in removal.deleted]
    return json_reply(items)


@routes.route("POST", "/images/prune")
async def prune(ctx: Daemon, request: Request) -> Reply:
    selection, filters = prune_filters(request, also=frozenset({"dangling"}))
    dangling = bool_filter(filters["dangling"], "dangling") if "dangling" in filters else True
    collected = await ctx.engine.images.prune(all=not dangling, **selection)
    deleted: list[dict[str, str]] = [{"Untagged": familiar(n)} for n in collected.untagged]
    deleted += [{"Deleted": image_id} for image_id in collected.images]
    return json_reply({"ImagesDeleted": deleted or None, "SpaceReclaimed": collected.reclaimed})


def _command(argument: str) -> list[str]:
    argument = argument.strip()
    if argument.startswith("["):
        try:
            value = msgspec.json.decode(argument, type=list[str])
        except msgspec.DecodeError as exc:
            raise InvalidArgument(f"{argument!r}: {exc}", field="changes") from None
        return value
    return ["/bin/sh", "-c", argument]


def _pairs(argument: str) -> dict[str, str]:
    words = shlex.split(argument)
    if len(words) >= 2 and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    pairs = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise InvalidArgument(f"{word!r} is not KEY=VALUE", field="changes")
        pairs[key] = value
    return pairs


def parse_changes(changes: list[str], config: ImageConfig | None = None) -> ImageConfig:
    """docker import's ``--change`` Dockerfile instructions applied to an image config."""
    config = config or ImageConfig()
    for change in changes:
        instruction, _, argument = change.strip().partition(" ")
        word = instruction.upper()
        if word == "CMD":
            config.cmd = _command(argument)
        elif word == "ENTRYPOINT":
            config.entrypoint = _command(argument)
        elif word == "ENV":
            env = dict(e.split("=", 1) for e in config.env or [])
            env.update(_pairs(argument))
            config.env = [f"{k}={v}" for k, v in env.items()]
        elif word == "LABEL":
            config.labels = {**(config.labels or {}), **_pairs(argument)}
        elif word == "WORKDIR":
            config.working_dir = argument.strip()
        elif word == "USER":
            config.user = argument.strip()
        elif word == "STOPSIGNAL":
            config.stop_signal = argument.strip()
        elif word == "EXPOSE":
            ports: dict[str, dict[str, Any]] = {
                p if "/" in p else f"{p}/tcp": {} for p in argument.split()
            }
            config.exposed_ports = {**(config.exposed_ports or {}), **ports}
        elif word == "VOLUME":
            paths = _command(argument) if argument.strip().startswith("[") else argument.split()
            config.volumes = {**(config.volumes or {}), **{p: {} for p in paths}}
        else:
            raise InvalidArgument(f"{instruction!r} cannot be applied on import", field="changes")
    return config
