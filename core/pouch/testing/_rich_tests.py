"""Conformance tests of rich containers and OCI hooks from a hooks directory.

A rich container's init (tini, busybox's ``/sbin/init`` with an inittab), its
initscript, and hook files in the engine's ``hooks_dirs``: what each runtime
owes whatever way it runs the spec's hooks (runc and crun themselves, lxc by
translating them). Each test needs ``namespaces`` (a PID 1 of its own).

Bound into ``RuntimeConformance`` by ``with_tests``: each function's ``self`` is the suite.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import anyio
import pytest

from pouch.engine import Engine
from pouch.errors import InvalidArgument, PouchError
from pouch.models import Mount, State
from pouch.testing._suite import LONG, SuiteBase, until
from pouch.testing.debian_images import (
    SYSTEMD,
    SYSTEMD_PAGE,
    DebianImageMissing,
    debian_rootfs_tar,
)
from pouch.testing.images import busybox_layer
from pouch.testing.plugin import import_busybox

__all__: list[str] = []

_INITTAB = b"""\
::sysinit:/bin/sh -c 'echo sysinit-done > /run-marker'
::respawn:/bin/sleep 1001
::respawn:/bin/sleep 1002
::shutdown:/bin/sh -c 'echo shutdown-ran >> /record/shutdown'
"""
_INITSCRIPT = b"""\
#!/bin/sh
echo "uid=$(id -u) host=$(hostname) greeting=$GREETING" > /tmp/initscript-ran
"""
_FAILING = b"""\
#!/bin/sh
echo "the config is broken" >&2
exit 3
"""
# Records "STAGE ID PID STATUS" of the state it gets on stdin, one line per run.
_RECORDER = """\
#!/bin/sh
state=$(cat)
pid=$(printf '%s' "$state" | sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p')
status=$(printf '%s' "$state" | sed -n 's/.*"status": *"\\([a-z]*\\)".*/\\1/p')
echo "$1 ${pid:-0} $status" >> RECORD
"""


async def _rich_image(engine: Engine, tmp_path: Path) -> str:
    layer = busybox_layer().dir("sbin").symlink("sbin/init", "/bin/busybox")
    layer.dir("record").file("etc/inittab", _INITTAB)
    layer.file("init.sh", _INITSCRIPT, 0o755).file("broken.sh", _FAILING, 0o755)
    tarball = tmp_path / "rich.tar"
    layer.write(tarball)
    return await import_busybox(engine, tarball, "rich-busybox:latest")


async def _ps(engine: Engine, container_id: str) -> dict[int, str]:
    """PID → command line of each process the container's ``ps`` lists."""
    code, out, err = await engine.exec_run(container_id, ["ps", "-o", "pid,args"])
    assert code == 0, err
    table = {}
    for line in out.decode().splitlines()[1:]:
        pid, _, args = line.strip().partition(" ")
        table[int(pid)] = args.strip()
    return table


async def test_rich_dumb_init_runs_the_command_under_a_reaping_init(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    self.require(engine, "namespaces", "exec")
    with anyio.fail_after(self.timeout):
        # The subshell leaves an orphan behind; only a reaping PID 1 collects it.
        orphan = ["sh", "-c", "(sleep 0.1 &); exec sleep 1000"]
        container = await self.run(engine, busybox, orphan, rich=True)
        for _ in range(100):  # until the shell has become the sleep (slow in a VM)
            processes = await _ps(engine, container.id)
            if "sleep 1000" in processes.values():
                break
            await anyio.sleep(0.1)
        assert processes[1].startswith("/sbin/docker-init"), processes
        assert any(args == "sleep 1000" for pid, args in processes.items() if pid != 1)
        await anyio.sleep(0.5)
        _, out, _ = await engine.exec_run(container.id, ["ps", "-o", "stat,args"])
        assert not [line for line in out.decode().splitlines() if line.startswith("Z")], out
        # tini passes SIGTERM on to the command, which dies of it: no SIGKILL needed.
        await engine.stop(container.id, timeout=30)
        assert engine.inspect(container.id).state.exit_code == 143


async def test_rich_sbin_init_runs_the_inittab_services(
    self: SuiteBase, engine: Engine, tmp_path: Path
) -> None:
    self.require(engine, "namespaces", "exec")
    record = tmp_path / "record"
    record.mkdir()
    with anyio.fail_after(self.timeout):
        image = await _rich_image(engine, tmp_path)
        container = await self.run(
            engine,
            image,
            [],
            rich=True,
            rich_mode="sbin-init",
            mounts=[Mount(type="bind", source=str(record), target="/record")],
        )

        for _ in range(100):
            processes = await _ps(engine, container.id)
            if sum(args.startswith("/bin/sleep") for args in processes.values()) == 2:
                break
            await anyio.sleep(0.1)
        assert processes[1] == "init", processes  # busybox's init names itself so
        services = {a for a in processes.values() if a.startswith("/bin/sleep")}
        assert services == {"/bin/sleep 1001", "/bin/sleep 1002"}, processes
        code, out, _ = await engine.exec_run(container.id, ["cat", "/run-marker"])
        assert (code, out) == (0, b"sysinit-done\n")
        # The stop signal is busybox's "poweroff": its init runs the shutdown
        # actions, ends the services and leaves, long before the stop timeout.
        await engine.stop(container.id, timeout=60)
        state = engine.inspect(container.id).state
        assert state.status == State.EXITED
        assert state.exit_code != 137, "the init had to be killed"
        assert (record / "shutdown").read_text() == "shutdown-ran\n"


async def test_rich_sbin_init_runs_the_users_command_as_one_more_service(
    self: SuiteBase, engine: Engine, tmp_path: Path
) -> None:
    self.require(engine, "namespaces", "exec", "hooks")
    with anyio.fail_after(self.timeout):
        image = await _rich_image(engine, tmp_path)
        command = ["sh", "-c", "echo the service says hi; exec sleep 1003"]
        container = await self.run(
            engine, image, command, rich=True, rich_mode="sbin-init", user="nobody"
        )
        for _ in range(100):
            processes = await _ps(engine, container.id)
            if "sleep 1003" in processes.values():
                break
            await anyio.sleep(0.1)
        assert processes[1] == "init" and "sleep 1003" in processes.values(), processes
        assert "/bin/sleep 1001" in processes.values(), processes
        _, out, _ = await engine.exec_run(container.id, ["ps", "-o", "user,args"])
        assert any(
            line.split(None, 1) == ["nobody", "sleep 1003"] for line in out.decode().splitlines()
        ), out
        await engine.stop(container.id, timeout=60)
        assert "the service says hi" in [
            line.strip() for line in await self.output(engine, container.id)
        ]


async def test_rich_initscript_runs_first_as_the_containers_user(
    self: SuiteBase, engine: Engine, tmp_path: Path
) -> None:
    self.require(engine, "namespaces", "exec", "hooks")
    with anyio.fail_after(self.timeout):
        image = await _rich_image(engine, tmp_path)
        container = await self.run(
            engine,
            image,
            ["sh", "-c", "cat /tmp/initscript-ran; exec sleep 1000"],
            rich=True,
            initscript="/init.sh",
            user="nobody",
            hostname="rich-one",
            env=["GREETING=hello"],
        )
        await until(lambda: bool(engine.inspect(container.id).state.pid), "the start")
        code, out, _ = await engine.exec_run(container.id, ["cat", "/tmp/initscript-ran"])
        assert (code, out) == (0, b"uid=65534 host=rich-one greeting=hello\n")
        # And at every start again: the command saw it each time.
        await engine.stop(container.id, timeout=1)
        await engine.start(container.id)
        lines: list[str] = []
        deadline = anyio.current_time() + 20
        while len(lines) < 2 and anyio.current_time() < deadline:  # the command's cat, again
            lines = [line.strip() for line in await self.output(engine, container.id)]
            await anyio.sleep(0.05)
        await engine.stop(container.id, timeout=1)
        assert lines == ["uid=65534 host=rich-one greeting=hello"] * 2


async def test_rich_initscript_failure_fails_the_start(
    self: SuiteBase, engine: Engine, tmp_path: Path
) -> None:
    self.require(engine, "namespaces", "hooks")
    with anyio.fail_after(self.timeout):
        image = await _rich_image(engine, tmp_path)
        container = await self.create(engine, image, LONG, rich=True, initscript="/broken.sh")
        with pytest.raises(PouchError) as failed:
            await engine.start(container.id)
        assert "the config is broken" in str(failed.value)
        assert "3" in str(failed.value)
        assert engine.inspect(container.id).state.status != State.RUNNING
        assert container.id not in {
            s.id for s in await engine.kernel.runtimes.get(self.runtime).list()
        } or all(
            s.status == "stopped"
            for s in await engine.kernel.runtimes.get(self.runtime).list()
            if s.id == container.id
        )


@pytest.mark.slow
async def test_rich_systemd_boots_the_images_units_and_stops_cleanly(
    self: SuiteBase, engine: Engine
) -> None:
    """The image's systemd reaches running, its unit serves, ``stop`` ends it with 0."""
    self.require(engine, "namespaces", "exec")
    try:
        tarball = await anyio.to_thread.run_sync(debian_rootfs_tar, SYSTEMD)
    except DebianImageMissing as missing:
        pytest.skip(str(missing))
    load = functools.partial(
        engine.images.store.import_rootfs, tarball, "rich-systemd:latest", config=SYSTEMD.config
    )
    await anyio.to_thread.run_sync(load)
    with anyio.fail_after(self.timeout + 60):
        container = await self.run(
            engine, "rich-systemd:latest", [], rich=True, rich_mode="systemd"
        )
        # --wait waits for the boot to end, once systemd answers at all: before
        # that (a slow VM) systemctl cannot connect or finds it "offline".
        for _ in range(300):
            code, out, err = await engine.exec_run(
                container.id, ["systemctl", "is-system-running", "--wait"]
            )
            if b"Failed to connect" not in err and out.strip() != b"offline":
                break
            await anyio.sleep(0.1)
        state = out.decode().strip()
        if state != "running":
            _, failed, _ = await engine.exec_run(
                container.id, ["systemctl", "--failed", "--no-legend", "--plain"]
            )
            assert state == "degraded", (state, err)
            raise AssertionError(f"failed units in a rich container: {failed.decode()}")
        code, out, _ = await engine.exec_run(
            container.id, ["busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]
        )
        assert (code, out.decode()) == (0, SYSTEMD_PAGE)
        code, out, _ = await engine.exec_run(container.id, ["systemctl", "status", "web.service"])
        assert code == 0 and b"active (running)" in out, out
        code, out, _ = await engine.exec_run(container.id, ["sh", "-c", "echo $container"])
        assert out == b"pouch\n"
        # SIGRTMIN+3 is systemd's "halt": it stops every unit and leaves with 0.
        await engine.stop(container.id, timeout=10)
        state_after = engine.inspect(container.id).state
        assert (state_after.status, state_after.exit_code) == (State.EXITED, 0)


async def test_a_runtime_without_hooks_refuses_an_initscript(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    if "hooks" in self.capabilities(engine):
        pytest.skip(f"runtime {self.runtime} runs OCI hooks")
    with pytest.raises(InvalidArgument) as refused:
        await self.create(engine, busybox, LONG, rich=True, initscript="/init.sh")
    assert refused.value.field == "initscript"
    assert not engine.list(all=True)


def _hook_file(engine: Engine, name: str, body: dict[str, object]) -> None:
    directory = engine.config.hooks_dirs[0]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(json.dumps(body))


def _recorder(tmp_path: Path) -> tuple[Path, Path]:
    record = tmp_path / "hook-record"
    script = tmp_path / "record-hook"
    script.write_text(_RECORDER.replace("RECORD", str(record)))
    script.chmod(0o755)
    return script, record


async def test_hooks_from_the_directory_run_once_per_start_and_stop(
    self: SuiteBase, engine: Engine, busybox: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    self.require(engine, "namespaces", "hooks")
    script, record = _recorder(tmp_path)
    for stage in ("prestart", "poststop"):
        _hook_file(
            engine,
            f"{stage}.json",
            {
                "version": "1.0.0",
                "hook": {"path": str(script), "args": ["record-hook", stage]},
                "when": {"annotations": {"^io\\.pouch\\.test$": "^hooked$"}},
                "stages": [stage],
            },
        )
    caplog.set_level(logging.INFO, logger="pouch.builtins.oci_hooks")
    with anyio.fail_after(self.timeout):
        plain = await self.run(engine, busybox, LONG)
        hooked = await self.create(engine, busybox, LONG, labels={"io.pouch.test": "hooked"})
        pids = []
        for _ in range(2):
            await engine.start(hooked.id)
            pids.append(engine.inspect(hooked.id).state.pid)
            await engine.stop(hooked.id, timeout=10)
        await engine.stop(plain.id, timeout=10)
    lines = record.read_text().splitlines()
    assert (
        lines
        == [
            f"prestart {pids[0]} created",
            "poststop 0 stopped",
            f"prestart {pids[1]} created",
            "poststop 0 stopped",
        ]
        or [line.split()[0] for line in lines] == ["prestart", "poststop"] * 2
    ), lines
    assert [int(line.split()[1]) for line in lines if line.startswith("prestart")] == pids
    logged = [r.getMessage() for r in caplog.records if "(prestart)" in r.getMessage()]
    assert len(logged) == 2 and all(hooked.short_id in m and "exit 0" in m for m in logged)


async def test_a_bad_hook_file_is_skipped_and_a_slow_hook_fails_the_start(
    self: SuiteBase, engine: Engine, busybox: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    self.require(engine, "namespaces", "hooks")
    script, record = _recorder(tmp_path)
    slow = tmp_path / "slow-hook"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    _hook_file(engine, "00-broken.json", {"version": "1.0.0", "hook": {}, "stages": []})
    _hook_file(
        engine,
        "10-good.json",
        {
            "version": "1.0.0",
            "hook": {"path": str(script), "args": ["record-hook", "prestart"]},
            "when": {"always": True},
            "stages": ["prestart"],
        },
    )
    _hook_file(
        engine,
        "20-slow.json",
        {
            "version": "1.0.0",
            "hook": {"path": str(slow), "timeout": 1},
            "when": {"commands": ["^slow-please$"]},
            "stages": ["prestart"],
        },
    )
    with anyio.fail_after(self.timeout):
        good = await self.run(engine, busybox, LONG)
        problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("00-broken.json" in m and "hook" in m for m in problems), problems
        assert record.read_text().split()[:1] == ["prestart"]
        # 'slow-please' is a symlink to sleep in no image: the hook runs before it matters.
        stuck = await self.create(engine, busybox, ["slow-please"], entrypoint=[])
        with pytest.raises(PouchError, match="timed out"):
            await engine.start(stuck.id)
        assert engine.inspect(stuck.id).state.status != State.RUNNING
        held = {s.id: s.status for s in await engine.kernel.runtimes.get(self.runtime).list()}
        assert held.get(stuck.id, "stopped") == "stopped", held
        await engine.stop(good.id, timeout=10)
