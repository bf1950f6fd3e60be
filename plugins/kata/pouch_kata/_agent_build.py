"""Building the guest agent: a static Go binary from the sources shipped in
``pouch_kata/agent``, with Debian's Go toolchain (``golang-go``) and nothing
from the network.

This module owns the ``go build`` invocation and its environment; it does not
put the binary anywhere but where it is told (the guest assets do that).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from pouch.errors import PouchError

from ._assets import AGENT_FILE, Assets, build_assets

__all__ = [
    "AgentBuildError",
    "build",
    "build_assets_with_agent",
    "go_env",
    "go_program",
    "source_dir",
]

#: the Debian package with the toolchain, named in errors.
GO_PACKAGE = "golang-go"


class AgentBuildError(PouchError):
    """The agent could not be built (no Go toolchain, or the build failed)."""


def source_dir() -> Path:
    """The agent's Go module, shipped inside the distribution."""
    return Path(__file__).resolve().parent / "agent"


def go_program() -> str:
    """The ``go`` program on PATH, or an error naming the package to install."""
    go = shutil.which("go")
    if go is None:
        raise AgentBuildError(f"go not found on PATH; install the Debian package {GO_PACKAGE}")
    return go


def go_env(cache_dir: Path) -> dict[str, str]:
    """The environment of every go command: static, offline, caches in ``cache_dir``.

    The sources use the standard library only, so no module is ever fetched:
    GOPROXY=off makes a stray import fail loudly instead of reaching out.
    """
    env = dict(os.environ)
    env.update(
        CGO_ENABLED="0",
        GO111MODULE="on",
        GOFLAGS="-mod=mod",
        GOPROXY="off",
        GOSUMDB="off",
        GOTOOLCHAIN="local",
        GOCACHE=str(cache_dir / "go-build"),
        GOPATH=str(cache_dir / "gopath"),
        GOMODCACHE=str(cache_dir / "gopath" / "pkg" / "mod"),
    )
    return env


def build(dest: Path | str, *, cache_dir: Path | str | None = None) -> Path:
    """Build the agent into ``dest`` (a file path) and return it.

    ``cache_dir`` keeps Go's build cache between builds; without it a
    temporary one is used and removed. The binary is static (CGO_ENABLED=0)
    and stripped, so it runs as PID 1 of an initramfs with no libc beside it.
    """
    go = go_program()
    dest = Path(dest).resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pouch-kata-go-") as scratch:
        cache = Path(cache_dir) if cache_dir is not None else Path(scratch)
        partial = dest.with_name(f".{dest.name}.partial")
        command = [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "."]
        done = subprocess.run(
            command,
            cwd=source_dir(),
            env=go_env(cache),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            output = (done.stderr or done.stdout).strip()
            raise AgentBuildError(f"go build of the agent failed: {output}")
        partial.replace(dest)
    return dest


def build_assets_with_agent(
    directory: Path, *, force: bool = False, log: Callable[[str], None] | None = None
) -> tuple[Assets, bool]:
    """What ``pouch-kata assets build`` does: the agent from the shipped sources
    (Go's cache kept beside the assets), then the assets with it as ``/init``."""
    directory.mkdir(parents=True, exist_ok=True)
    agent = build(directory / AGENT_FILE, cache_dir=directory / ".go-cache")
    return build_assets(directory, force=force, agent=agent, log=log)
