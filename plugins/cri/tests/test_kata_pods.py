"""A pod with the kata RuntimeClass: its container in a QEMU micro-VM on its own
kernel, with the pod's address; the infra process stays a runc container.

Slow: the VM boots under TCG (about 3 s). Needs pouch-kata and the guest
assets that ``scripts/setup`` builds (``pouch-kata assets build``).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import grpc
import pytest
from pouch_cri._pb import api_pb2 as pb

from pouch.testing.daemon import cni_bridge_settings, preferred_runtime

pytestmark = [pytest.mark.root, pytest.mark.slow]

ASSETS = Path(os.environ.get("POUCH_KATA_ASSETS", "/var/lib/pouch/kata/assets"))


@pytest.fixture
def pouch_runtime() -> str:
    runtime, why = preferred_runtime()
    if runtime != "runc":
        pytest.skip(f"a pod's infra process needs runc: {why}")
    return runtime


@pytest.fixture
def pouchd_settings(default_bridge: str) -> dict[str, object]:
    pytest.importorskip("pouch_kata", reason="needs pouch-kata installed")
    if not (ASSETS / "manifest.json").exists():
        pytest.skip(f"no kata guest assets in {ASSETS}; run: pouch-kata assets build")
    settings = cni_bridge_settings(default_bridge)
    plugins = dict(settings["plugin"])  # type: ignore[call-overload]
    plugins["kata"] = {"assets": str(ASSETS), "accel": "tcg"}
    return {**settings, "plugin": plugins, "plugins": {"enable": ["cri", "runc", "cni", "kata"]}}


def test_a_kata_pod_runs_its_container_in_a_vm(
    runtime: Any, pouchd_busybox: str, tmp_path: Path
) -> None:
    config = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name="vm", uid="uid-vm", namespace="test"),
        hostname="vm-pod",
        log_directory=str(tmp_path),
    )
    request = pb.RunPodSandboxRequest(config=config, runtime_handler="kata")
    pod = runtime.RunPodSandbox(request, timeout=60).pod_sandbox_id
    try:
        status = runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod)).status
        assert status.runtime_handler == "kata" and status.network.ip

        def create(name: str) -> str:
            container = pb.ContainerConfig(
                metadata=pb.ContainerMetadata(name=name),
                image=pb.ImageSpec(image="busybox"),
                command=["sh", "-c", "sleep 600"],
                log_path=f"{name}.log",
            )
            create = pb.CreateContainerRequest(
                pod_sandbox_id=pod, config=container, sandbox_config=config
            )
            return str(runtime.CreateContainer(create, timeout=60).container_id)

        container = create("guest")
        runtime.StartContainer(pb.StartContainerRequest(container_id=container), timeout=120)

        def run(*cmd: str) -> str:
            request = pb.ExecSyncRequest(container_id=container, cmd=list(cmd), timeout=30)
            reply = runtime.ExecSync(request, timeout=60)
            assert reply.exit_code == 0, reply.stderr
            return str(reply.stdout.decode().strip())

        kernel = run("uname", "-r")
        assert kernel != platform.release() and kernel.endswith("-cloud-amd64")
        assert run("hostname") == "vm-pod"
        assert f"inet {status.network.ip}/" in run("ip", "-4", "addr", "show", "eth0")
        # A second container would need the pod's network too: refused, clearly.
        with pytest.raises(grpc.RpcError) as caught:
            create("second")
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "one container" in (caught.value.details() or "")
    finally:
        runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=120)
        runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=120)
    assert runtime.ListContainers(pb.ListContainersRequest()).containers == []
