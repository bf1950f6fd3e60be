"""The engine's connections to its VMs' agents, held in a service's task group.

A ``Link`` is one VM's connection to its agent, through the VM's shim (which
logs the container's output and records its exit whether the engine runs or
not), for as long as the engine runs: execs and attaches use it, and it
learns of the exit. After the engine restarts, the next ``link`` adopts the
running container. The ``Hub`` is the plugin's ``Service``: its ``serve``
holds the task group the links live in.
"""

from __future__ import annotations

import logging

import anyio
import anyio.abc

from pouch.errors import PouchError

from ._agent_client import AgentClient
from ._guest import SHIM_SOCKET, GuestDir

__all__ = ["BOOT_TIMEOUT", "Hub", "Link"]

log = logging.getLogger("pouch.kata")

#: how long a VM may take from QEMU's start to its agent's first answer.
BOOT_TIMEOUT = 60.0
#: exit code recorded when the VM or its shim vanished under a running process
#: (its processes died with it, as by SIGKILL).
LOST = 137


class Link:
    def __init__(self, guest: GuestDir) -> None:
        self.guest = guest
        self.client: AgentClient | None = None
        self.started = anyio.Event()  # the container's process runs: pump its output
        self.exited = anyio.Event()
        self.finished = anyio.Event()  # the VM torn down after the exit, or never linked
        self.scope = anyio.CancelScope()

    def agent(self) -> AgentClient:
        if self.client is None:
            raise PouchError(f"container {self.guest.container_id[:12]}: its VM is not connected")
        return self.client

    async def run(
        self, *, adopt: bool, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        cid = self.guest.container_id
        with self.scope:
            async with AgentClient.connect_unix(
                self.guest.path / SHIM_SOCKET, adopt=[cid] if adopt else []
            ) as client:
                with anyio.fail_after(BOOT_TIMEOUT):
                    await client.version()
                self.client = client
                if adopt:
                    self.started.set()
                task_status.started()
                await self._follow(client)

    async def _follow(self, client: AgentClient) -> None:
        """Until the container's process exits (the shim records the code)."""
        await self.started.wait()
        process = client.process(self.guest.container_id)
        try:
            if process is not None:
                await process.wait()
            else:
                await client.wait(self.guest.container_id)
        except PouchError as error:
            log.info("container %s: %s", self.guest.container_id[:12], error)
        if self.guest.exit() is None:
            await anyio.sleep(0.2)  # the shim writes it before it passes the exit on
        # Only the connection ended (another client took the shim's socket, say)
        # while the shim still watches the VM: the next link adopts it again.
        if self.guest.exit() is None and not self.guest.shim_alive():
            self.guest.write_lost(LOST)
        self.exited.set()


class Hub:
    """The plugin's service; ``link`` connects (or finds) one VM's agent."""

    name = "kata-agents"

    def __init__(self) -> None:
        self._tg: anyio.abc.TaskGroup | None = None
        self._ready = anyio.Event()
        self._links: dict[str, Link] = {}
        self._lock = anyio.Lock()

    async def serve(self) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            self._ready.set()
            await anyio.sleep_forever()

    def find(self, container_id: str) -> Link | None:
        return self._links.get(container_id)

    async def link(self, guest: GuestDir, *, adopt: bool) -> Link:
        """The container's link, connecting first (within ``BOOT_TIMEOUT``) if needed."""
        async with self._lock:
            existing = self._links.get(guest.container_id)
            if existing is not None and not existing.exited.is_set():
                return existing
            with anyio.fail_after(BOOT_TIMEOUT):
                await self._ready.wait()
            assert self._tg is not None
            link = Link(guest)
            await self._tg.start(self._run, link, adopt)
            self._links[guest.container_id] = link
            return link

    async def _run(
        self, link: Link, adopt: bool, *, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        try:
            await link.run(adopt=adopt, task_status=task_status)
        except PouchError as error:
            if not link.client:
                raise  # before it connected: the caller of link() hears it
            log.warning("container %s: %s", link.guest.container_id[:12], error)
        except TimeoutError:
            if not link.client:
                raise PouchError(
                    f"the VM's agent did not answer within {BOOT_TIMEOUT:g} s"
                ) from None
            raise
        finally:
            link.exited.set()
            link.finished.set()
            if self._links.get(link.guest.container_id) is link:
                del self._links[link.guest.container_id]

    async def drop(self, container_id: str) -> None:
        """Close the container's link (its VM is being removed)."""
        link = self._links.pop(container_id, None)
        if link is not None:
            link.scope.cancel()
            with anyio.move_on_after(15):
                await link.finished.wait()
