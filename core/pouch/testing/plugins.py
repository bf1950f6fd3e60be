"""Helpers for a plugin's own tests: load it as the engine would, fake a host's programs."""

from __future__ import annotations

from pathlib import Path

from pouch.config import EngineConfig
from pouch.kernel import Kernel, PluginStatus

__all__ = ["fake_programs", "load_plugin"]


def load_plugin(name: str, tmp_path: Path, **settings: object) -> tuple[Kernel, PluginStatus]:
    """A kernel on temporary dirs that discovered the installed plugins; and ``name``'s status.

    ``settings`` become the plugin's own section (``[plugin.NAME]``).
    """
    config = EngineConfig(
        root=tmp_path / "root",
        run_root=tmp_path / "run",
        plugin={name: dict(settings)} if settings else {},
    )
    kernel = Kernel(config)
    kernel.load()
    found = {status.name: status for status in kernel.plugins()}
    assert name in found, f"plugin {name!r} not discovered: is pouch-{name} installed?"
    return kernel, found[name]


def fake_programs(directory: Path, *names: str) -> Path:
    """Put executables named ``names`` in ``directory`` (they fail if ever run)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        program = directory / name
        program.write_text("#!/bin/sh\nexit 1\n")
        program.chmod(0o755)
    return directory
