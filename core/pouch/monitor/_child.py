"""A container's monitor: one process per container, detached from the engine.

Run as ``python -m pouch.monitor._child STATE_DIR`` (``Monitors.start`` does).
It double-forks so that it is nobody's child, starts the command from
``STATE_DIR/process.json`` in a process group of its own, writes its output
to the log in the CRI format and, when the command exits, its exit code to
``STATE_DIR/exit``. Like a container's init, the command's exit ends the
whole group.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from pouch.logs import LogWriter


def _pump(fd: int, stream: str, writer: LogWriter, lock: threading.Lock) -> None:
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            with lock:
                writer.write(stream, chunk)  # type: ignore[arg-type]


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _run(state: Path) -> int:
    process = json.loads((state / "process.json").read_text())
    writer = LogWriter(
        Path(process["log_path"]),
        max_size=process.get("log_max_size", 0),
        max_files=process.get("log_max_files", 1),
    )
    lock = threading.Lock()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.setpgid(0, 0)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        for fd in (null, out_r, out_w, err_r, err_w):
            os.close(fd)
        cwd = process["cwd"] if os.path.isdir(process["cwd"]) else "/"
        os.chdir(cwd)
        try:
            env = dict(item.split("=", 1) for item in process["env"] if "=" in item)
            os.execvpe(process["args"][0], process["args"], env)
        except OSError as exc:
            os.write(2, f"exec {process['args'][0]}: {exc.strerror}\n".encode())
            os._exit(127)
    os.close(out_w)
    os.close(err_w)
    _write_atomic(state / "pid", str(child))
    pumps = [
        threading.Thread(target=_pump, args=(out_r, "stdout", writer, lock), daemon=True),
        threading.Thread(target=_pump, args=(err_r, "stderr", writer, lock), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    _, status = os.waitpid(child, 0)
    finished = time.time()
    code = os.waitstatus_to_exitcode(status)
    code = 128 - code if code < 0 else code
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child, signal.SIGKILL)  # the rest of the group dies with its init
    for pump in pumps:
        pump.join(timeout=5)
    writer.close()
    _write_atomic(state / "exit", json.dumps({"exit_code": code, "finished_at": finished}))
    return 0


def main() -> None:
    state = Path(sys.argv[1])
    if os.fork() != 0:
        os._exit(0)  # the first child exits: the monitor is re-parented away from the engine
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    errors = os.open(state / "monitor.err", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(errors, 2)
    _write_atomic(state / "monitor.pid", str(os.getpid()))
    os._exit(_run(state))


if __name__ == "__main__":
    main()
