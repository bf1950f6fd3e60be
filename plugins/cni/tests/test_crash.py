"""An engine killed with SIGKILL in the middle of networking a container leaves nothing.

The engine runs in a separate process (as pouchd would). Twice it is killed
at a bad moment — after the CNI ADD but before the runtime started the
container (a stand-in runtime named ``runc`` blocks in ``create``), and in the
middle of the ADD itself (a ``firewall`` shim that hangs) — and a new engine on
the same directories must release the veth, the IP reservation, the
namespace, the iptables rules and the cache entry.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from pouch.config import EngineConfig
from pouch.engine import Engine
from pouch.models import State
from pouch.testing import remove_all_containers

# Real containers: these need the runc runtime, which pouch-cni does not bring
# (installed alone beside the core, the plugin's other tests still run).
pytest.importorskip("pouch_runc", reason="the container tests need pouch-runc installed")

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.root,
    pytest.mark.binary("runc", "conmon", "iptables"),
    pytest.mark.usefixtures("host_guard"),
]

SCRIPT = textwrap.dedent(
    """
    import json, sys, anyio
    from pathlib import Path
    from pouch import ContainerConfig, Engine
    from pouch.config import load_config
    from pouch.drivers import DriverInfo, PortMapping
    from pouch.errors import NoSuchContainer
    from pouch.markers import hookimpl
    from pouch.testing import import_busybox

    class Stuck:
        name = "runc"
        def describe(self): return DriverInfo(name="runc")
        async def create(self, container):
            print("created", flush=True)
            await anyio.sleep_forever()
        async def delete(self, container_id): return None
        async def list(self): return []
        async def state(self, container_id): raise NoSuchContainer(container_id)

    class StuckPlugin:
        @hookimpl
        def pouch_add_runtimes(self, config): return [Stuck()]

    async def main():
        config = load_config(None, **json.loads(sys.argv[1]))
        extra = [("stuck", StuckPlugin())] if "runc" in config.plugins.disable else []
        async with Engine(config, plugins=extra) as engine:
            await import_busybox(engine, Path(sys.argv[2]))
            await engine.networks.create("ptc0ffee", driver="bridge",
                                        options={"subnet": "10.231.20.0/24", "bridge": "ptc0ffee"})
            c = await engine.create(ContainerConfig(
                image="busybox", cmd=["sleep", "60"], networks=["ptc0ffee"],
                ports=[PortMapping(container_port=80, host_port=int(sys.argv[3]))]), name="victim")
            print("starting", flush=True)
            await engine.start(c.id)

    anyio.run(main)
    """
)


def engine_process(settings: dict[str, Any], busybox_rootfs: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(settings), str(busybox_rootfs), "18931"],
        stdout=subprocess.PIPE,
        text=True,
    )


def base_settings(config: EngineConfig) -> dict[str, Any]:
    return {
        "root": str(config.root),
        "run_root": str(config.run_root),
        "default_runtime": "runc",
        "default_network": "none",
    }


def wait_for_line(proc: subprocess.Popen[str], wanted: str) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == wanted:
            return
    raise AssertionError(f"the engine process ended before printing {wanted!r}")


async def restart_and_clean(
    config: EngineConfig, leftovers: Callable[[], dict[str, list[str]]]
) -> None:
    """A new engine on the same directories: reconciliation and gc release everything."""
    async with Engine(config) as engine:
        try:
            victim = engine.lookup("victim")
            assert victim.state.status == State.CREATED
            assert victim.attachments == [] and victim.netns_path == ""
            assert leftovers() == {}
        finally:
            await remove_all_containers(engine)
            await engine.networks.remove("ptc0ffee")


def kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


async def test_sigkill_between_add_and_start(
    pouch_config: EngineConfig,
    busybox_rootfs: Path,
    container_leftovers: Callable[[], dict[str, list[str]]],
) -> None:
    settings = base_settings(pouch_config) | {"plugins": {"disable": ["runc"]}}
    proc = engine_process(settings, busybox_rootfs)
    try:
        await anyio.to_thread.run_sync(wait_for_line, proc, "created")
        # The ADD is complete: the attachment is cached, the address reserved.
        found = container_leftovers()
        assert found.get("cache") and found.get("reservations") and found.get("netns"), found
    finally:
        kill(proc)
    await restart_and_clean(pouch_config, container_leftovers)


async def test_sigkill_in_the_middle_of_add(
    pouch_config: EngineConfig,
    busybox_rootfs: Path,
    tmp_path: Path,
    container_leftovers: Callable[[], dict[str, list[str]]],
) -> None:
    shims, mark = tmp_path / "shims", tmp_path / "firewall-reached"
    shims.mkdir()
    shim = shims / "firewall"
    shim.write_text(
        "#!/bin/sh\n"
        f'if [ "$CNI_COMMAND" = ADD ]; then echo $$ > {mark}; exec sleep 300; fi\n'
        'exec /usr/lib/cni/firewall "$@"\n'
    )
    shim.chmod(0o755)
    cni = {"plugin_dirs": [str(shims), "/usr/lib/cni"]}
    proc = engine_process(base_settings(pouch_config) | {"plugin": {"cni": cni}}, busybox_rootfs)
    try:
        with anyio.fail_after(60):
            while not mark.exists() or not mark.read_text().strip():
                assert proc.poll() is None, "the engine process ended before the ADD"
                await anyio.sleep(0.05)
        # bridge has run (veth, address, masquerading), firewall is stuck.
        found = container_leftovers()
        assert found.get("cache") and found.get("reservations") and found.get("nat"), found
    finally:
        kill(proc)
        if mark.exists() and mark.read_text().strip():
            os.kill(int(mark.read_text()), signal.SIGKILL)
    await restart_and_clean(pouch_config, container_leftovers)
