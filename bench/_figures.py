"""What is measured: the figures of issue 8, each for pouch and every peer that runs here.

``measure_all`` takes the engines that started (``pouch``, ``podman``,
``containerd``, ``runc``, ``skopeo``) and the CRI clients on pouchd and
containerd (``_cri.CriPods``), and fills one ``Figure`` per row of the table,
every figure's variants interleaved. A peer that is missing simply has no
variant. Timings are wall-clock seconds of the client command, from its start
to its exit (for pods, of the CRI calls); memory is RSS from /proc in MiB.
``PHASES`` are the names ``--only`` selects.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Collection, Mapping
from functools import partial
from typing import Any

from _build import BUILD_FIGURES, build_variants
from _cri import CriPods
from _images import BIG_LAYERS
from _kata import KATA_FIGURES, kata_available, kata_variants
from _measure import Figure, Variant, interleave
from _procs import BenchError, timed, timed_batch

__all__ = ["FIGURES", "PHASES", "POD_LABELS", "Settings", "measure_all", "new_figures"]

# (key, title, unit, comparisons (pouch variant, peer variant))
FIGURES: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    (
        "start",
        "one container, start to exit (run --rm busybox true)",
        "s",
        [
            ("pouch (bridge)", "podman (bridge)"),
            ("pouch (none)", "podman (none)"),
            ("pouch (none)", "ctr"),
            ("pouch (none)", "runc (floor)"),
        ],
    ),
    (
        "batch",
        "20 containers started at once, whole batch",
        "s",
        [
            ("pouch (bridge)", "podman (bridge)"),
            ("pouch (none)", "podman (none)"),
            ("pouch (none)", "ctr"),
            ("pouch (none)", "runc (floor)"),
        ],
    ),
    (
        "pull",
        "pull and unpack the 85 MB, 5-layer image",
        "s",
        [
            ("pouch", "podman"),
            ("pouch", "ctr"),
            ("pouch", "skopeo (download only, floor)"),
            ("pouch", "skopeo+umoci"),
        ],
    ),
    ("ps", "CLI round trip (ps)", "s", [("pouch", "podman"), ("pouch", "ctr")]),
    ("mem_idle", "daemon RSS, idle", "MiB", [("pouch", "containerd")]),
    (
        "mem_total",
        "memory with 10 running containers (daemon + monitors; podman has no daemon)",
        "MiB",
        [("pouch", "containerd"), ("pouch", "podman")],
    ),
    (
        "mem_monitor",
        "per-container monitor RSS (conmon / shim)",
        "MiB",
        [("pouch", "podman"), ("pouch", "containerd")],
    ),
    (
        "pod",
        "pod start via the CRI: RunPodSandbox + CreateContainer + StartContainer until RUNNING",
        "s",
        [("pouch (CRI)", "containerd (CRI)")],
    ),
]

#: The CRI client of each engine that serves pods, by the label of its variant.
POD_LABELS = {"pouch": "pouch (CRI)", "containerd": "containerd (CRI)"}

#: What ``--only`` selects: the measuring phases, in the order they run.
PHASES = ["start", "ps", "batch", "pull", "memory", "pod", "build", "kata", "network"]


class Settings:
    """Round counts and sizes for one run."""

    def __init__(
        self,
        rounds: int,
        warmup: int,
        batch: int,
        idle: int,
        budget: float,
        only: Collection[str] = (),
    ) -> None:
        self.rounds, self.warmup, self.batch, self.idle = rounds, warmup, batch, idle
        self.deadline = time.monotonic() + budget
        self.only = frozenset(only)  # empty: every phase

    def wants(self, phase: str) -> bool:
        """Whether ``phase`` (one of ``PHASES``) is measured in this run."""
        return not self.only or phase in self.only

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "rounds": self.rounds,
            "warmup": self.warmup,
            "batch": self.batch,
            "memory_containers": self.idle,
        }
        if self.only:
            found["only"] = [phase for phase in PHASES if phase in self.only]
        return found


def new_figures(batch: int, idle: int) -> dict[str, Figure]:
    figures = {}
    for key, title, unit, compare in FIGURES + BUILD_FIGURES + KATA_FIGURES:
        title = title.replace("20 containers", f"{batch} containers")
        title = title.replace("10 running", f"{idle} running")
        figures[key] = Figure(key, title, unit, compare=list(compare))
    return figures


def _one(key: str, measure: Callable[[], float]) -> Callable[[], Mapping[str, float]]:
    return lambda: {key: measure()}


def _start_variants(engines: Mapping[str, Any], batch: int) -> tuple[list[Variant], list[Variant]]:
    """The single-start and the batch variants of every engine that runs containers."""
    runs: list[tuple[str, Any, str | None]] = []
    if "pouch" in engines:
        runs += [
            ("pouch (bridge)", engines["pouch"], None),
            ("pouch (none)", engines["pouch"], "none"),
        ]
    if "podman" in engines:
        podman = engines["podman"]
        runs += [("podman (bridge)", podman, None), ("podman (none)", podman, "none")]
    for name, label in (("containerd", "ctr"), ("runc", "runc (floor)")):
        if name in engines:
            runs.append((label, engines[name], None))
    single, many = [], []
    for label, engine, network in runs:
        env = getattr(engine, "env", None)

        def once(engine: Any = engine, network: str | None = network, env: Any = env) -> float:
            return timed(engine.run_command(network), env=env)

        def at_once(engine: Any = engine, network: str | None = network, env: Any = env) -> float:
            commands = [engine.run_command(network) for _ in range(batch)]
            return timed_batch(commands, env=env)

        single.append(Variant(label, _one("start", once), ("start",)))
        many.append(Variant(label, _one("batch", at_once), ("batch",)))
    return single, many


def _pull_variants(
    engines: Mapping[str, Any], image: str, fetches: Callable[[], int], pull_figure: Figure
) -> list[Variant]:
    """One variant per puller; each pull checks with the registry that every layer came down."""

    def pull_then_remove(label: str, engine: Any, pull: Callable[[str], float]) -> Variant:
        def measure() -> Mapping[str, float]:
            before = fetches()
            try:
                elapsed = pull(image)
            finally:  # the next round must download and unpack everything again
                engine.unpull(image)
            got = fetches() - before
            if got < BIG_LAYERS:
                pull_figure.notes.append(f"{label}: fetched {got} of {BIG_LAYERS} layers once")
            return {"pull": elapsed}

        return Variant(label, measure, ("pull",))

    variants = []
    for name in ("pouch", "podman", "containerd"):
        if name in engines:
            label = "ctr" if name == "containerd" else name
            variants.append(pull_then_remove(label, engines[name], engines[name].pull))
    if "skopeo" in engines:
        skopeo = engines["skopeo"]
        variants.append(pull_then_remove("skopeo (download only, floor)", skopeo, skopeo.pull))
        if skopeo.umoci:
            variants.append(pull_then_remove("skopeo+umoci", skopeo, skopeo.pull_unpack))
    return variants


def _memory_variant(label: str, engine: Any, count: int) -> Variant:
    has_daemon = label != "podman"

    def measure() -> Mapping[str, float]:
        idle_daemon, _ = engine.memory()
        try:
            engine.start_idle(count)
            time.sleep(1.0)  # let monitors and the daemon settle after the last start
            daemon, monitors = engine.memory()
        finally:
            engine.stop_idle()
        if len(monitors) != count:
            raise BenchError(f"{label}: found {len(monitors)} monitors for {count} containers")
        values = {"mem_total": daemon + sum(monitors), "mem_monitor": statistics.mean(monitors)}
        if has_daemon:
            values["mem_idle"] = idle_daemon
        return values

    keys = ("mem_idle", "mem_total", "mem_monitor") if has_daemon else ("mem_total", "mem_monitor")
    return Variant(label, measure, keys)


def _note_rss_after_pods(engines: Mapping[str, Any], figure: Figure) -> None:
    """The daemons' RSS once they have served the pod rounds (pouchd: gRPC loaded)."""
    found = []
    for name, label in (("pouch", "pouch"), ("containerd", "containerd")):
        if name in engines:
            with contextlib.suppress(BenchError, OSError):
                found.append(f"{label} {engines[name].memory()[0]:.1f} MiB")
    if found:
        figure.notes.append(
            "idle is measured before any CRI client (pouchd loads gRPC with its first one); "
            "after the pod rounds: " + ", ".join(found)
        )


def _pod_variants(pods: Mapping[str, CriPods], pod_figure: Figure) -> list[Variant]:
    """One variant per CRI client; the figure's note says where the pods' network is."""
    if any(client.host_network for client in pods.values()):
        pod_figure.notes.append("host-network pods on both sides (NamespaceOption network=NODE)")
    else:
        where = ", ".join(f"{label}: {client.address}" for label, client in pods.items())
        pod_figure.notes.append(
            "pods on a CNI bridge (bridge + host-local, portmap, firewall): pouch's default "
            f"network, containerd's CRI conflist of the bench; first pods' addresses: {where}"
        )
    pod_figure.notes.append(
        "timed: RunPodSandbox + CreateContainer (busybox sleep 3600) + StartContainer + "
        "ContainerStatus until RUNNING, one Python gRPC client; StopPodSandbox + "
        "RemovePodSandbox after each, untimed"
    )
    return [
        Variant(label, _one("pod", client.start_pod), ("pod",)) for label, client in pods.items()
    ]


def measure_all(
    engines: Mapping[str, Any],
    figures: Mapping[str, Figure],
    big: str,
    fetches: Callable[[], int],
    settings: Settings,
    pods: Callable[[], Mapping[str, CriPods]] | None = None,
) -> None:
    """Fill ``figures``, each figure's variants interleaved; ``fetches`` counts blob GETs."""

    def phase(name: str, variants: list[Variant], rounds: int, warmup: int) -> None:
        print(f"{name}: {len(variants)} variants, {warmup} warm-up + {rounds} rounds", flush=True)
        interleave(variants, figures, rounds=rounds, warmup=warmup, deadline=settings.deadline,
                   name=name)  # fmt: skip

    single, many = _start_variants(engines, settings.batch)
    if settings.wants("start"):
        phase("single start", single, settings.rounds * 3, settings.warmup)
    listings = []
    for name, label in (("pouch", "pouch"), ("podman", "podman"), ("containerd", "ctr")):
        if name in engines:
            command: list[str] = engines[name].ps_command()
            env: dict[str, str] | None = getattr(engines[name], "env", None)
            listings.append(Variant(label, _one("ps", partial(timed, command, env=env)), ("ps",)))
    if settings.wants("ps"):
        phase("ps", listings, settings.rounds * 3, settings.warmup)
    if settings.wants("batch"):
        phase(f"batch of {settings.batch}", many, settings.rounds, settings.warmup)
    if settings.wants("pull"):
        phase("pull", _pull_variants(engines, big, fetches, figures["pull"]), settings.rounds,
              settings.warmup)  # fmt: skip
    memory = [
        _memory_variant(label, engines[name], settings.idle)
        for name, label in (("pouch", "pouch"), ("containerd", "containerd"), ("podman", "podman"))
        if name in engines
    ]
    # RSS needs no warm-up: every round starts and stops the containers anew.
    if settings.wants("memory"):
        phase(f"memory with {settings.idle} containers", memory, settings.rounds, 0)
    clients = pods() if settings.wants("pod") and pods is not None else {}
    if clients:
        phase("pod start (CRI)", _pod_variants(clients, figures["pod"]), settings.rounds * 3,
              settings.warmup)  # fmt: skip
        _note_rss_after_pods(engines, figures["mem_idle"])
    if settings.wants("build"):
        image = getattr(engines.get("pouch"), "image", "")
        phase("build", build_variants(engines, image), settings.rounds, settings.warmup)
    if not settings.wants("kata"):
        return
    if "pouch" in engines and kata_available(engines["pouch"]):
        phase("kata beside runc", kata_variants(engines["pouch"]), settings.rounds, settings.warmup)
    elif "pouch" in engines:
        print("kata: not loaded in this pouchd (pouch-kata assets build?): no kata rows")
