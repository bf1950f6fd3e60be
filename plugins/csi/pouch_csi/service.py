"""pouchd's CSI service: drivers pouchd runs itself, and the retry of unfinished steps.

For each driver configured with a ``command``, the service starts it unless
something already answers on its endpoint (a driver an earlier pouchd
started, which outlived it), and starts it again when it exits, waiting
longer after each quick failure. Every ``interval`` seconds, and first thing
at start, it retries the steps back that failed (``CsiVolumes.settle_all``):
an unpublish or unstage that met a crashed driver is done once the driver is
back. The drivers it started are stopped (SIGTERM, then SIGKILL) when
pouchd stops; the volumes they mounted stay mounted, as the kernel holds them.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
from pathlib import Path

import anyio
import anyio.abc

from pouch_csi._deferred import pb
from pouch_csi.client import CsiClient, CsiError
from pouch_csi.registry import Driver
from pouch_csi.volumes import CsiVolumes

__all__ = ["CsiService"]

log = logging.getLogger("pouch.csi")


class CsiService:
    name = "csi"

    def __init__(self, volumes: CsiVolumes, log_dir: Path, *, interval: float = 5.0) -> None:
        self.volumes = volumes
        self.log_dir = log_dir
        self.interval = interval

    async def serve(self) -> None:
        async with anyio.create_task_group() as tg:
            for name, driver in self.volumes.connections.registry.configured.items():
                if driver.command:
                    tg.start_soon(self._keep_running, name, driver)
            while True:
                await self.volumes.settle_all()
                await anyio.sleep(self.interval)

    async def _answers(self, name: str, driver: Driver) -> bool:
        client = CsiClient(name, driver.endpoint, timeout=2)
        try:
            await client.call("Identity", "Probe", pb.ProbeRequest())
            return True
        except CsiError:
            return False
        finally:
            await client.close()

    async def _start(self, name: str, driver: Driver) -> anyio.abc.Process:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        output = (self.log_dir / f"{name}.log").open("ab")  # a few bytes: no thread needed
        try:
            return await anyio.open_process(
                driver.command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            output.close()

    async def _keep_running(self, name: str, driver: Driver) -> None:
        delay = 1.0
        while True:
            if await self._answers(name, driver):
                await anyio.sleep(self.interval)
                continue
            try:
                process = await self._start(name, driver)
            except OSError as error:  # a wrong command: said, and tried again later
                delay = min(delay * 2, 30.0)
                log.error("csi driver %s: cannot run %s: %s", name, driver.command[0], error)
                await anyio.sleep(delay)
                continue
            log.info("csi driver %s started (pid %d)", name, process.pid)
            started = anyio.current_time()
            try:
                code = await process.wait()
            finally:
                with anyio.CancelScope(shield=True):
                    await _stop(process)
            lived = anyio.current_time() - started
            delay = 1.0 if lived > 30 else min(delay * 2, 30.0)
            log.warning(
                "csi driver %s exited with %s; starting it again in %g s", name, code, delay
            )
            self.volumes.connections.forget(name)
            await anyio.sleep(delay)


async def _stop(process: anyio.abc.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    with anyio.move_on_after(5):
        await process.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    with anyio.move_on_after(5):
        await process.wait()
