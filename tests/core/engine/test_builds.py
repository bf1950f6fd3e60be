"""``Engine.build``: the builder contract, the request's checks, the context unpacked safely.

A small builder of the test's own stands in for the ``pouch-build`` plugin:
it reads the Dockerfile from the context it was given, writes a line, and
answers with the busybox image; the engine must tag it, refuse what escapes
the context, and say what to install when no builder is there.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from pouch.builders import BuildOutput, BuildRequest
from pouch.drivers import DriverInfo
from pouch.engine import Engine
from pouch.errors import InvalidArgument, NoSuchBuilder, NotSupported
from pouch.markers import hookimpl

pytestmark = pytest.mark.anyio


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def write(self, text: str) -> None:
        self.lines.append(text)


class EchoBuilder:
    name = "echo"

    def __init__(self, image: str) -> None:
        self.image = image
        self.seen: list[BuildRequest] = []

    def describe(self) -> DriverInfo:
        return DriverInfo(name=self.name)

    async def prune(self, engine: Engine) -> list[str]:
        return ["sha256:forgotten"]

    async def build(self, engine: Engine, request: BuildRequest, output: BuildOutput) -> str:
        self.seen.append(request)
        text = (request.context / request.dockerfile).read_text()
        await output.write(f"Step 1/1 : {text.strip()}\n")
        return (await engine.images.inspect(self.image)).id


class EchoPlugin:
    def __init__(self, builder: EchoBuilder) -> None:
        self.builder = builder

    @hookimpl
    def pouch_add_builders(self) -> list[EchoBuilder]:
        return [self.builder]


def _context(tmp_path: Path, dockerfile: str = "FROM busybox") -> Path:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile + "\n")
    return context


async def test_without_a_builder_the_engine_says_what_to_install(
    engine: Engine, tmp_path: Path
) -> None:
    with pytest.raises(NotSupported, match="pip install pouch-build"):
        await engine.build(BuildRequest(context=_context(tmp_path)), _Lines())


async def test_the_builder_builds_and_the_engine_tags(
    engine: Engine, busybox: str, tmp_path: Path
) -> None:
    builder = EchoBuilder(busybox)
    assert engine.register_plugin(EchoPlugin(builder), "echo-builder").provides == ["builder:echo"]
    output = _Lines()
    request = BuildRequest(context=_context(tmp_path), tags=["app:1", "localhost:5000/app"])
    image_id = await engine.build(request, output)
    assert output.lines == ["Step 1/1 : FROM busybox\n"]
    assert (await engine.images.inspect("app:1")).id == image_id
    assert (await engine.images.inspect("localhost:5000/app:latest")).id == image_id
    with pytest.raises(NoSuchBuilder, match=r"no such image builder 'kaniko' \(available: echo\)"):
        await engine.build(request, output, builder="kaniko")
    assert await engine.build_prune() == ["sha256:forgotten"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dockerfile": "../Dockerfile"}, "dockerfile"),
        ({"dockerfile": "/etc/passwd"}, "dockerfile"),
        ({"tags": ["Bad Name"]}, "t"),
    ],
)
async def test_a_bad_request_is_refused_before_the_builder_runs(
    engine: Engine, busybox: str, tmp_path: Path, change: dict[str, object], field: str
) -> None:
    builder = EchoBuilder(busybox)
    engine.register_plugin(EchoPlugin(builder), "echo-builder")
    request = BuildRequest(context=_context(tmp_path), **change)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument) as refused:
        await engine.build(request, _Lines())
    assert refused.value.field == field
    assert builder.seen == []


def _tar(tmp_path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    path = tmp_path / "context.tar"
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return path


async def test_the_context_is_unpacked_and_removed_after(engine: Engine, tmp_path: Path) -> None:
    archive = _tar(
        tmp_path,
        (tarfile.TarInfo("Dockerfile"), b"FROM scratch\n"),
        (tarfile.TarInfo("/etc/absolute"), b"kept inside"),  # as docker: the / dropped
    )
    async with engine.build_context(archive) as directory:
        assert (directory / "Dockerfile").read_text() == "FROM scratch\n"
        assert (directory / "etc" / "absolute").read_text() == "kept inside"
    assert not directory.exists()
    assert not Path("/etc/absolute").exists()


async def test_a_context_reaching_out_is_refused(engine: Engine, tmp_path: Path) -> None:
    archive = _tar(tmp_path, (tarfile.TarInfo("../escape"), b"x"))
    with pytest.raises(InvalidArgument, match="the build context is refused"):
        async with engine.build_context(archive):
            pass
    link = tarfile.TarInfo("outside")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
    archive = _tar(tmp_path, (link, b""))
    with pytest.raises(InvalidArgument, match="the build context is refused"):
        async with engine.build_context(archive):
            pass
    assert not list((engine.config.run_root / "builds").iterdir())


async def test_a_context_that_is_not_a_tar_is_refused(engine: Engine, tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(InvalidArgument, match="not a tar archive"):
        async with engine.build_context(junk):
            pass
