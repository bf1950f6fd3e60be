"""The CRI socket of a real pouchd: there from the start, with grpc not loaded
until the first client connects; that client's connection is relayed to the
gRPC server it started, later clients reach gRPC directly, both keep
working, and the socket goes when pouchd stops.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import grpc
import pytest
from pouch_cri._pb import api_pb2 as pb
from pouch_cri._pb import api_pb2_grpc as rpc

from pouch.testing.daemon import PouchDaemon, stop_pouchd

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def pouchd_settings() -> dict[str, object]:
    return {"discover_plugins": True, "plugins": {"enable": ["cri"]}}


def _grpc_loaded(daemon: PouchDaemon) -> bool:
    assert daemon.process is not None
    return "cygrpc" in Path(f"/proc/{daemon.process.pid}/maps").read_text()


def _socket(path: Path) -> tuple[int, int, int]:
    """The mode, owner and group of the socket at ``path``."""
    found = path.stat()
    assert stat.S_ISSOCK(found.st_mode), path
    return stat.S_IMODE(found.st_mode), found.st_uid, found.st_gid


def _ask(channel: grpc.Channel) -> tuple[str, list[str], list[str]]:
    """Version, the pods and the images, as this channel's answers."""
    runtime: Any = rpc.RuntimeServiceStub(channel)  # type: ignore[no-untyped-call]
    images: Any = rpc.ImageServiceStub(channel)  # type: ignore[no-untyped-call]
    version = runtime.Version(pb.VersionRequest(), timeout=30).runtime_name
    pods = runtime.ListPodSandbox(pb.ListPodSandboxRequest(), timeout=30).items
    listed = images.ListImages(pb.ListImagesRequest(), timeout=30).images
    return version, [p.id for p in pods], sorted(t for i in listed for t in i.repo_tags)


def test_grpc_loads_with_the_first_client_and_the_socket_goes_with_pouchd(
    pouchd: PouchDaemon, pouchd_busybox: str
) -> None:
    path = pouchd.run_root / "cri.sock"
    before = _socket(path)
    assert not _grpc_loaded(pouchd), "an idle pouchd has loaded grpc"

    expected = ("pouch", [], ["docker.io/library/busybox:latest"])
    with grpc.insecure_channel(f"unix://{path}") as first:
        assert _ask(first) == expected  # through the relay
        assert _grpc_loaded(pouchd)
        assert "1 connection(s) that came before gRPC are relayed" in pouchd.log()
        assert _socket(path) == before
        assert not path.with_name(".cri.sock.grpc").exists()
        with grpc.insecure_channel(f"unix://{path}") as second:
            for _ in range(3):  # both at once, on their connections of the start
                assert _ask(second) == expected
                assert _ask(first) == expected
        assert pouchd.log().count("relayed to it") == 1  # the second went to gRPC itself

    assert stop_pouchd(pouchd) == 0
    assert not path.exists() and not path.with_name(".cri.sock.grpc").exists()
