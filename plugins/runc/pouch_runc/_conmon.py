"""Starting conmon, the monitor each container runs under.

conmon holds the container's stdio, writes its log in the CRI format (never
rotating it: conmon would replace the full file, losing it, so the engine
rotates and asks for a reopen through the ``ctl`` fifo), records
the exit code in ``<dir>/exits/<id>`` and serves the attach socket and the
``ctl`` fifo in the bundle. It runs the OCI runtime's ``create`` itself and
tells us the container's PID (or the runtime's error) through a sync pipe.
It double-forks, so it is not our child and outlives pouchd.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import anyio
import msgspec

from pouch.errors import PouchError
from pouch.hookrun import HOOK_ERRORS
from pouch.telemetry import step

__all__ = ["CONMON_DIRS", "ConmonOptions", "start_conmon"]

#: What conmon writes into, in its state directory: the exit file, the OOM mark.
CONMON_DIRS = ("exits", "persist")

# conmon waits for the runtime's create; a slow host may need a while.
_CREATE_TIMEOUT = 60.0


class ConmonOptions(msgspec.Struct, kw_only=True):
    conmon: str
    runtime_path: str
    runtime_args: list[str]
    container_id: str
    bundle: Path
    state_dir: Path
    log_path: Path
    terminal: bool = False
    stdin: bool = False
    # Keep the container's stdin when an attached client goes away.
    leave_stdin_open: bool = True


def _argv(o: ConmonOptions) -> list[str]:
    argv = [
        o.conmon,
        "--api-version",
        "1",
        "-c",
        o.container_id,
        "-u",
        o.container_id,
        "-n",
        o.container_id[:12],
        "-r",
        o.runtime_path,
        "-b",
        str(o.bundle),
        "-p",
        str(o.state_dir / "pid"),
        "-P",
        str(o.state_dir / "conmon.pid"),
        "-l",
        f"k8s-file:{o.log_path}",
        "--exit-dir",
        str(o.state_dir / "exits"),
        "--persist-dir",
        str(o.state_dir / "persist"),
        "--full-attach",
        "--socket-dir-path",
        str(o.state_dir),
        "--log-level",
        "warn",
    ]
    for arg in o.runtime_args:
        argv += ["--runtime-arg", arg]
    if o.terminal:
        argv.append("-t")
    if o.stdin:
        argv.append("-i")
        if o.leave_stdin_open:
            argv.append("--leave-stdin-open")
    return argv


async def _read_sync(fd: int) -> dict[str, object]:
    """conmon's first line on the sync pipe (the event loop waits; no thread)."""
    os.set_blocking(fd, False)
    data = b""
    while not data.endswith(b"\n"):
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            await anyio.wait_readable(fd)
            continue
        if not chunk:
            break
        data += chunk
    if not data:
        return {}
    result: dict[str, object] = json.loads(data.splitlines()[0])
    return result


async def start_conmon(options: ConmonOptions) -> int:
    """Run conmon, which creates the container; return the container's PID.

    ``state_dir`` must hold the directories ``CONMON_DIRS`` names.
    """
    read_end, write_end = os.pipe()
    try:
        env = {**os.environ, "_OCI_SYNCPIPE": str(write_end)}
        with step("conmon.spawn"):
            result = await anyio.run_process(
                _argv(options),
                env=env,
                cwd=options.state_dir,  # conmon writes an "oom" file in its working directory
                pass_fds=(write_end,),
                check=False,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        os.close(write_end)
        write_end = -1
        if result.returncode != 0:
            raise PouchError(
                f"conmon failed ({result.returncode}): "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        with anyio.fail_after(_CREATE_TIMEOUT), step("conmon.sync"):
            message = await _read_sync(read_end)
    finally:
        if write_end >= 0:
            os.close(write_end)
        os.close(read_end)
    pid = message.get("data", -1)
    if not isinstance(pid, int) or pid <= 0:
        detail = str(message.get("message") or "no answer from conmon").strip()
        # crun keeps a failed hook's output to itself; pouch's hook runner left it here.
        said = options.bundle / HOOK_ERRORS
        if said.is_file() and said.read_text(errors="replace").strip() not in detail:
            detail += ": " + said.read_text(errors="replace").strip()
        raise PouchError(f"the OCI runtime could not create the container: {detail}")
    return pid
