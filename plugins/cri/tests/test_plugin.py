"""pouch-cri as a user sees it: installed, discovered, and serving a service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pouch.errors import InvalidArgument
from pouch.testing.plugins import load_plugin

NAME = "cri"


def test_loaded_with_its_service(tmp_path: Path) -> None:
    kernel, status = load_plugin(NAME, tmp_path)
    assert status.state == "loaded", status
    assert status.module == "pouch_cri.plugin"
    assert [plugin for _, plugin in kernel.services if plugin == NAME] == [NAME]


def test_the_socket_is_in_the_run_root_unless_set(tmp_path: Path) -> None:
    from pouch_cri.server import socket_path

    kernel, _ = load_plugin(NAME, tmp_path)
    assert socket_path(kernel.config) == tmp_path / "run" / "cri.sock"
    kernel, _ = load_plugin(NAME, tmp_path, socket="unix:///tmp/x/cri.sock")
    assert socket_path(kernel.config) == Path("/tmp/x/cri.sock")
    kernel, _ = load_plugin(NAME, tmp_path, socket="cri.sock")
    with pytest.raises(InvalidArgument, match="socket"):
        socket_path(kernel.config)


def test_loading_it_loads_no_grpc() -> None:
    # In a process of its own: this one has imported grpc for other tests.
    code = (
        "import sys, pouch_cri.plugin, pouch_cri.server;"
        " print(sorted(m for m in sys.modules if m.startswith(('grpc', 'google.protobuf'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
