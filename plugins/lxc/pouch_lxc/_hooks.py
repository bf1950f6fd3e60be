"""The spec's OCI hooks, run at LXC's hook points: ``python -m pouch_lxc._hooks POINT DIR``.

LXC has hooks of its own, not the OCI spec's; ``render`` points LXC's at
this module, which runs the spec's hooks of the matching stages with the
state JSON on stdin, as runc does:

- ``start-host`` (host namespaces, the container's namespaces made and its
  init not yet run; LXC_PID is that init): ``prestart``, ``createRuntime``,
  ``createContainer`` and ``startContainer``, in that order. The last two
  run in the host's namespaces here, not the container's.
- ``poststart``: run by the runtime's ``start`` once the init runs.
- ``post-stop`` (after the container ended, run by LXC's monitor even while
  pouchd is down): ``poststop``.

A failing hook stops the rest and fails the start (its words are left in
``hooks.failed`` for the runtime's error); hooks at ``poststart`` and
``post-stop`` are only reported, as the spec wants.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pouch.hookrun import HOOK_ERRORS

__all__ = ["STAGES", "has_hooks", "main"]

STAGES = {
    "start-host": ("prestart", "createRuntime", "createContainer", "startContainer"),
    "poststart": ("poststart",),
    "post-stop": ("poststop",),
}
_STATUS = {"start-host": "created", "poststart": "running", "post-stop": "stopped"}


def has_hooks(spec: dict[str, object], point: str) -> bool:
    hooks = spec.get("hooks") or {}
    assert isinstance(hooks, dict)
    return any(hooks.get(stage) for stage in STAGES[point])


def _run(hook: dict[str, object], state: bytes, bundle: Path, stage: str) -> bool:
    path = str(hook["path"])
    args = [str(a) for a in hook.get("args") or [path]]  # type: ignore[attr-defined]
    env = dict(str(e).partition("=")[::2] for e in hook.get("env") or [])  # type: ignore[attr-defined]
    timeout = hook.get("timeout")
    try:
        done = subprocess.run(
            args,
            executable=path,
            input=state,
            env=env,
            capture_output=True,
            timeout=float(timeout) if isinstance(timeout, int) else None,
        )
        if done.returncode == 0:
            return True
        said = (done.stderr or done.stdout).decode(errors="replace").strip()
        message = f"hook {path} ({stage}) exited with status {done.returncode}: {said}"
    except subprocess.TimeoutExpired:
        message = f"hook {path} ({stage}) timed out after {timeout}s"
    except OSError as exc:
        message = f"hook {path} ({stage}) cannot run: {exc.strerror}"
    sys.stderr.write(message + "\n")
    if not (bundle / HOOK_ERRORS).exists():  # the runner may have said it already
        with open(bundle / HOOK_ERRORS, "a") as errors:
            errors.write(message + "\n")
    return False


def main(argv: list[str]) -> int:
    point, bundle = argv[0], Path(argv[1])
    argv = [*argv, "0"]
    spec = json.loads((bundle / "config.json").read_bytes())
    state = json.dumps(
        {
            "ociVersion": spec.get("ociVersion", "1.0.2"),
            "id": bundle.name,
            "status": _STATUS[point],
            "pid": 0 if point == "post-stop" else int(os.environ.get("LXC_PID") or argv[2]),
            "bundle": str(bundle),
            "annotations": spec.get("annotations") or {},
        }
    ).encode()
    hooks = spec.get("hooks") or {}
    for stage in STAGES[point]:
        for hook in hooks.get(stage) or []:
            if not _run(hook, state, bundle, stage) and point == "start-host":
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
