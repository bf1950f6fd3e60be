"""The guest agent driven by the host's client: processes in a busybox root
filesystem, their output and exit codes, terminals, exec into a container's
namespaces, bad requests and an agent that dies.

The agent runs on the host as a root process on a unix socket (see
conftest.py); in a VM the same program serves a virtio-serial port.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from pouch_kata._agent_client import AgentClient, AgentError, AgentGone, AgentProcess, collect
from pouch_kata._agent_protocol import ProcessSpec

from pouch.errors import PouchError

from .conftest import RunningAgent

pytestmark = pytest.mark.anyio

ENV = ["PATH=/bin", "HOME=/", "TERM=xterm"]
#: every wait of these tests is bounded by this.
LIMIT = 20


def spec(*args: str, terminal: bool = False) -> ProcessSpec:
    return ProcessSpec(args=list(args), env=ENV, terminal=terminal)


@asynccontextmanager
async def connect(agent: RunningAgent) -> AsyncIterator[AgentClient]:
    async with AgentClient.connect_unix(agent.socket) as client:
        yield client


async def run(
    client: AgentClient, agent: RunningAgent, rootfs: Path, name: str, *args: str, **kw: str
) -> AgentProcess:
    process = await client.create(name, rootfs, spec(*args), hostname=kw.get("hostname", ""))
    agent.started.append(process.pid)
    await client.start(name)
    return process


async def read_until(process: AgentProcess, pattern: str, seen: bytearray) -> re.Match[str]:
    """Read terminal output until ``pattern`` matches what came after ``seen``."""
    start = len(seen)
    async for chunk in process.output:
        seen += chunk.data
        found = re.search(pattern, seen[start:].decode(errors="replace"))
        if found:
            return found
    raise AssertionError(f"output ended before {pattern!r}: {bytes(seen)!r}")


async def test_version(agent: RunningAgent) -> None:
    async with connect(agent) as client:
        version = await client.version()
    assert version.protocol == 1
    assert version.pid == agent.process.pid


async def test_output_on_its_streams_and_the_exit_code(agent: RunningAgent, rootfs: Path) -> None:
    with anyio.fail_after(LIMIT):
        async with connect(agent) as client:
            process = await run(
                client, agent, rootfs, "c1", "sh", "-c", "echo out; echo err >&2; exit 7"
            )
            stdout, stderr, code = await collect(process)
            assert (stdout, stderr, code) == (b"out\n", b"err\n", 7)
            assert await client.wait("c1") == 7


async def test_stdin_reaches_the_process(agent: RunningAgent, rootfs: Path) -> None:
    with anyio.fail_after(LIMIT):
        async with connect(agent) as client:
            process = await run(client, agent, rootfs, "cat", "cat")
            await process.write(b"hello ")
            await process.write(b"agent\n")
            await process.close_stdin()
            assert await collect(process) == (b"hello agent\n", b"", 0)


async def test_a_terminal_follows_resize(agent: RunningAgent, rootfs: Path) -> None:
    script = "stty size; read line; stty size; read line; stty size"
    with anyio.fail_after(LIMIT):
        async with connect(agent) as client:
            process = await client.create("tty", rootfs, spec("sh", "-c", script, terminal=True))
            agent.started.append(process.pid)
            await client.resize("tty", 24, 80)
            await client.start("tty")
            seen = bytearray()
            assert (await read_until(process, r"(\d+) (\d+)", seen)).groups() == ("24", "80")
            await process.resize(40, 132)
            await process.write(b"\n")
            assert (await read_until(process, r"(\d+) (\d+)", seen)).groups() == ("40", "132")
            await process.resize(50, 90)
            await process.write(b"\n")
            assert (await read_until(process, r"(\d+) (\d+)", seen)).groups() == ("50", "90")
            assert await process.wait() == 0
            assert not [c for c in await _drain(process) if c.stream == "stderr"]


async def _drain(process: AgentProcess) -> list[object]:
    return [chunk async for chunk in process.output]


async def test_exec_joins_the_container_namespaces(agent: RunningAgent, rootfs: Path) -> None:
    probe = "hostname; readlink /proc/self/ns/pid; echo $$"
    with anyio.fail_after(LIMIT):
        async with connect(agent) as client:
            main = await run(client, agent, rootfs, "box", "sleep", "60", hostname="kata-box")
            container_pidns = os.readlink(f"/proc/{main.pid}/ns/pid")
            assert container_pidns != os.readlink("/proc/self/ns/pid")

            exec1 = await client.exec("box", "probe", spec("sh", "-c", probe))
            agent.started.append(exec1.pid)
            stdout, stderr, code = await collect(exec1)
            hostname, pidns, pid = stdout.decode().split()
            assert (hostname, pidns, code, stderr) == ("kata-box", container_pidns, 0, b"")
            # The container's own numbering: sleep is 1, the probe is small.
            assert 1 < int(pid) < 100, pid

            ps = await client.exec("box", "ps", spec("ps", "-o", "pid,args"))
            agent.started.append(ps.pid)
            listing, _, _ = await collect(ps)
            assert re.search(rb"^\s*1\s+sleep 60$", listing, re.M), listing

            await main.signal(signal.SIGKILL)
            assert await main.wait() == 128 + signal.SIGKILL


async def test_a_signal_gives_128_plus_its_number(agent: RunningAgent, rootfs: Path) -> None:
    with anyio.fail_after(LIMIT):
        async with connect(agent) as client:
            main = await run(client, agent, rootfs, "sig", "sleep", "60")
            sleeper = await client.exec("sig", "sleeper", spec("sleep", "60"))
            agent.started.append(sleeper.pid)
            await sleeper.signal(signal.SIGTERM)
            assert await sleeper.wait() == 128 + signal.SIGTERM
            await main.signal(signal.SIGKILL)
            assert await main.wait() == 137
            with pytest.raises(AgentError, match="has exited"):
                await main.signal(signal.SIGKILL)


async def test_a_bad_request_gets_a_clear_error_and_serving_goes_on(
    agent: RunningAgent, rootfs: Path
) -> None:
    with anyio.fail_after(LIMIT):
        async with connect(agent) as client:
            with pytest.raises(AgentError, match='start: no container "ghost"'):
                await client.start("ghost")
            with pytest.raises(AgentError, match="nosuchprogram: executable file not found"):
                await client.create("bad", rootfs, spec("nosuchprogram"))
            with pytest.raises(AgentError, match=r"root filesystem .*missing: not a directory"):
                await client.create("bad", rootfs / "missing", spec("sh"))
            with pytest.raises(AgentError, match='exec: no container "ghost"'):
                await client.exec("ghost", "e", spec("true"))
            with pytest.raises(AgentError, match="has no terminal"):
                process = await run(client, agent, rootfs, "plain", "sleep", "60")
                await process.resize(10, 10)
            assert isinstance(AgentError("x", "y"), PouchError)
            # Still serving, the failed names free again.
            ok = await run(client, agent, rootfs, "bad", "true")
            assert await ok.wait() == 0
            assert (await client.version()).protocol == 1
            await client.signal("plain", signal.SIGKILL)


async def test_an_agent_that_dies_raises_a_clear_error(agent: RunningAgent, rootfs: Path) -> None:
    with anyio.fail_after(LIMIT):
        async with connect(agent) as client:
            main = await run(client, agent, rootfs, "doomed", "sleep", "60")
            async with anyio.create_task_group() as tg:
                failures: list[BaseException] = []

                async def wait_for_it() -> None:
                    try:
                        await client.wait("doomed")
                    except AgentGone as error:
                        failures.append(error)

                tg.start_soon(wait_for_it)
                await anyio.sleep(0.1)
                agent.process.kill()
            assert len(failures) == 1 and "is gone" in str(failures[0])
            with pytest.raises(AgentGone, match="is gone"):
                await main.wait()
            with pytest.raises(AgentGone):
                await client.version()
            assert isinstance(failures[0], PouchError)


async def test_no_agent_to_connect_to(tmp_path: Path) -> None:
    with pytest.raises(AgentGone, match="cannot connect"):
        async with AgentClient.connect_unix(tmp_path / "none.sock"):
            pass


async def test_shutdown_kills_the_processes_and_ends_the_agent(
    agent: RunningAgent, rootfs: Path
) -> None:
    with anyio.fail_after(LIMIT):
        async with connect(agent) as client:
            main = await run(client, agent, rootfs, "last", "sleep", "60")
            await client.shutdown()
            # Its exit event may beat the end of the agent, or not.
            try:
                code: int | None = await main.wait()
            except AgentGone:
                code = None
            assert code in (None, 128 + signal.SIGKILL)
        while agent.process.poll() is None:
            await anyio.sleep(0.05)
        assert agent.process.returncode == 0
        # SIGKILL takes a moment to finish a PID namespace's first process.
        while Path(f"/proc/{main.pid}").exists() and not _is_zombie(main.pid):
            await anyio.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


async def test_an_exec_gets_the_container_capabilities_and_filter(
    agent: RunningAgent, rootfs: Path
) -> None:
    from pouch_kata._agent_protocol import Capabilities
    from pouch_kata._seccomp import compile_bpf

    from pouch.oci import LinuxSeccomp, LinuxSyscall

    deny_mkdir = compile_bpf(
        LinuxSeccomp(
            default_action="SCMP_ACT_ALLOW",
            syscalls=[LinuxSyscall(names=["mkdir", "mkdirat"], action="SCMP_ACT_ERRNO")],
        )
    )
    kept = ["CAP_CHOWN", "CAP_KILL"]
    caps = Capabilities(bounding=kept, effective=kept, permitted=kept)
    probe = "grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/self/status; mkdir /made"
    limited = ProcessSpec(
        args=["sh", "-c", probe],
        env=ENV,
        capabilities=caps,
        no_new_privileges=True,
        seccomp=deny_mkdir,
    )
    with anyio.fail_after(LIMIT):
        async with connect(agent) as client:
            main = await run(client, agent, rootfs, "lim", "sleep", "60")
            for name in ("main", "exec"):
                if name == "main":
                    proc = await client.create("lim2", rootfs, limited)
                    agent.started.append(proc.pid)
                    await client.start("lim2")
                else:
                    proc = await client.exec("lim", "probe", limited)
                    agent.started.append(proc.pid)
                stdout, stderr, code = await collect(proc)
                fields = dict(line.split(":\t") for line in stdout.decode().splitlines())
                # CAP_CHOWN is bit 0, CAP_KILL bit 5.
                assert fields == {
                    "CapBnd": "0000000000000021",
                    "CapEff": "0000000000000021",
                    "NoNewPrivs": "1",
                    "Seccomp": "2",
                }, name
                assert code == 1 and b"Operation not permitted" in stderr, (name, stderr)
            assert not (rootfs / "made").exists()
            await main.signal(signal.SIGKILL)
            await main.wait()


async def test_masked_and_read_only_paths(agent: RunningAgent, rootfs: Path) -> None:
    probe = (
        "wc -c < /proc/timer_list; ls /proc/irq | wc -l; "
        "echo 1 > /proc/sys/kernel/ns_last_pid && echo sys-writable; "
        "echo h > /proc/sysrq-trigger && echo sysrq-writable; echo done"
    )
    with anyio.fail_after(LIMIT):
        async with connect(agent) as client:
            process = await client.create(
                "masked",
                rootfs,
                spec("sh", "-c", probe),
                masked_paths=["/proc/timer_list", "/proc/irq", "/proc/nothing-here"],
                readonly_paths=["/proc/sys", "/proc/sysrq-trigger"],
            )
            agent.started.append(process.pid)
            await client.start("masked")
            stdout, stderr, _ = await collect(process)
    assert stdout.split() == [b"0", b"0", b"done"], (stdout, stderr)
    assert b"ns_last_pid: Read-only file system" in stderr, stderr
