"""``stats`` (docker's JSON from the runtime's cgroup counters) and ``top`` (``ps`` by exec).

``top`` runs ``ps`` inside the container, so it needs a runtime that can exec;
with one that cannot, it answers 409 saying so. ``stats`` of a container that
is not running is all zeros, as docker reports it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio

from pouch.daemon.container_views import ZERO_TIME, rfc3339
from pouch.daemon.http import Reply, Request, Stream
from pouch.daemon.routing import Router, flag, json_reply, text_arg
from pouch.drivers import Stats
from pouch.errors import Conflict
from pouch.models import Container, State

if TYPE_CHECKING:
    from pouch.daemon.context import Daemon

__all__ = ["routes", "stats_json"]

routes = Router()

_INTERVAL = 1.0


def _system_cpu_ns() -> int:
    """The host's total CPU time (the first line of /proc/stat) in nanoseconds."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()[1:8]
    except OSError:
        return 0
    return sum(int(f) for f in fields) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _mem_total() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _cpu(sample: Stats | None, system: int) -> dict[str, Any]:
    return {
        "cpu_usage": {
            "total_usage": sample.cpu_usage_ns if sample else 0,
            "usage_in_kernelmode": 0,
            "usage_in_usermode": 0,
        },
        "system_cpu_usage": system if sample else 0,
        "online_cpus": os.cpu_count() or 1,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }


def stats_json(
    container: Container,
    sample: Stats | None,
    system: int,
    previous: tuple[Stats, int] | None,
) -> dict[str, Any]:
    """docker's stats object; ``previous`` (sample, system time) fills ``precpu_stats``."""
    blkio = None
    if sample is not None:
        blkio = [
            {"major": 0, "minor": 0, "op": "read", "value": sample.block_read},
            {"major": 0, "minor": 0, "op": "write", "value": sample.block_write},
        ]
    return {
        "read": rfc3339(sample.read_at) if sample else ZERO_TIME,
        "preread": rfc3339(previous[0].read_at) if previous else ZERO_TIME,
        "pids_stats": {"current": sample.pids} if sample else {},
        "blkio_stats": {"io_service_bytes_recursive": blkio},
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _cpu(sample, system),
        "precpu_stats": _cpu(previous[0], previous[1]) if previous else _cpu(None, 0),
        "memory_stats": {
            "usage": sample.memory_usage,
            "limit": sample.memory_limit or _mem_total(),
            "stats": {},
        }
        if sample
        else {},
        "name": f"/{container.name}",
        "id": container.id,
        "networks": {},
    }


async def _sample(ctx: Daemon, container: Container) -> Stats | None:
    current = ctx.engine.lookup(container.id)
    if current.state.status not in (State.RUNNING, State.PAUSED):
        return None
    try:
        return await ctx.engine.stats(container.id)
    except Conflict:
        return None  # it stopped in between


@routes.route("GET", "/containers/{id}/stats")
async def stats(ctx: Daemon, request: Request) -> Reply:
    container = ctx.engine.lookup(request.params["id"])
    streaming = flag(request, "stream", True)
    one_shot = flag(request, "one-shot")
    first = await _sample(ctx, container)  # errors (no stats capability) answer with a status
    first_system = _system_cpu_ns()

    async def produce() -> AsyncIterator[bytes]:
        previous: tuple[Stats, int] | None = None
        sample, system = first, first_system
        if not streaming and not one_shot and sample is not None:
            await anyio.sleep(_INTERVAL / 2)  # a second sample, so precpu_stats is filled
            previous = (sample, system)
            sample, system = await _sample(ctx, container), _system_cpu_ns()
        while True:
            yield json_reply(stats_json(container, sample, system, previous)).body
            if not streaming:
                return
            await anyio.sleep(_INTERVAL)
            previous = (sample, system) if sample is not None else None
            sample, system = await _sample(ctx, container), _system_cpu_ns()

    return Stream(produce())


@routes.route("GET", "/containers/{id}/top")
async def top(ctx: Daemon, request: Request) -> Reply:
    ps_args = text_arg(request, "ps_args").split()
    titles, processes = await ctx.engine.top(request.params["id"], ps_args)
    return json_reply({"Titles": titles, "Processes": processes})
