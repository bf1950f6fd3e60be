"""OCI hooks from directories (``/etc/pouch/hooks.d``, ``pouchd --hooks-dir``).

Each hook file (``pouch.hookfiles``) that matches a new container adds its
hook to the container's spec at the stages it names. The runtime runs it
(runc and crun themselves; lxc through its own hooks) by way of ``python -m
pouch.hookrun run``, which gives it the state on stdin, enforces its timeout
and records its exit code and output beside the container; pouchd puts those
records in its log as the container starts and exits. A failing or timed-out
``prestart``/``createRuntime``/``createContainer`` hook fails the start, and
the engine undoes it.

The files are read when the engine starts, each bad one reported with its
name and what is wrong and then skipped, and again whenever a file in the
directories changes.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pouch import oci
from pouch.hookfiles import HookFile, HookSet, load_dirs, stamp
from pouch.markers import hookimpl
from pouch.models import Container

if TYPE_CHECKING:
    from pouch.engine import Engine

__all__ = ["DEFAULT_TIMEOUT", "HOOKS_LOG", "inject", "loaded"]

log = logging.getLogger(__name__)

# Seconds a hook without a timeout of its own may run.
DEFAULT_TIMEOUT = 60
# In the container's directory: one JSON line per hook run, until pouchd logged it.
HOOKS_LOG = "hooks.log"
_ATTRIBUTES = {
    "prestart": "prestart",
    "createRuntime": "create_runtime",
    "createContainer": "create_container",
    "startContainer": "start_container",
    "poststart": "poststart",
    "poststop": "poststop",
}


class _Loaded:
    def __init__(self) -> None:
        self.dirs: list[Path] = []
        self.set = HookSet()


_loaded = _Loaded()


def loaded(directories: list[Path]) -> HookSet:
    """The hook files of ``directories``, read again when one changed; problems logged once."""
    if directories != _loaded.dirs or stamp(directories) != _loaded.set.stamp:
        _loaded.dirs = list(directories)
        _loaded.set = load_dirs(directories)
        for problem in _loaded.set.problems:
            log.error("hooks: skipped %s", problem)
        if _loaded.set.hooks:
            names = ", ".join(Path(h.source).name for h in _loaded.set.hooks)
            log.info("hooks: %d loaded (%s)", len(_loaded.set.hooks), names)
    return _loaded.set


def inject(hook: HookFile, spec: oci.Spec, record: Path) -> None:
    """Add ``hook`` to ``spec`` at each of its stages, run through ``pouch.hookrun``."""
    hooks = spec.add_hooks()
    command = hook.hook
    timeout = command.timeout or DEFAULT_TIMEOUT
    for stage in hook.stages:
        runner = [sys.executable, "-m", "pouch.hookrun", "run", str(record), stage, str(timeout)]
        getattr(hooks, _ATTRIBUTES[stage]).append(
            oci.Hook(
                path=sys.executable,
                args=[*runner, command.path, *(command.args or [command.path])],
                env=list(command.env),
                # The runner stops the hook at its timeout; this is the backstop.
                timeout=timeout + 5,
            )
        )


@hookimpl
def pouch_engine_started(engine: Engine) -> None:
    loaded(list(engine.config.hooks_dirs))


@hookimpl
def pouch_container_create(container: Container, spec: oci.Spec) -> None:
    for hook in loaded(_loaded.dirs).hooks:
        if hook.matches(spec, container.config.labels):
            inject(hook, spec, Path(container.directory) / HOOKS_LOG)


def _report(container: Container) -> None:
    """Put the hook runs recorded since the last report in pouchd's log."""
    if not container.directory:
        return  # a record older than container directories: no hook ran for it
    path = Path(container.directory) / HOOKS_LOG
    taken = path.with_name(HOOKS_LOG + ".reading")
    try:
        os.rename(path, taken)
    except OSError:
        return
    try:
        lines = taken.read_text(errors="replace").splitlines()
    finally:
        taken.unlink(missing_ok=True)
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        code = entry.get("exit_code")
        level = logging.INFO if code == 0 else logging.WARNING
        log.log(
            level,
            "hook %s (%s) for %s: exit %s in %ss%s",
            entry.get("path"),
            entry.get("stage"),
            container.short_id,
            code,
            entry.get("seconds"),
            f": {entry['output']}" if entry.get("output") else "",
        )


@hookimpl
def pouch_container_started(container: Container) -> None:
    _report(container)


@hookimpl
def pouch_container_exited(container: Container, exit_code: int) -> None:
    _report(container)
