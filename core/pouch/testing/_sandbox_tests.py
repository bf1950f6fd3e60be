"""Conformance tests of sandboxes: what the namespaces and files a sandbox shares give a container.

Through the Engine: the hostname from the config, an /etc/hosts naming the
container, a resolv.conf, a network namespace of its own (only loopback on the
network ``none``; the pinned one on a network whose driver pins one; the
host's with ``networks=["host"]``), and nothing left once the container is
removed. A pinned namespace comes from the kit's ``inner`` network driver
(``pouch.testing.networks``), which touches nothing outside it. A runtime
that declares ``Capability.SANDBOXES`` is also driven through its
``SandboxRuntime`` calls directly, each repeated, as the engine repeats them
after a crash.

Bound into ``SandboxConformance`` by ``with_tests``: each function's ``self`` is the suite.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from pouch.drivers import Capability, Sandbox, SandboxRuntime
from pouch.errors import NoSuchObject
from pouch.models import State
from pouch.mounts import is_mountpoint
from pouch.netns import create_netns, remove_netns
from pouch.testing._suite import LONG, SuiteBase, well_behaved
from pouch.testing.networks import INNER_NETWORK_DRIVER, add_inner_network

if TYPE_CHECKING:
    from pouch.engine import Engine
    from pouch.models import Container

__all__: list[str] = []

_DONE = "--reported--"
_NAMESPACE_REPORT = (
    "readlink /proc/self/ns/net; hostname; echo ---; ls /sys/class/net; echo ---;"
    " ip -o link show lo; ping -c1 -W2 127.0.0.1 >/dev/null && echo loopback-answers"
)


def _reporting(script: str) -> list[str]:
    """Runs ``script``, says it is done, and stays up (so its sandbox can be inspected)."""
    return well_behaved(f"{script}; echo {_DONE}; while :; do sleep 0.1; done")


async def _report(self: SuiteBase, engine: Engine, container: Container) -> list[list[str]]:
    """What ``_reporting`` printed, in the sections its ``echo ---`` lines divide."""
    with anyio.fail_after(self.timeout / 2):
        while True:
            running = engine.inspect(container.id).state.status == State.RUNNING
            lines = await self.output(engine, container.id)
            if _DONE in lines:
                break
            assert running, f"exited before reporting: {await self.logs(engine, container.id)}"
            await anyio.sleep(0.1)
    sections: list[list[str]] = [[]]
    for line in lines[: lines.index(_DONE)]:
        if line == "---":
            sections.append([])
        else:
            sections[-1].append(line)
    return sections


async def _inner_network(engine: Engine) -> str:
    add_inner_network(engine)
    name = "kit-" + secrets.token_hex(3)
    await engine.networks.create(name, driver=INNER_NETWORK_DRIVER)
    return name


async def test_hostname_hosts_and_resolv_conf(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    self.require(engine, Capability.NAMESPACES)
    network = await _inner_network(engine)
    script = "hostname; echo ---; cat /etc/hosts; echo ---; cat /etc/resolv.conf"
    with anyio.fail_after(self.timeout):
        container = await self.run(
            engine, busybox, _reporting(script), hostname="kit-sandbox", networks=[network]
        )
        hostname, hosts, resolv = await _report(self, engine, container)
        address = container.attachments[0].ips[0].split("/")[0]
        assert hostname == ["kit-sandbox"]
        entries = [line.split() for line in hosts]
        assert [address, "kit-sandbox"] in entries, hosts
        assert any(entry[:2] == ["127.0.0.1", "localhost"] for entry in entries), hosts
        assert any(line.split()[:1] == ["nameserver"] for line in resolv), resolv
        await engine.remove(container.id, force=True)


async def test_a_network_namespace_of_its_own(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    self.require(engine, Capability.NAMESPACES)
    host = os.readlink("/proc/self/ns/net")
    network = await _inner_network(engine)
    with anyio.fail_after(self.timeout):
        alone = await self.run(engine, busybox, _reporting(_NAMESPACE_REPORT), networks=["none"])
        (namespace, hostname), interfaces, loopback = await _report(self, engine, alone)
        assert namespace != host, "the network none shares the host's namespace"
        assert hostname == alone.id[:12]  # the default: docker's short ID
        assert interfaces == ["lo"]
        assert "UP" in loopback[0] and loopback[-1] == "loopback-answers", loopback

        pinned = await self.run(engine, busybox, _reporting(_NAMESPACE_REPORT), networks=[network])
        (namespace, _), interfaces, _ = await _report(self, engine, pinned)
        assert pinned.netns_path, "a network that pins a namespace got none"
        assert namespace == f"net:[{os.stat(pinned.netns_path).st_ino}]", (
            "the container did not join the sandbox's pinned namespace"
        )
        assert pinned.attachments[0].interface in interfaces

        shared = await self.run(engine, busybox, _reporting(_NAMESPACE_REPORT), networks=["host"])
        (namespace, _), _, _ = await _report(self, engine, shared)
        assert namespace == host, "networks=['host'] did not share the host's namespace"
        for container in (alone, pinned, shared):
            await engine.remove(container.id, force=True)


async def test_everything_released_after_removal(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    self.require(engine, Capability.NAMESPACES)
    runtime = engine.kernel.runtimes.get(self.runtime)
    network = await _inner_network(engine)
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, LONG, networks=[network])
        netns = Path(container.netns_path)
        assert is_mountpoint(netns), f"the sandbox's namespace is not pinned at {netns}"
        await engine.remove(container.id, force=True)
        assert not netns.exists(), f"{netns} outlived its sandbox"
        assert list((engine.config.run_root / "netns").glob("*")) == []
        assert container.id not in await self.held_by_runtime(engine)
        if Capability.SANDBOXES in runtime.describe().capabilities:
            assert isinstance(runtime, SandboxRuntime)
            held = {s.id for s in await runtime.list_sandboxes()}
            assert (container.sandbox_id or container.id) not in held


async def test_sandbox_runtime_calls_repeat_safely(
    self: SuiteBase, engine: Engine, tmp_path: Path
) -> None:
    self.require(engine, Capability.SANDBOXES)
    runtime = engine.kernel.runtimes.get(self.runtime)
    assert isinstance(runtime, SandboxRuntime), "declares sandboxes, lacks SandboxRuntime"
    sandbox_id = secrets.token_hex(32)
    files = {name: tmp_path / name for name in ("hostname", "hosts", "resolv.conf")}
    files["hostname"].write_text("kit-pod\n")
    files["hosts"].write_text("127.0.0.1\tlocalhost\n")
    files["resolv.conf"].write_text("nameserver 192.0.2.1\n")
    netns = engine.config.run_root / "netns" / sandbox_id
    with anyio.fail_after(self.timeout):
        sandbox = Sandbox(
            id=sandbox_id,
            hostname="kit-pod",
            netns_path=str(await create_netns(netns)),
            hostname_path=str(files["hostname"]),
            hosts_path=str(files["hosts"]),
            resolv_conf_path=str(files["resolv.conf"]),
            name="kit-pod",
        )
        try:
            for _ in range(2):
                created = await runtime.create_sandbox(sandbox)
                assert created.id == sandbox_id and created.status in ("created", "ready")
            for _ in range(2):
                assert (await runtime.start_sandbox(sandbox_id)).status == "ready"
            assert (await runtime.sandbox_state(sandbox_id)).status == "ready"
            assert sandbox_id in {s.id for s in await runtime.list_sandboxes()}
            for _ in range(2):
                await runtime.stop_sandbox(sandbox_id)
            assert (await runtime.sandbox_state(sandbox_id)).status == "stopped"
            for _ in range(2):
                await runtime.delete_sandbox(sandbox_id)
            with pytest.raises(NoSuchObject):
                await runtime.sandbox_state(sandbox_id)
            assert sandbox_id not in {s.id for s in await runtime.list_sandboxes()}
        finally:
            with anyio.CancelScope(shield=True):
                with contextlib.suppress(Exception):
                    await runtime.delete_sandbox(sandbox_id)
                await remove_netns(netns)
