"""Conformance tests of the seccomp filter, for a runtime that declares ``seccomp``.

The syscalls that reach past a container are tried from inside one by a tiny
static probe (compiled here with the host's ``gcc``, bind-mounted read-only):
refused by the default profile, allowed where ``unconfined``, ``--privileged``
or a capability says so, as under docker.

Bound into ``RuntimeConformance`` by ``with_tests``: each function's ``self`` is the suite.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest

from pouch.engine import Engine
from pouch.errors import InvalidArgument
from pouch.models import Mount
from pouch.testing._suite import SuiteBase
from pouch.testing.daemon import import_busybox_api, running_pouchd

__all__: list[str] = []

PROBE = "/usr/local/bin/probe"
_PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *n = argv[i];
        long r = -1;
        errno = 0;
        if (!strcmp(n, "add_key")) r = syscall(SYS_add_key, "user", "pouch", "v", 1, -2);
        else if (!strcmp(n, "keyctl")) r = syscall(SYS_keyctl, 0, -3, 1);
        else if (!strcmp(n, "kexec_load")) r = syscall(SYS_kexec_load, 0, 0, 0, 0xdead0000UL);
        else if (!strcmp(n, "ptrace")) {
            pid_t child = fork();
            if (child == 0) { pause(); _exit(0); }
            r = ptrace(PTRACE_ATTACH, child, 0, 0);
            int saved = errno;
            kill(child, SIGKILL);
            waitpid(child, 0, 0);
            errno = saved;
        } else { printf("%s: unknown\n", n); continue; }
        printf("%s: %s\n", n, r == -1 ? strerror(errno) : "ok");
    }
    return 0;
}
"""
EPERM = "Operation not permitted"


@functools.cache
def _probe() -> str:
    """The static probe, built once per source under the user's cache (no temp dir to leak)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pouch"
    binary = cache / f"seccomp-probe-{hashlib.sha256(_PROBE_C.encode()).hexdigest()[:16]}"
    if binary.exists():  # static: one built elsewhere (the kernel lane's host) runs too
        return str(binary)
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("the seccomp probe needs gcc and libc6-dev: apt-get install gcc libc6-dev")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="seccomp-probe-", dir=cache) as work:
        source = Path(work) / "probe.c"
        source.write_text(_PROBE_C)
        subprocess.run(
            [gcc, "-static", "-O1", "-o", str(Path(work) / "probe"), str(source)],
            check=True,
            capture_output=True,
        )
        os.replace(Path(work) / "probe", binary)  # whole, or not at all
    return str(binary)


async def _probe_run(
    self: SuiteBase, engine: Engine, busybox: str, script: str, **options: Any
) -> list[str]:
    mount = Mount(type="bind", source=_probe(), target=PROBE, read_only=True)
    container = await self.run(engine, busybox, ["sh", "-c", script], mounts=[mount], **options)
    await engine.wait(container.id)
    lines = await self.output(engine, container.id)
    await engine.remove(container.id, force=True)
    return lines


_SCRIPT = (
    "grep Seccomp: /proc/self/status; "
    "unshare -U true 2>/dev/null && echo unshare: ok || echo unshare: refused; "
    f"{PROBE} add_key keyctl kexec_load"
)


async def test_default_profile_refuses_what_reaches_past_the_container(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    self.require(engine, "seccomp")
    with anyio.fail_after(self.timeout):
        # CAP_SYS_BOOT: kexec_load is refused by the filter, not for want of it.
        lines = await _probe_run(self, engine, busybox, _SCRIPT, cap_add=["SYS_BOOT"])
    assert lines[0].split() == ["Seccomp:", "2"]
    assert lines[1:] == [
        "unshare: refused",
        f"add_key: {EPERM}",
        f"keyctl: {EPERM}",
        f"kexec_load: {EPERM}",
    ]


async def test_unconfined_and_privileged_have_no_filter(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    self.require(engine, "seccomp")
    with anyio.fail_after(self.timeout):
        unconfined = await _probe_run(
            self, engine, busybox, _SCRIPT, cap_add=["SYS_BOOT"], seccomp_profile="unconfined"
        )
        privileged = await _probe_run(
            self, engine, busybox, "grep Seccomp: /proc/self/status", privileged=True
        )
    assert unconfined[0].split() == ["Seccomp:", "0"]
    assert unconfined[2:4] == ["add_key: ok", "keyctl: ok"]
    # Past the filter, the kernel itself answers: EINVAL for the flags, or
    # ENOSYS from a kernel built without kexec.
    assert unconfined[4] in ("kexec_load: Invalid argument", "kexec_load: Function not implemented")
    assert privileged[0].split() == ["Seccomp:", "0"]


async def test_capabilities_open_their_syscalls(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    self.require(engine, "seccomp")
    script = (
        "grep Seccomp: /proc/self/status; "
        "mkdir -p /tmp/m; mount -t tmpfs x /tmp/m && echo mount: ok || echo mount: refused; "
        f"{PROBE} ptrace"
    )
    with anyio.fail_after(self.timeout):
        default = await _probe_run(self, engine, busybox, script)
        admin = await _probe_run(self, engine, busybox, script, cap_add=["SYS_ADMIN"])
    assert default[:2] == [default[0], "mount: refused"]
    # As docker's profile: ptrace is allowed on kernels from 4.8 on.
    assert default[2] == "ptrace: ok"
    assert admin[0].split() == ["Seccomp:", "2"] and admin[1] == "mount: ok"


async def test_a_custom_profile_in_dockers_format(
    self: SuiteBase, engine: Engine, busybox: str
) -> None:
    self.require(engine, "seccomp")
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        ],
    }
    script = (
        "mkdir /x 2>/dev/null && echo mkdir: ok || echo mkdir: refused; "
        f"touch /y && echo touch: ok; {PROBE} ptrace"
    )
    with anyio.fail_after(self.timeout):
        lines = await _probe_run(self, engine, busybox, script, seccomp_profile=json.dumps(profile))
        before = {c.id for c in engine.list(all=True)}
        with pytest.raises(InvalidArgument) as refused:
            await self.create(engine, busybox, ["true"], seccomp_profile='{"syscalls": 3}')
    assert lines == ["mkdir: refused", "touch: ok", f"ptrace: {EPERM}"]
    assert refused.value.field == "seccomp_profile"
    assert {c.id for c in engine.list(all=True)} == before


async def test_the_api_tells_and_takes_what_docker_does(
    self: SuiteBase, engine: Engine, busybox_rootfs: Path, tmp_path: Path
) -> None:
    self.require(engine, "seccomp")
    await anyio.to_thread.run_sync(_through_the_api, self.runtime, busybox_rootfs, tmp_path)


def _through_the_api(runtime: str, busybox_rootfs: Path, tmp_path: Path) -> None:
    deny_mkdir = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }
    with running_pouchd(tmp_path / "pouchd", runtime=runtime) as daemon:
        import_busybox_api(daemon, busybox_rootfs)
        info = daemon.json("GET", "/info")
        assert "name=seccomp,profile=builtin" in info["SecurityOptions"]
        body = {
            "Image": "busybox:latest",
            "Cmd": ["sh", "-c", "mkdir /x || echo refused"],
            "HostConfig": {"SecurityOpt": [f"seccomp={json.dumps(deny_mkdir)}"]},
        }
        cid = daemon.json("POST", "/containers/create", body)["Id"]
        daemon.json("POST", f"/containers/{cid}/start")
        assert daemon.json("POST", f"/containers/{cid}/wait")["StatusCode"] == 0
        view = daemon.json("GET", f"/containers/{cid}/json")
        assert view["HostConfig"]["SecurityOpt"] == [f"seccomp={json.dumps(deny_mkdir)}"]
        status, _, data = daemon.request(
            "GET", f"/containers/{cid}/logs", query={"stdout": 1, "stderr": 1}
        )
        assert status == 200 and b"refused" in data
        daemon.request("DELETE", f"/containers/{cid}", query={"force": 1})
        bad = {"Image": "busybox:latest", "HostConfig": {"SecurityOpt": ["seccomp={nope"]}}
        status, _, data = daemon.request(
            "POST",
            "/containers/create",
            json.dumps(bad).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert status == 400 and b"HostConfig.SecurityOpt[0]" in data
        assert daemon.json("GET", "/containers/json", query={"all": 1}) == []
