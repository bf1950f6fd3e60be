"""OCI hook files: JSON that adds hooks to the containers it matches.

The format is the one CRI-O and podman read (``oci-hooks(5)``, version
1.0.0)::

    {"version": "1.0.0",
     "hook": {"path": "/usr/local/bin/record", "args": ["record", "start"],
              "env": ["KEY=value"], "timeout": 5},
     "when": {"always": true, "annotations": {"^key$": "^value$"},
              "commands": ["^/bin/sh$"], "hasBindMounts": true},
     "stages": ["prestart", "poststop"]}

A hook applies to a container when *any* ``when`` condition holds: ``always``;
an annotation (or a label: docker's clients set those) whose key and value
match a pair of regular expressions (searched, as CRI-O does); a
command (the process's first argument) matching one expression; or, with
``hasBindMounts``, a bind mount in the spec. Files are read from each
directory in order, by name; a later directory's file of the same name
replaces an earlier one's. A bad file is reported (``HookFileError`` naming
the file and field) and skipped; it never stops the others.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from pouch import oci

__all__ = ["STAGES", "HookFile", "HookSet", "When", "load_dirs", "load_file"]

log = logging.getLogger(__name__)

Stage = Literal[
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"
]
STAGES: tuple[str, ...] = (
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
)


class _In(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    pass


class HookCommand(_In):
    path: Annotated[str, msgspec.Meta(min_length=1)]
    args: list[str] = []
    env: list[str] = []
    timeout: Annotated[int, msgspec.Meta(gt=0)] | None = None


class When(_In):
    always: bool | None = None
    annotations: dict[str, str] = {}
    commands: list[str] = []
    has_bind_mounts: bool | None = msgspec.field(default=None, name="hasBindMounts")


class HookFile(_In):
    version: Literal["1.0.0"]
    hook: HookCommand
    when: When
    stages: Annotated[list[Stage], msgspec.Meta(min_length=1)]
    # Set by the loader: where the hook came from, for the log.
    source: str = ""

    def check(self) -> None:
        """What JSON's shape cannot say: a runnable path, a condition, valid patterns."""
        if not self.hook.path.startswith("/"):
            raise ValueError(f"hook.path {self.hook.path!r} must be an absolute path")
        if not os.access(self.hook.path, os.X_OK):
            raise ValueError(f"hook.path {self.hook.path} is not an executable file here")
        when = self.when
        if not (when.always or when.annotations or when.commands or when.has_bind_mounts):
            raise ValueError(
                "when: no condition set (use always, annotations, commands or hasBindMounts)"
            )
        for index, pattern in enumerate(when.commands):
            _compile(pattern, f"when.commands[{index}]")
        for key, value in when.annotations.items():
            _compile(key, f"when.annotations key {key!r}")
            _compile(value, f"when.annotations[{key!r}]")
        for index, item in enumerate(self.hook.env):
            if "=" not in item:
                raise ValueError(f"hook.env[{index}] {item!r} is not NAME=VALUE")

    def matches(self, spec: oci.Spec, labels: dict[str, str] | None = None) -> bool:
        """Whether the container of ``spec`` (and ``labels``) gets this hook."""
        when = self.when
        if when.always:
            return True
        for key, value in {**(labels or {}), **spec.annotations}.items():
            for k_pattern, v_pattern in when.annotations.items():
                if re.search(k_pattern, key) and re.search(v_pattern, value):
                    return True
        command = spec.process.args[0] if spec.process and spec.process.args else ""
        if command and any(re.search(p, command) for p in when.commands):
            return True
        return bool(when.has_bind_mounts and any(_is_bind(m) for m in spec.mounts))


def _is_bind(mount: oci.Mount) -> bool:
    return mount.type == "bind" or "bind" in mount.options or "rbind" in mount.options


def _compile(pattern: str, where: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{where}: {pattern!r} is not a regular expression: {exc}") from None


class HookFileError(ValueError):
    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def load_file(path: Path) -> HookFile:
    """One hook file, checked; ``HookFileError`` says which file and what is wrong."""
    try:
        hook = msgspec.json.decode(path.read_bytes(), type=HookFile)
        hook.check()
    except (OSError, msgspec.DecodeError, ValueError) as exc:
        raise HookFileError(path, str(exc)) from None
    hook.source = str(path)
    return hook


class HookSet(msgspec.Struct, kw_only=True):
    """The hook files of some directories, and the problems of those that were refused."""

    hooks: list[HookFile] = []
    problems: list[str] = []
    # (path, mtime) of what was read, to notice changes.
    stamp: tuple[tuple[str, int], ...] = ()


def stamp(directories: Iterable[Path]) -> tuple[tuple[str, int], ...]:
    """What changes when a hook file in one of ``directories`` changes, comes or goes."""
    result = []
    for directory in directories:
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.name.endswith(".json"):
                        result.append((entry.path, entry.stat().st_mtime_ns))
        except OSError:
            continue
    return tuple(sorted(result))


def load_dirs(directories: list[Path]) -> HookSet:
    """Every ``*.json`` of ``directories``, by file name; bad files become problems."""
    chosen: dict[str, Path] = {}
    for directory in directories:
        try:
            names = sorted(p for p in directory.iterdir() if p.suffix == ".json")
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("hooks: cannot read %s: %s", directory, exc.strerror)
            continue
        for path in names:
            chosen[path.name] = path
    result = HookSet(stamp=stamp(directories))
    for name in sorted(chosen):
        try:
            result.hooks.append(load_file(chosen[name]))
        except HookFileError as exc:
            result.problems.append(str(exc))
    return result
