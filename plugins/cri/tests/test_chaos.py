"""Pods through the CRI while pouchd is killed: the chaos run with kubelet's calls added.

The seeded chaos run of the core (``pouch.testing.chaos``) with the pod
calls kubelet makes drawn beside the CLI's: RunPodSandbox, a container in a
pod (CreateContainer + StartContainer), StopPodSandbox, RemovePodSandbox.
After every restart every pod whose RunPodSandbox returned is listed until
its RemovePodSandbox returned, and none after; at the end every pod is
removed and the host must hold nothing a pod, container or network left.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from pouch_cri._pb import api_pb2 as pb
from pouch_cri._pb import api_pb2_grpc as rpc

from pouch.testing.chaos import (
    Chaos,
    ChaosSettings,
    HostView,
    Operation,
    staged,
    summary,
    unavailable,
)
from pouch.testing.daemon import PouchDaemon

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,  # about a minute
    pytest.mark.binary("runc", "conmon"),
]

SEED = int(os.environ.get("POUCH_CHAOS_SEED", "20261205"))
# More by hand: POUCH_CHAOS_KILLS=100.
KILLS = int(os.environ.get("POUCH_CHAOS_KILLS", "0"))
pytestmark.append(pytest.mark.timeout(max(900, KILLS * 15)))
_CALL_TIMEOUT = 60.0


class PodChaos:
    """The pod calls, and what their clients were told."""

    def __init__(self, daemon: PouchDaemon, logs: Path) -> None:
        self.socket = daemon.run_root / "cri.sock"
        self.logs = logs
        self.pods: dict[str, str] = {}  # name -> id, RunPodSandbox returned
        self.uncertain: set[str] = set()  # names whose calls were cut short
        self.removed: set[str] = set()  # ids whose RemovePodSandbox returned
        self._lock = threading.Lock()
        self._serial = 0

    def _call(self, method: str, request: Any, *, wait: bool = False) -> Any:
        with grpc.insecure_channel(f"unix://{self.socket}") as channel:
            stub = rpc.RuntimeServiceStub(channel)  # type: ignore[no-untyped-call]
            return getattr(stub, method)(request, timeout=_CALL_TIMEOUT, wait_for_ready=wait)

    def _pick(self, rng: random.Random) -> tuple[str, str] | None:
        with self._lock:
            pods = sorted(self.pods.items())
        return rng.choice(pods) if pods else None

    def operations(self) -> Sequence[tuple[int, Operation]]:
        return [
            (6, self.run_pod),
            (4, self.pod_container),
            (3, self.stop_pod),
            (4, self.remove_pod),
        ]

    def run_pod(self, rng: random.Random) -> bool:
        with self._lock:
            self._serial += 1
            name = f"chaos-pod-{self._serial}"
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="chaos"),
            hostname=name,
            log_directory=str(self.logs / name),
        )
        try:
            reply = self._call("RunPodSandbox", pb.RunPodSandboxRequest(config=config))
        except grpc.RpcError:
            with self._lock:
                self.uncertain.add(name)
            return False
        with self._lock:
            self.pods[name] = reply.pod_sandbox_id
        return True

    def pod_container(self, rng: random.Random) -> bool:
        picked = self._pick(rng)
        if picked is None:
            return False
        name, pod = picked
        config = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=f"c{rng.randrange(1 << 20)}"),
            image=pb.ImageSpec(image="busybox:latest"),
            command=["sh", "-c", "while :; do echo tick; sleep 0.2; done"],
            log_path="c.log",
        )
        sandbox = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="chaos"),
            log_directory=str(self.logs / name),
        )
        try:
            made = self._call(
                "CreateContainer",
                pb.CreateContainerRequest(
                    pod_sandbox_id=pod, config=config, sandbox_config=sandbox
                ),
            )
            self._call("StartContainer", pb.StartContainerRequest(container_id=made.container_id))
        except grpc.RpcError:
            return False
        return True

    def stop_pod(self, rng: random.Random) -> bool:
        picked = self._pick(rng)
        if picked is None:
            return False
        try:
            self._call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=picked[1]))
        except grpc.RpcError:
            return False
        return True

    def remove_pod(self, rng: random.Random) -> bool:
        picked = self._pick(rng)
        if picked is None:
            return False
        name, pod = picked
        try:
            self._call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                with self._lock:  # cut short: it may have been removed, or not
                    self.pods.pop(name, None)
                    self.uncertain.add(name)
            return False
        with self._lock:
            self.pods.pop(name, None)
            self.removed.add(pod)
        return True

    def _listed(self) -> set[str]:
        reply = self._call("ListPodSandbox", pb.ListPodSandboxRequest(), wait=True)
        return {item.id for item in reply.items}

    def check(self) -> list[str]:
        listed = self._listed()
        problems = [
            f"pod {name} ({pod[:12]}): RunPodSandbox returned, now not listed"
            for name, pod in sorted(self.pods.items())
            if pod not in listed
        ]
        problems += [
            f"pod {pod[:12]}: RemovePodSandbox returned, yet listed"
            for pod in listed & self.removed
        ]
        return problems

    def remove_all(self) -> list[str]:
        problems = []
        for pod in sorted(self._listed()):
            try:
                self._call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod))
                self._call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod))
            except grpc.RpcError as exc:
                problems.append(f"removing pod {pod[:12]} failed: {exc.code()} {exc.details()}")
            else:
                self.removed.add(pod)
        self.pods.clear()
        return problems


def test_pods_through_kills_lose_nothing_and_leave_nothing(tmp_path: Path) -> None:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    settings = ChaosSettings(seed=SEED, kills=KILLS or 8, workers=4, min_delay=1.0, max_delay=3.0)
    lines: list[str] = []
    with staged(tmp_path, ["runc", "crun"]) as stage:
        if not (stage.daemon.run_root / "cri.sock").exists():
            pytest.skip("pouchd serves no CRI socket here")
        pods = PodChaos(stage.daemon, tmp_path / "pod-logs")
        # The first pod brings the pause image, which stays (as kubelet's does):
        # the host is compared with how it was after that.
        pods.run_pod(random.Random(0))
        pods.remove_all()
        assert stage.daemon.process is not None
        before = HostView.take(
            stage.daemon.root, stage.daemon.run_root, set(), stage.daemon.process.pid
        )
        chaos = Chaos(
            settings,
            stage.daemon,
            stage.operations,
            stage.ledger,
            say=lines.append,
            extensions=[pods],
        )
        passed = chaos.run(before)
        log = stage.daemon.log()
    report = "\n".join([*lines, summary(chaos)])
    print(report)
    made = sum(r.operations["run_pod"] for r in chaos.rounds)
    assert made > 0, report
    assert passed, f"seed {SEED} (POUCH_CHAOS_SEED replays it):\n{report}\n{log[-6000:]}"
