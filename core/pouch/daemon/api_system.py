"""System endpoints: ``/_ping``, ``/version``, ``/info``, ``/events``, ``/auth``.

``/info`` carries docker's fields plus ``PouchPlugins``: every plugin with its
state (loaded, skipped, failed, disabled) and the reason, so ``docker info``
users and ``pouch plugin ls`` see why a runtime is missing.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from pouch import __version__, cgroups, quota
from pouch.daemon import docker_types as dt
from pouch.daemon.http import Reply, Request, Response, Stream
from pouch.daemon.routing import (
    API_VERSION,
    MIN_API_VERSION,
    Router,
    decode_body,
    filters_arg,
    json_reply,
    text_arg,
)
from pouch.errors import InvalidArgument
from pouch.events import Event, EventFilter
from pouch.humanize import go_duration
from pouch.logs import parse_time
from pouch.models import State

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon

__all__ = ["go_arch", "parse_timestamp", "routes"]

routes = Router()

_EVENT_FILTERS = frozenset(
    {
        "type",
        "event",
        "action",
        "container",
        "image",
        "network",
        "volume",
        "label",
        "daemon",
        "plugin",
        "scope",
    }
)
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def go_arch() -> str:
    machine = platform.machine()
    return _GO_ARCH.get(machine, machine)


def parse_timestamp(text: str, field: str) -> float:
    """docker's times in queries: unix seconds (with fraction), RFC 3339, or a Go
    duration (``24h``: that long before now, as docker's CLI sends ``until=24h``)."""
    text = text.strip()
    if not text:
        return 0.0
    try:
        return float(text)
    except ValueError:
        pass
    nanoseconds = go_duration(text)
    if nanoseconds is not None:
        return time.time() - nanoseconds / 1e9
    try:
        return parse_time(text)
    except ValueError:
        raise InvalidArgument(
            f"{text!r} is not a unix timestamp, RFC 3339 time or duration (24h)", field=field
        ) from None


@routes.route("GET", "/_ping")
async def ping(ctx: Daemon, request: Request) -> Reply:
    headers = [("Cache-Control", "no-cache, no-store, must-revalidate"), ("Pragma", "no-cache")]
    return Response(200, b"OK", content_type="text/plain; charset=utf-8", headers=headers)


def _version_body() -> dict[str, Any]:
    details = {
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": platform.release(),
        "GitCommit": "",
        "GoVersion": f"python{platform.python_version()}",
    }
    return {
        "Platform": {"Name": "pouch"},
        "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
        "Version": __version__,
        "BuildTime": "",
        **details,
    }


@routes.route("GET", "/version")
async def version(ctx: Daemon, request: Request) -> Reply:
    return json_reply(_version_body())


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


@routes.route("GET", "/info")
async def info(ctx: Daemon, request: Request) -> Reply:
    engine = ctx.engine
    containers = engine.list(all=True)
    states = [c.state.status for c in containers]
    images = await engine.images.list()
    kernel = engine.kernel
    runtimes = {
        r.name: {
            "path": r.describe().details.get("path", r.name),
            "pouchPlugin": kernel.runtimes.plugin_of(r.name),
            "pouchDetails": {k: str(v) for k, v in r.describe().details.items()},
        }
        for r in kernel.runtimes
    }
    config = engine.config
    return json_reply(
        {
            "ID": ctx.daemon_id,
            "Containers": len(containers),
            "ContainersRunning": states.count(State.RUNNING),
            "ContainersPaused": states.count(State.PAUSED),
            "ContainersStopped": len(states)
            - states.count(State.RUNNING)
            - states.count(State.PAUSED),
            "Images": len(images),
            "Driver": "overlay2",
            "DriverStatus": [
                ["Backing Filesystem", "overlayfs"],
                ["Disk quota", quota.support(ctx.engine.config.root)],
            ],
            "Plugins": {
                "Volume": kernel.volumes.names(),
                "Network": kernel.networks.names(),
                "Authorization": None,
                "Log": ["json-file", "local", "k8s-file"],
            },
            "PouchPlugins": [msgspec.to_builtins(p) for p in engine.plugins()],
            "MemoryLimit": True,
            "SwapLimit": True,
            "CpuCfsPeriod": True,
            "CpuCfsQuota": True,
            "CPUShares": True,
            "CPUSet": True,
            "PidsLimit": True,
            "IPv4Forwarding": True,
            "Debug": False,
            "NFd": len(os.listdir("/proc/self/fd")),
            "NGoroutines": 0,
            "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "LoggingDriver": "json-file",
            "CgroupDriver": config.cgroup_manager,
            "CgroupVersion": str(cgroups.version()),
            "PouchCgroupLayout": cgroups.layout(),
            "NEventsListener": 0,
            "KernelVersion": platform.release(),
            "OperatingSystem": _os_name(),
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": platform.machine(),
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {
                "AllowNondistributableArtifactsCIDRs": [],
                "AllowNondistributableArtifactsHostnames": [],
                "InsecureRegistryCIDRs": [],
                "IndexConfigs": {},
                "Mirrors": list(config.registries.mirrors),
            },
            "NCPU": os.cpu_count() or 1,
            "MemTotal": _mem_total(),
            "GenericResources": None,
            "DockerRootDir": str(config.root),
            "HttpProxy": os.environ.get("HTTP_PROXY", ""),
            "HttpsProxy": os.environ.get("HTTPS_PROXY", ""),
            "NoProxy": os.environ.get("NO_PROXY", ""),
            "Name": socket.gethostname(),
            "Labels": [],
            "ExperimentalBuild": False,
            "ServerVersion": __version__,
            "Runtimes": runtimes,
            "DefaultRuntime": ctx.engine.default_runtime,
            "Swarm": {
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": "inactive",
                "ControlAvailable": False,
                "Error": "",
                "RemoteManagers": None,
            },
            "LiveRestoreEnabled": True,
            "Isolation": "",
            "InitBinary": "",
            "ContainerdCommit": {"ID": "", "Expected": ""},
            "RuncCommit": {"ID": "", "Expected": ""},
            "InitCommit": {"ID": "", "Expected": ""},
            "SecurityOptions": ctx.engine.security_options(),
            "Warnings": [],
        }
    )


def _os_name() -> str:
    try:
        with open("/etc/os-release") as release:
            for line in release:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return sys.platform


class EventMessage(msgspec.Struct, kw_only=True, omit_defaults=True):
    status: str = ""
    id: str = ""
    from_: str = msgspec.field(default="", name="from")
    Type: str
    Action: str
    Actor: dict[str, Any]
    scope: str = "local"
    time: int
    timeNano: int


def event_message(event: Event) -> EventMessage:
    legacy = event.type in ("container", "image")
    return EventMessage(
        status=event.action if legacy else "",
        id=event.id if legacy else "",
        from_=event.attributes.get("image", "") if event.type == "container" else "",
        Type=event.type,
        Action=event.action,
        Actor={"ID": event.id, "Attributes": event.attributes},
        time=event.time_nano // 1_000_000_000,
        timeNano=event.time_nano,
    )


@routes.route("GET", "/events")
async def events(ctx: Daemon, request: Request) -> Reply:
    filters = filters_arg(request)
    for key in filters:
        if key not in _EVENT_FILTERS:
            raise InvalidArgument(f"invalid filter {key!r}", field="filters")
    since = parse_timestamp(text_arg(request, "since"), "since")
    until = parse_timestamp(text_arg(request, "until"), "until")
    flt = EventFilter(filters=filters, since=since, until=until)
    bus = ctx.engine.events
    encoder = msgspec.json.Encoder()

    async def produce() -> AsyncIterator[bytes]:
        async with bus.subscribe(flt, replay=bool(since)) as stream:
            while (event := await _next_event(stream, until)) is not None:
                yield encoder.encode(event_message(event)) + b"\n"

    return Stream(produce())


async def _next_event(events: AsyncIterator[Event], until: float) -> Event | None:
    """The next event; None at the end of the stream or once ``until`` has passed.

    The deadline covers one wait only: a cancel scope must not stay open
    across the generator's ``yield``, where the response writer runs.
    Replayed events come without waiting, so they are sent even when
    ``until`` is already past.
    """
    if not until:
        return await anext(events, None)
    with anyio.move_on_after(max(0.0, until - time.time())):
        return await anext(events, None)
    return None


@routes.route("POST", "/auth")
async def auth(ctx: Daemon, request: Request) -> Reply:
    body = await decode_body(request, dt.AuthConfig)
    await ctx.engine.images.login(body.serveraddress, body.username, body.password)
    return json_reply({"Status": "Login Succeeded", "IdentityToken": ""})
