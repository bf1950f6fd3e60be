"""Conformance test of user-namespace remapping, for a runtime that declares ``userns``.

A second engine on the runtime under test runs with ``userns_remap =
"default"``: container root must be an unprivileged ID on the host, own its
root filesystem, and write files to a bind mount as the mapped ID. The test
adds the ``pouchremap`` range to /etc/subuid and /etc/subgid and puts both
files back as they were.

Bound into ``RuntimeConformance`` by ``with_tests``: each function's ``self`` is the suite.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import anyio
import msgspec
import pytest

from pouch import userns
from pouch.engine import Engine
from pouch.errors import InvalidArgument
from pouch.models import Mount
from pouch.testing._suite import SuiteBase
from pouch.testing.plugin import import_busybox
from pouch.testing.subids import subid_files_restored

__all__: list[str] = []


async def test_remapped_root_is_unprivileged_on_the_host(
    self: SuiteBase, engine: Engine, busybox_rootfs: Path
) -> None:
    self.require(engine, "userns")
    work = Path(tempfile.mkdtemp(prefix="pouch-userns-", dir="/tmp"))
    shared = work / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    work.chmod(0o711)
    config = msgspec.structs.replace(
        engine.config, root=work / "root", run_root=work / "run", userns_remap="default"
    )
    try:
        with subid_files_restored(), anyio.fail_after(self.timeout * 2):
            async with Engine(config) as remapped:
                await _check(self, remapped, busybox_rootfs, shared)
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _check(self: SuiteBase, engine: Engine, busybox_rootfs: Path, shared: Path) -> None:
    await import_busybox(engine, busybox_rootfs)
    idmap = userns.resolve("default")
    assert idmap is not None and idmap.uid > 0
    data = Mount(type="bind", source=str(shared), target="/data")
    script = "id -u; touch /etc/x && echo root-owns-its-rootfs; echo hi > /data/f; sleep 30"
    container = await self.run(engine, "busybox", ["sh", "-c", script], mounts=[data])
    try:
        with anyio.fail_after(self.timeout):
            while not (shared / "f").exists():
                await anyio.sleep(0.05)
        status = Path(f"/proc/{engine.inspect(container.id).state.pid}/status").read_text()
        uids = status.split("Uid:")[1].split()[:4]
        assert uids == [str(idmap.uid)] * 4  # not root on the host
        assert (shared / "f").stat().st_uid == idmap.uid
        # The log lags the container's own writes: wait (bounded) for both lines.
        with anyio.move_on_after(self.timeout):
            while len(await self.output(engine, container.id)) < 2:
                await anyio.sleep(0.05)
        assert await self.output(engine, container.id) == ["0", "root-owns-its-rootfs"]
        assert "name=userns" in engine.security_options()
    finally:
        await engine.remove(container.id, force=True)
    host = await self.run(engine, "busybox", ["id", "-u"], userns_mode="host")
    await engine.wait(host.id)
    assert await self.output(engine, host.id) == ["0"]
    await engine.remove(host.id)
    with pytest.raises(InvalidArgument) as refused:
        await self.create(engine, "busybox", ["true"], privileged=True)
    assert refused.value.field == "privileged"
