"""pouch-csi as a user sees it: installed, discovered, loaded with the ``csi`` volume driver."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pouch.kernel import Kernel, PluginStatus
from pouch.testing.plugins import load_plugin

NAME = "csi"


def load(tmp_path: Path) -> tuple[Kernel, PluginStatus]:
    return load_plugin(NAME, tmp_path)


def test_loaded_with_the_csi_volume_driver_and_its_service(tmp_path: Path) -> None:
    kernel, status = load(tmp_path)
    assert status.state == "loaded", status
    assert status.module == "pouch_csi.plugin"
    assert "csi" in kernel.volumes.names()
    info = kernel.volumes.get("csi").describe()
    assert info.details["drivers"] == "none (pouch csi add)"
    assert {"stage", "read-only"} <= set(info.capabilities)


def test_a_driver_that_is_not_a_unix_socket_fails_the_plugin_naming_it(tmp_path: Path) -> None:
    kernel, status = load_plugin(NAME, tmp_path, drivers={"nfs": {"endpoint": "tcp://10.0.0.1:9"}})
    assert status.state == "failed", status
    assert "plugin.csi.drivers.nfs.endpoint" in status.reason
    assert "unix:///" in status.reason
    assert "csi" not in kernel.volumes.names()


def test_without_a_driver_neither_grpc_nor_protobuf_is_loaded(tmp_path: Path) -> None:
    # In a process of its own: this one has imported grpc for other tests.
    code = f"""
import sys
import subprocess
import sys
from pathlib import Path
import anyio
from pouch.testing.plugins import load_plugin

kernel, status = load_plugin("csi", Path({str(tmp_path)!r}))
assert status.state == "loaded", status
kernel.volumes.get("csi").describe()

async def serve_a_moment() -> None:
    with anyio.move_on_after(0.5):
        for service, _ in kernel.services:
            await service.serve()

anyio.run(serve_a_moment)
print(sorted(m for m in sys.modules if m.startswith(("grpc", "google.protobuf"))))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
