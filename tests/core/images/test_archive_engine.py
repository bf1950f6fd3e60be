"""``image_save`` and ``image_load`` on an engine: events, progress, and a container after."""

from __future__ import annotations

import tarfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

from pouch.errors import InvalidArgument, NoSuchImage
from pouch.events import EventFilter
from pouch.models import ContainerConfig

if TYPE_CHECKING:
    from pouch.engine import Engine

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("format", ["docker-archive", "oci-archive"])
async def test_save_remove_load_and_run(
    engine: Engine, busybox: str, tmp_path: Path, format: str
) -> None:
    image = await engine.images.inspect(busybox)
    archive = tmp_path / "busybox.tar"
    with archive.open("wb") as out:
        await engine.images.save([busybox], out, format=format)  # type: ignore[arg-type]
    await engine.images.remove(busybox)
    with pytest.raises(NoSuchImage):
        await engine.images.inspect(busybox)

    lines: list[tuple[str, bool]] = []
    loop_thread = threading.get_ident()
    with archive.open("rb") as source:
        loaded = await engine.images.load(
            source, progress=lambda line: lines.append((line, threading.get_ident() == loop_thread))
        )
    assert [i.id for i in loaded] == [image.id]
    assert (await engine.images.inspect(busybox)).diff_ids == image.diff_ids
    assert lines == [("Loaded image: docker.io/library/busybox:latest", True)]
    events = engine.events.history(EventFilter(filters={"type": ["image"]}))
    assert [(e.action, e.id) for e in events if e.action in ("save", "load")] == [
        ("save", image.id),
        ("load", image.id),
    ]
    assert events[-1].attributes == {"name": "docker.io/library/busybox:latest"}

    with anyio.fail_after(60):
        container = await engine.create(ContainerConfig(image=busybox, cmd=["sh", "-c", "exit 3"]))
        assert container.image_id == image.id
        await engine.start(container.id)
        assert await engine.wait(container.id) == 3
        await engine.remove(container.id)


async def test_a_refused_archive_records_nothing(
    engine: Engine, busybox: str, tmp_path: Path
) -> None:
    blobs = engine.images.store.content.list()
    archive = tmp_path / "evil.tar"
    with archive.open("wb") as out:
        await engine.images.save([busybox], out)
    with tarfile.open(archive) as tar:
        first = next(m for m in tar.getmembers() if m.isreg())
    data = bytearray(archive.read_bytes())
    data[first.offset_data : first.offset_data + 4] = b"EVIL"  # the blob no longer matches its name
    archive.write_bytes(bytes(data))
    await engine.images.remove(busybox)
    with archive.open("rb") as source, pytest.raises(InvalidArgument, match="digest mismatch"):
        await engine.images.load(source)
    assert await engine.images.list() == []
    assert not [e for e in engine.events.history() if e.action == "load"]
    assert set(engine.images.store.content.list()) <= set(blobs)
