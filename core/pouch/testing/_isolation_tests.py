"""Conformance tests of isolation and terminals: what a runtime with namespaces owes.

Each test names the capabilities it needs (``namespaces``, ``exec``, ``tty``,
``attach``) and skips, saying which is missing, on a runtime without them.

Bound into ``RuntimeConformance`` by ``with_tests``: each function's ``self`` is the suite.
"""

from __future__ import annotations

import anyio

from pouch.engine import Engine
from pouch.testing._suite import LONG, SuiteBase

__all__: list[str] = []


async def test_exec_runs_in_the_containers_namespaces(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    self.require(engine, "namespaces", "exec")
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, ["sleep", "60"], hostname="inside")
        code, out, _ = await engine.exec_run(
            container.id, ["sh", "-c", "hostname; cat /proc/1/cmdline"]
        )
        assert code == 0
        hostname, cmdline = out.decode().split("\n", 1)
        assert hostname == "inside"
        # PID 1 is the container's own, not the host's init.
        assert cmdline.split("\0")[0] == "sleep"
        code, out, _ = await engine.exec_run(container.id, ["id", "-u"], user="nobody")
        assert (code, out.strip()) == (0, b"65534")
        # An exec is held as the container's first process is: same
        # capabilities, same seccomp filter.
        probe = "grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/{}/status"
        _, first, _ = await engine.exec_run(container.id, ["sh", "-c", probe.format(1)])
        _, own, _ = await engine.exec_run(container.id, ["sh", "-c", probe.format("self")])
        assert b"CapBnd" in first and own == first
        await engine.remove(container.id, force=True)


async def test_user_names_resolve_in_the_image(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    self.require(engine, "namespaces")
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, ["sh", "-c", "id -u; id -g"], user="nobody")
        assert await engine.wait(container.id) == 0
        assert await self.output(engine, container.id) == ["65534", "65534"]


async def test_read_only_rootfs_and_dropped_capabilities(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    self.require(engine, "namespaces")
    script = (
        "touch /x 2>/dev/null && echo writable; chown nobody /tmp 2>/dev/null && echo chown;"
        " touch /data/ok && echo mounted-rw"
    )
    with anyio.fail_after(self.timeout):
        container = await self.run(
            engine,
            busybox,
            ["sh", "-c", script],
            read_only_rootfs=True,
            cap_drop=["CHOWN"],
            tmpfs={"/data": ""},  # a new mount point on a read-only root
        )
        await engine.wait(container.id)
        assert await self.output(engine, container.id) == ["mounted-rw"]


async def test_interactive_terminal(self: SuiteBase, engine: Engine, busybox: str) -> None:
    self.require(engine, "tty", "attach")
    output = bytearray()
    with anyio.fail_after(self.timeout):
        container = await self.create(engine, busybox, ["sh"], tty=True, open_stdin=True)
        async with engine.attach(container.id, stdin=True) as attached:
            await engine.start(container.id)
            await attached.resize(40, 100)

            async def read() -> None:
                async for _, chunk in attached.output():
                    output.extend(chunk)

            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                await attached.write(b"stty size; echo hello-$((6*7))\n")
                while b"hello-42" not in output:
                    await anyio.sleep(0.05)
                await attached.write(b"exit 3\n")
        assert await engine.wait(container.id) == 3
    assert b"40 100" in output


async def test_tty_exec(self: SuiteBase, engine: Engine, busybox: str) -> None:
    self.require(engine, "tty", "exec")
    with anyio.fail_after(self.timeout):
        container = await self.run(engine, busybox, LONG)
        code, out, _ = await engine.exec_run(
            container.id, ["sh", "-c", "test -t 1 && echo tty"], tty=True
        )
        assert (code, out.replace(b"\r", b"")) == (0, b"tty\n")
        await engine.remove(container.id, force=True)
