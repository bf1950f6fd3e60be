"""The CRI server in a real pouchd, driven by a gRPC client made from the
same .proto: version and status, and the image service on the store the
Docker API uses (busybox imported through it, another image pulled from a
local registry).
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from pouch_cri._pb import api_pb2 as pb


@pytest.fixture
def pouchd_settings() -> dict[str, object]:
    """The test runtime and network, and of the installed plugins only this one."""
    return {"discover_plugins": True, "plugins": {"enable": ["cri"]}}


def test_version_status_and_config(runtime: Any) -> None:
    version = runtime.Version(pb.VersionRequest(), timeout=10)
    assert (version.runtime_name, version.runtime_api_version) == ("pouch", "v1")
    status = runtime.Status(pb.StatusRequest(verbose=True), timeout=10)
    conditions = {c.type: c for c in status.status.conditions}
    assert conditions["RuntimeReady"].status
    assert "process" in status.info["runtimes"]
    config = runtime.RuntimeConfig(pb.RuntimeConfigRequest(), timeout=10)
    assert config.linux.cgroup_driver == pb.CGROUPFS


def test_what_pouch_does_not_do_is_unimplemented(runtime: Any) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        runtime.CheckpointContainer(pb.CheckpointContainerRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_images_by_id_name_and_digest(images: Any, pouchd_busybox: str) -> None:
    listed = images.ListImages(pb.ListImagesRequest(), timeout=10).images
    (busybox,) = [i for i in listed if "docker.io/library/busybox:latest" in i.repo_tags]
    assert busybox.id.startswith("sha256:") and busybox.size > 0
    for ref in ("busybox", "busybox:latest", busybox.id, busybox.id[7:19]):
        found = images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=ref)))
        assert found.image.id == busybox.id, ref
    missing = images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image="nothing:1")))
    assert not missing.HasField("image")
    only = images.ListImages(
        pb.ListImagesRequest(filter=pb.ImageFilter(image=pb.ImageSpec(image="busybox")))
    )
    assert [i.id for i in only.images] == [busybox.id]
    fs = images.ImageFsInfo(pb.ImageFsInfoRequest(), timeout=30).image_filesystems
    assert fs[0].used_bytes.value > 0 and fs[0].inodes_used.value > 0
    # Removing what is not there succeeds; removing busybox removes it.
    images.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image="nothing:1")))
    images.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image=busybox.id)))
    after = images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image="busybox")))
    assert not after.HasField("image")


def test_a_bad_request_names_its_field(images: Any) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=" ")), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image.image" in (caught.value.details() or "")


def test_pull_from_a_registry(images: Any, registry: Any) -> None:
    from pouch.testing.images import BUSYBOX_CONFIG
    from pouch.testing.registry_images import busybox_layer_bytes, push_image_to_registry

    ref = f"{registry.address}/cri/busybox:1"
    push_image_to_registry(
        registry.address, "cri/busybox", [busybox_layer_bytes()], BUSYBOX_CONFIG, tag="1"
    )
    pulled = images.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image=ref)), timeout=60)
    status = images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=ref)))
    assert status.image.id == pulled.image_ref and ref in status.image.repo_tags
    (digest,) = status.image.repo_digests
    by_digest = images.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=digest)))
    assert by_digest.image.id == pulled.image_ref
    with pytest.raises(grpc.RpcError) as caught:
        images.PullImage(
            pb.PullImageRequest(image=pb.ImageSpec(image=f"{registry.address}/cri/none:1")),
            timeout=60,
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as caught:
        images.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image="127.0.0.1:9/x:1")))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "127.0.0.1:9" in (caught.value.details() or "")


def test_pull_with_the_requests_credentials(images: Any) -> None:
    import base64

    from pouch.testing.images import BUSYBOX_CONFIG
    from pouch.testing.registry import REGISTRY_BINARY, running_registry
    from pouch.testing.registry_images import busybox_layer_bytes, push_image_to_registry

    if not REGISTRY_BINARY.is_file():
        pytest.skip("needs docker-registry (apt-get install docker-registry)")
    with running_registry(users={"kube": "let-me-in"}, token_auth=True) as registry:
        ref = f"{registry.address}/private/busybox:1"
        push_image_to_registry(
            registry.address,
            "private/busybox",
            [busybox_layer_bytes()],
            BUSYBOX_CONFIG,
            tag="1",
            credentials=("kube", "let-me-in"),
        )
        spec = pb.ImageSpec(image=ref)

        def pull(auth: pb.AuthConfig | None) -> grpc.StatusCode:
            try:
                images.PullImage(pb.PullImageRequest(image=spec, auth=auth), timeout=60)
            except grpc.RpcError as error:
                return error.code()  # type: ignore[no-any-return]
            return grpc.StatusCode.OK

        assert pull(None) == grpc.StatusCode.UNAUTHENTICATED
        assert pull(pb.AuthConfig(username="kube", password="wrong")) != grpc.StatusCode.OK
        assert pull(pb.AuthConfig(username="kube", password="let-me-in")) == grpc.StatusCode.OK
        images.RemoveImage(pb.RemoveImageRequest(image=spec))
        encoded = base64.b64encode(b"kube:let-me-in").decode()
        assert pull(pb.AuthConfig(auth=encoded)) == grpc.StatusCode.OK
        # The token the last pull got is not lent to a pull without credentials.
        images.RemoveImage(pb.RemoveImageRequest(image=spec))
        assert pull(None) == grpc.StatusCode.UNAUTHENTICATED
        assert pull(pb.AuthConfig(auth="bm90LWJhc2U2NA=")) == grpc.StatusCode.INVALID_ARGUMENT
