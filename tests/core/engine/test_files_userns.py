"""``docker cp`` into and out of a container whose root is remapped (``userns_remap``).

Owners cross the user namespace: a file the tar gives to root belongs to the
namespace's root on the host and reads back as root; commit is refused (the
upper dir holds metadata-only copies). Adds the ``pouchremap`` range to
/etc/subuid and /etc/subgid as the userns conformance test does, and puts
both files back.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
from pathlib import Path

import anyio
import msgspec
import pytest

from pouch import userns
from pouch.engine import Engine
from pouch.errors import NotSupported
from pouch.models import ContainerConfig
from pouch.testing.daemon import preferred_runtime
from pouch.testing.plugin import import_busybox
from pouch.testing.subids import subid_files_restored

RUNTIME, WHY = preferred_runtime()
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(RUNTIME != "runc", reason=f"needs real containers: {WHY}"),
]


@pytest.fixture
def pouch_runtime() -> str:
    return RUNTIME


async def test_cp_maps_owners_through_the_namespace(engine: Engine, busybox_rootfs: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="pouch-cp-userns-", dir="/tmp"))
    work.chmod(0o711)
    config = msgspec.structs.replace(
        engine.config, root=work / "root", run_root=work / "run", userns_remap="default"
    )
    try:
        with subid_files_restored(), anyio.fail_after(120):
            async with Engine(config) as remapped:
                idmap = userns.resolve("default")
                assert idmap is not None
                await import_busybox(remapped, busybox_rootfs)
                box = await remapped.create(ContainerConfig(image="busybox", cmd=["sleep", "60"]))
                try:
                    buffer = io.BytesIO()
                    with tarfile.open(fileobj=buffer, mode="w") as tar:
                        info = tarfile.TarInfo("owned")
                        info.uid = info.gid = 0
                        tar.addfile(info)
                    upload = work / "up.tar"
                    upload.write_bytes(buffer.getvalue())
                    await remapped.files.put(box.id, "/tmp", upload)
                    upper = remapped.images.store.writable(box.id) / "fs" / "tmp" / "owned"
                    assert (upper.stat().st_uid, upper.stat().st_gid) == (idmap.uid, idmap.gid)
                    _, chunks = await remapped.files.get(box.id, "/tmp/owned")
                    data = b"".join([chunk async for chunk in chunks])
                    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                        (member,) = tar.getmembers()
                    assert (member.uid, member.gid) == (0, 0)
                    with pytest.raises(NotSupported):
                        await remapped.commits.commit(box.id)
                finally:
                    await remapped.remove(box.id, force=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
