"""The program a runtime runs for pouch's OCI hooks: ``python -m pouch.hookrun MODE …``.

The runtime (runc, crun, or the lxc plugin's hook wrapper) runs it at a
lifecycle point with the container's state JSON on stdin, as the OCI
runtime spec says. Two modes:

- ``run LOG STAGE TIMEOUT PATH ARGV0 [ARG…]`` runs a user's hook from a hooks
  directory: it gets the same state on stdin, is killed after ``TIMEOUT``
  seconds, and leaves one JSON line in ``LOG`` (stage, path, exit code,
  output, seconds) for pouchd to put in its log. Exits with the hook's status,
  and with its output on stderr when it failed, so the runtime's error (and
  the failed start) says what the hook said.
- ``service COMMAND…`` starts a sbin-init rich container's command as one of
  its services, once its init runs (a ``poststart`` hook): inside the
  container as for the initscript, in its cgroups, with the init's stdout and
  stderr (so ``pouch logs`` has its output), and left to run; the init reaps
  it.
- ``initscript SCRIPT`` runs a rich container's initscript *inside* the
  container before its init: in its namespaces, under its root, as its user,
  with its environment. Its output goes to stderr, so a failure fails the
  start with the script's words.

It runs at every start of such a container, so it imports only the standard
library and nothing of pouch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["HOOK_ERRORS", "main"]

# In the bundle: what failed hooks said, for a runtime whose error leaves it out (crun).
HOOK_ERRORS = "hooks.failed"

# /proc/PID/ns name → nsenter flag; the user namespace last is nsenter's own order.
_NAMESPACES = (
    ("mnt", "--mount"),
    ("uts", "--uts"),
    ("ipc", "--ipc"),
    ("net", "--net"),
    ("pid", "--pid"),
    ("cgroup", "--cgroup"),
    ("user", "--user"),
)
_OUTPUT_LIMIT = 4096


def _parse(state: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(state)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _fail(state: dict[str, Any], message: str) -> None:
    """Say why on stderr (runc puts it in its error) and in the bundle (for the others)."""
    sys.stderr.write(message + "\n")
    bundle = state.get("bundle")
    if bundle:
        try:
            with open(Path(bundle) / HOOK_ERRORS, "a") as errors:
                errors.write(message + "\n")
        except OSError:
            pass


def _record(log: Path, entry: dict[str, Any]) -> None:
    line = json.dumps(entry, separators=(",", ":")) + "\n"
    # One write of a short line: concurrent hooks of one container never interleave.
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def run_hook(
    log: Path, stage: str, timeout: float, path: str, argv: list[str], state: bytes
) -> int:
    """Run the hook ``path`` with ``state`` on its stdin; record and return its status."""
    started = time.monotonic()
    entry: dict[str, Any] = {"stage": stage, "path": path}
    try:
        process = subprocess.Popen(
            argv,
            executable=path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        entry.update(exit_code=127, output=f"cannot run {path}: {exc.strerror}")
    else:
        try:
            output, _ = process.communicate(state, timeout=timeout)
            entry.update(exit_code=process.returncode, output=_text(output))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            output, _ = process.communicate()
            said = _text(output)
            entry.update(
                exit_code=-9,
                timed_out=True,
                output=f"timed out after {timeout:g}s" + (f"; {said}" if said else ""),
            )
    entry["seconds"] = round(time.monotonic() - started, 3)
    parsed = _parse(state)
    entry["id"] = parsed.get("id", "")
    _record(log, entry)
    code = int(entry["exit_code"])
    if code:
        _fail(parsed, f"hook {path} ({stage}) failed: {entry['output']}".rstrip())
    return 0 if code == 0 else (code if code > 0 else 1)


def _text(output: bytes) -> str:
    text = output.decode(errors="replace").strip()
    return text if len(text) <= _OUTPUT_LIMIT else "…" + text[-_OUTPUT_LIMIT:]


def _differs(pid: int, name: str) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/{name}") != os.readlink(f"/proc/self/ns/{name}")
    except OSError:
        return False


def _pivoted(pid: int) -> bool:
    """Whether the container's process already has its own root (after pivot_root)."""
    theirs, ours = os.stat(f"/proc/{pid}/root"), os.stat("/")
    return (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino)


def enter_command(state: dict[str, Any], spec: dict[str, Any], argv: list[str]) -> list[str]:
    """The command that runs ``argv`` inside the container ``state`` describes."""
    pid = int(state["pid"])
    bundle = Path(state.get("bundle", "."))
    user = (spec.get("process") or {}).get("user") or {}
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    nsenter = [
        shutil.which("nsenter") or "/usr/bin/nsenter",
        "--target",
        str(pid),
        *[flag for name, flag in _NAMESPACES if _differs(pid, name)],
    ]
    if _pivoted(pid):
        # The container's root is its own already (lxc): nsenter takes it on,
        # as no program of the host is visible in there.
        return [*nsenter, "--root", f"--setuid={uid}", f"--setgid={gid}", "--", *argv]
    # Before pivot_root (runc, crun): the root filesystem is a directory of the
    # container's mount namespace, where the host's chroot is still in reach.
    root = bundle / Path((spec.get("root") or {}).get("path") or "rootfs")
    chroot = [shutil.which("chroot") or "/usr/sbin/chroot", f"--userspec={uid}:{gid}"]
    groups = user.get("additionalGids") or []
    if groups:
        chroot.append("--groups=" + ",".join(str(int(g)) for g in groups))
    return [*nsenter, "--", *chroot, str(root), *argv]


def _environment(spec: dict[str, Any]) -> dict[str, str]:
    """The container process's environment, with a PATH."""
    items = (spec.get("process") or {}).get("env") or []
    env = dict(item.partition("=")[::2] for item in items if "=" in item)
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return env


def _set_hostname(nsenter: str, pid: int, hostname: str) -> str:
    """Name ``pid``'s UTS namespace; what went wrong, or ""."""
    done = subprocess.run(
        [nsenter, "--target", str(pid), "--uts", "--", sys.executable, "-c",
         "import socket, sys; socket.sethostname(sys.argv[1])", hostname],
        capture_output=True,
    )  # fmt: skip
    return _text(done.stderr) if done.returncode else ""


def run_initscript(script: str, state: dict[str, Any]) -> int:
    bundle = Path(state.get("bundle", "."))
    try:
        spec = json.loads((bundle / "config.json").read_bytes())
        command = enter_command(state, spec, [script])
    except (OSError, ValueError, KeyError) as exc:
        _fail(state, f"initscript {script}: cannot enter the container: {exc}")
        return 1
    hostname = spec.get("hostname") or ""
    if hostname and _differs(int(state["pid"]), "uts"):
        # runc names the container only after its pre-start hooks ran; the
        # script should already see the name the container will have.
        problem = _set_hostname(command[0], int(state["pid"]), hostname)
        if problem:
            _fail(state, f"initscript {script}: cannot set the hostname: {problem}")
            return 1
    env = _environment(spec)
    done = subprocess.run(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    if done.returncode:
        output = _text(done.stdout)
        said = f": {output}" if output else ""
        _fail(state, f"initscript {script} exited with status {done.returncode}{said}")
        return done.returncode
    return 0


def _join_cgroups(pid: int) -> None:
    """Move this process into every cgroup of ``pid`` (v1 controllers, cgroup2)."""
    mounts: list[tuple[str, set[str], str]] = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            before, _, after = line.partition(" - ")
            fields, source = before.split(), after.split()
            if len(fields) >= 5 and len(source) >= 3 and source[0] in ("cgroup", "cgroup2"):
                mounts.append((source[0], set(source[2].split(",")), fields[4]))
    with open(f"/proc/{pid}/cgroup") as cgroups:
        for line in cgroups:
            number, controllers, path = line.rstrip("\n").split(":", 2)
            wanted = set(filter(None, controllers.split(",")))
            for kind, options, point in mounts:
                if (kind == "cgroup2") == (number == "0") and wanted <= options:
                    try:
                        with open(f"{point}{path}/cgroup.procs", "w") as procs:
                            procs.write(str(os.getpid()))
                    except OSError as exc:
                        sys.stderr.write(f"service: cannot join {point}{path}: {exc.strerror}\n")
                    break


def start_service(command: list[str], state: dict[str, Any]) -> int:
    try:
        pid = int(state["pid"])
        spec = json.loads((Path(state.get("bundle", ".")) / "config.json").read_bytes())
        argv = enter_command(state, spec, command)
        stdout = open(f"/proc/{pid}/fd/1", "wb")  # noqa: SIM115 - handed to the child
        stderr = open(f"/proc/{pid}/fd/2", "wb")  # noqa: SIM115
    except (OSError, ValueError, KeyError) as exc:
        _fail(state, f"service {command[0]}: cannot enter the container: {exc}")
        return 1
    subprocess.Popen(
        argv,
        env=_environment(spec),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=lambda: _join_cgroups(pid),
    )
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 6 and argv[0] == "run":
        log, stage, timeout, path, *command = argv[1:]
        return run_hook(Path(log), stage, float(timeout), path, command, sys.stdin.buffer.read())
    if len(argv) >= 2 and argv[0] == "service":
        return start_service(argv[1:], _parse(sys.stdin.buffer.read()))
    if len(argv) == 2 and argv[0] == "initscript":
        return run_initscript(argv[1], _parse(sys.stdin.buffer.read()))
    sys.stderr.write(
        "usage: python -m pouch.hookrun run LOG STAGE TIMEOUT PATH ARGV0 [ARG...]\n"
        "       python -m pouch.hookrun initscript SCRIPT   (state JSON on stdin)\n"
        "       python -m pouch.hookrun service COMMAND [ARG...]   (state JSON on stdin)\n"
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
