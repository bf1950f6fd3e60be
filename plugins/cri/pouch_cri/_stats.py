"""Container and pod statistics from the runtimes' cgroup samples.

A container's CPU and memory come from its cgroup (v1 or v2, as the runtime
reads it), its writable layer from the snapshot's usage. A pod's figures are
the sum of its containers' and its infra container's; its network counters
are the pod namespace's interfaces (``/proc/<infra pid>/net/dev``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio

from pouch.errors import PouchError
from pouch.models import Container

from . import _labels as L
from ._containers import container_metadata, cri_state
from ._objects import CriObjects
from ._pb import api_pb2 as pb
from ._pods import pod_metadata, ready

__all__ = ["StatsService"]


def _interfaces(pid: int, now: int) -> pb.NetworkUsage:
    usage = pb.NetworkUsage(timestamp=now)
    try:
        lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    except OSError:
        return usage
    for line in lines:
        name, _, counters = line.partition(":")
        fields = counters.split()
        if name.strip() == "lo" or len(fields) < 16:
            continue
        interface = pb.NetworkInterfaceUsage(name=name.strip())
        interface.rx_bytes.value, interface.rx_errors.value = int(fields[0]), int(fields[2])
        interface.tx_bytes.value, interface.tx_errors.value = int(fields[8]), int(fields[10])
        usage.interfaces.append(interface)
    if usage.interfaces:
        usage.default_interface.CopyFrom(usage.interfaces[0])
    return usage


class StatsService:
    def __init__(self, objects: CriObjects) -> None:
        self.objects = objects
        self.engine = objects.engine
        self.mountpoint = str(self.engine.config.root)

    async def _sample(self, container: Container) -> tuple[int, int, int]:
        """(cpu ns, memory bytes, pids) of a running container; zeros otherwise."""
        if cri_state(container) != pb.CONTAINER_RUNNING:
            return 0, 0, 0
        try:
            stats = await self.engine.stats(container.id)
        except PouchError:  # gone, or a runtime without stats
            return 0, 0, 0
        return stats.cpu_usage_ns, stats.memory_usage, stats.pids

    async def _container(self, container: Container) -> tuple[pb.ContainerStats, int]:
        """The container's stats, and its process count (for its pod's)."""
        now = time.time_ns()
        cpu, memory, pids = await self._sample(container)
        used = await anyio.to_thread.run_sync(self.engine.disk.container_size, container)
        stats = pb.ContainerStats(
            attributes=pb.ContainerAttributes(
                id=container.id,
                metadata=container_metadata(container),
                labels=L.cri_labels(container),
                annotations=L.read(container, L.ANNOTATIONS),
            ),
            cpu=pb.CpuUsage(timestamp=now),
            memory=pb.MemoryUsage(timestamp=now),
            writable_layer=pb.FilesystemUsage(
                timestamp=now, fs_id=pb.FilesystemIdentifier(mountpoint=self.mountpoint)
            ),
        )
        stats.cpu.usage_core_nano_seconds.value = cpu
        stats.memory.working_set_bytes.value = memory
        stats.memory.usage_bytes.value = memory
        stats.writable_layer.used_bytes.value = used
        stats.writable_layer.inodes_used.value = 0
        return stats, pids

    async def _pod(self, infra: Container) -> pb.PodSandboxStats:
        now = time.time_ns()
        sampled = [await self._container(c) for c in self.objects.containers(infra.id)]
        contained = [stats for stats, _ in sampled]
        cpu, memory, pids = await self._sample(infra)
        for stats, count in sampled:
            cpu += stats.cpu.usage_core_nano_seconds.value
            memory += stats.memory.working_set_bytes.value
            pids += count
        linux = pb.LinuxPodSandboxStats(
            cpu=pb.CpuUsage(timestamp=now),
            memory=pb.MemoryUsage(timestamp=now),
            network=_interfaces(infra.state.pid, now) if ready(infra) else None,
            process=pb.ProcessUsage(timestamp=now),
            containers=contained,
        )
        linux.cpu.usage_core_nano_seconds.value = cpu
        linux.memory.working_set_bytes.value = memory
        linux.memory.usage_bytes.value = memory
        linux.process.process_count.value = pids
        return pb.PodSandboxStats(
            attributes=pb.PodSandboxAttributes(
                id=infra.id,
                metadata=pod_metadata(infra),
                labels=L.cri_labels(infra),
                annotations=L.read(infra, L.ANNOTATIONS),
            ),
            linux=linux,
        )

    async def ContainerStats(
        self, request: pb.ContainerStatsRequest, context: Any
    ) -> pb.ContainerStatsResponse:
        container = self.objects.container(request.container_id)
        return pb.ContainerStatsResponse(stats=(await self._container(container))[0])

    async def ListContainerStats(
        self, request: pb.ListContainerStatsRequest, context: Any
    ) -> pb.ListContainerStatsResponse:
        wanted = request.filter
        found = [
            (await self._container(container))[0]
            for container in self.objects.containers(
                wanted.pod_sandbox_id, wanted.id, wanted.label_selector
            )
            if cri_state(container) == pb.CONTAINER_RUNNING
        ]
        return pb.ListContainerStatsResponse(stats=found)

    async def PodSandboxStats(
        self, request: pb.PodSandboxStatsRequest, context: Any
    ) -> pb.PodSandboxStatsResponse:
        infra = self.objects.sandbox(request.pod_sandbox_id)
        return pb.PodSandboxStatsResponse(stats=await self._pod(infra))

    async def ListPodSandboxStats(
        self, request: pb.ListPodSandboxStatsRequest, context: Any
    ) -> pb.ListPodSandboxStatsResponse:
        wanted = request.filter
        found = [
            await self._pod(infra)
            for infra in self.objects.sandboxes(wanted.id, wanted.label_selector)
            if ready(infra)
        ]
        return pb.ListPodSandboxStatsResponse(stats=found)
