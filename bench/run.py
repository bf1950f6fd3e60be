#!/usr/bin/env python3
"""pouch against podman, containerd (ctr, CRI), bare runc and skopeo, side by side, in one run.

Run it with ``bash bench/run`` (which installs the peers and matplotlib
first); ``python bench/run.py --help`` for the knobs. As root: it re-executes
itself in a private mount namespace with tmpfs over /run and /var/lib, makes
one temporary directory for every engine's state, starts a docker-registry on
127.0.0.1, pushes busybox and an 85 MB image built offline, and measures
every figure for pouch and each peer interleaved, after a warm-up. Results:
``bench/results/<date>.json`` and ``.png`` (``<date>-2`` for the day's second
run, and so on); the table on stdout. Whatever
happens — failure, Ctrl-C, SIGTERM — every container is removed, every
process it started is stopped by its PID, and the directory is deleted.

A benchmark, not a test: nothing here asserts a timing, and CI never runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from _chart import draw  # noqa: E402
from _cri import CriPods  # noqa: E402
from _figures import PHASES, POD_LABELS, Settings, measure_all, new_figures  # noqa: E402
from _host import Leftovers, describe, private_mounts  # noqa: E402
from _images import Images, push_images, push_pause, runc_bundle  # noqa: E402
from _network import network_figure  # noqa: E402
from _peers import CRI_BRIDGE, Containerd, Podman, Runc, Skopeo  # noqa: E402
from _pouch import BRIDGE, Pouch  # noqa: E402
from _procs import TOKEN, BenchError, become_subreaper, reap, sweep, unmount_under  # noqa: E402
from _report import behind_lines, load_figures, table, target_lines, write_json  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="measured rounds per figure (x3 for single start, ps and pod start; default 5)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="discarded rounds first (default 1)")
    parser.add_argument("--batch", type=int, default=20, help="containers started at once")
    parser.add_argument(
        "--containers",
        type=int,
        default=10,
        help="running containers for the memory figure (default 10)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=1200,
        help="seconds for all measuring; later rounds are skipped past it",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=BENCH / "results",
        help="where <date>.json and <date>.png go (default bench/results)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="PEER",
        choices=["podman", "containerd", "runc", "skopeo"],
        help="leave a peer out (repeatable)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PHASE",
        choices=PHASES,
        help=(
            "measure only this phase (repeatable; default: all): start (one container), ps, "
            "batch, pull, memory (the three memory rows), pod (pod start through the CRI), "
            "build (a Dockerfile cold and warm), kata (the kata rows), network "
            "(bench/network.py); peers no chosen phase needs "
            "are not started"
        ),
    )
    parser.add_argument(
        "--pod-network",
        choices=["bridge", "host"],
        default="bridge",
        help=(
            "the pod row's pods: on each engine's CNI bridge (default), or on the host's "
            "network on both sides"
        ),
    )
    parser.add_argument(
        "--replot",
        type=Path,
        metavar="JSON",
        help="measure nothing: print a results file's table again and redraw its chart",
    )
    return parser.parse_args(argv)


def enter_namespace(argv: list[str]) -> None:
    """Re-execute in a private mount namespace unless this process already is in one."""
    if "POUCH_BENCH_HOST_NS" in os.environ:
        return
    if shutil.which("unshare") is None:
        sys.exit("bench: unshare (util-linux) is needed")
    os.environ["POUCH_BENCH_HOST_NS"] = os.readlink("/proc/self/ns/mnt")
    command = ["unshare", "--mount", "--propagation", "private", "--"]
    os.execvp("unshare", [*command, sys.executable, str(Path(__file__).resolve()), *argv])


def _terminate(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


#: The phases each peer takes part in (pouch takes part in all).
NEEDED_BY = {
    "podman": {"start", "ps", "batch", "pull", "memory", "build"},
    "containerd": {"start", "ps", "batch", "pull", "memory", "pod"},
    "runc": {"start", "batch"},
    "skopeo": {"pull"},
}


def start_engines(
    tmp: Path, skip: list[str], only: list[str], images: Images, unavailable: dict[str, str]
) -> Iterator[tuple[str, Any]]:
    """Each engine that starts here, by name; why the others could not, in ``unavailable``."""
    makers: list[tuple[str, str, Any]] = [
        ("pouch", "pouchd", lambda: Pouch(Path(sys.prefix), tmp)),
        ("podman", "podman", lambda: Podman(tmp)),
        ("containerd", "containerd", lambda: Containerd(tmp, images.registry, images.pause)),
        ("runc", "runc", lambda: Runc(tmp, runc_bundle(tmp / "bundle"))),
        ("skopeo", "skopeo", lambda: Skopeo(tmp)),
    ]
    for name, program, make in makers:
        if name in skip:
            unavailable[name] = "left out with --skip"
            continue
        if only and name in NEEDED_BY and not NEEDED_BY[name] & set(only):
            unavailable[name] = f"no phase of --only {' '.join(only)} needs it"
            continue
        found = Path(sys.prefix, "bin", program) if name == "pouch" else shutil.which(program)
        if not found or not Path(found).exists():
            unavailable[name] = f"{program} is not installed (bench/run installs it)"
            continue
        try:
            yield name, make()
        except (BenchError, OSError) as exc:
            unavailable[name] = str(exc)


def bench(args: argparse.Namespace, tmp: Path, meta: dict[str, Any], closers: list[Any]) -> None:
    from pouch.testing.registry import running_registry

    settings = Settings(
        args.rounds, args.warmup, args.batch, args.containers, args.budget, args.only
    )
    meta["settings"] = settings.as_dict()
    unavailable: dict[str, str] = meta["unavailable"]
    with running_registry() as registry:
        print(f"registry on {registry.address}; building and pushing the images", flush=True)
        images = push_images(registry.address, big=settings.wants("pull"))
        meta["settings"]["big_image_compressed_bytes"] = images.big_bytes
        if settings.wants("pod"):
            try:
                push_pause(images)
            except BenchError as exc:
                unavailable[POD_LABELS["containerd"]] = str(exc)
        engines: dict[str, Any] = {}
        for name, engine in start_engines(tmp, args.skip, args.only, images, unavailable):
            closers.append(engine)
            try:
                if hasattr(engine, "prepare"):
                    engine.prepare(images.busybox)
                meta["versions"][f"{name} (as run)"] = engine.version()
            except BenchError as exc:
                unavailable[name] = str(exc)
                continue
            engines[name] = engine
            meta["notes"] += getattr(engine, "notes", [])
        for name, reason in unavailable.items():
            print(f"{name}: cannot run here: {reason}")
        print(f"engines: {', '.join(engines)}", flush=True)

        def pods() -> dict[str, CriPods]:
            # Started when the pod rounds begin, after the memory rounds: pouchd loads
            # gRPC with its first CRI client, and the idle figure is of a daemon no
            # kubelet has talked to yet (the RSS after the pod rounds is noted).
            meta["settings"]["pod_network"] = args.pod_network
            host_network = args.pod_network == "host"
            return start_pod_clients(tmp, engines, images, meta, closers, host_network)

        figures = new_figures(args.batch, args.containers)
        measure_all(engines, figures, images.big, lambda: len(registry.blob_gets()), settings,
                    pods)  # fmt: skip
        ordered = list(figures.values())
        remaining = settings.deadline - time.monotonic()
        if settings.wants("network"):
            network = network_figure(tmp, args.rounds * 3, args.warmup, timeout=max(remaining, 120))
            if network is not None:
                ordered.append(network)
        meta["machine"]["loadavg_end"] = os.getloadavg()
        meta["seconds"] = round(time.monotonic() - meta.pop("_started"), 1)
        report(args.results, ordered, meta)


def start_pod_clients(
    tmp: Path,
    engines: dict[str, Any],
    images: Images,
    meta: dict[str, Any],
    closers: list[Any],
    host_network: bool,
) -> dict[str, CriPods]:
    """A CRI client on pouchd's and containerd's socket, each with busybox pulled through it.

    Added to ``closers`` after the engines, so their pods are removed before the engines stop.
    """
    pods: dict[str, CriPods] = {}
    unavailable: dict[str, str] = meta["unavailable"]
    for name, label in POD_LABELS.items():
        if name not in engines or label in unavailable:
            continue
        # containerd's pods go to cgroups under one of the run's own (removed afterwards);
        # pouch's CRI keeps its containers where pouchd keeps all others.
        parent = f"/{TOKEN}-cri"
        try:
            client = CriPods(
                label,
                engines[name].cri_socket,
                tmp / "pods" / name,
                parent,
                host_network=host_network,
            )
        except BenchError as exc:
            unavailable[label] = str(exc)
            continue
        closers.append(client)
        print(f"{label}: pulling busybox through the ImageService, one untimed pod", flush=True)
        try:
            client.prepare(images.busybox, images.pause if name == "containerd" else "")
            meta["versions"][f"{label} (as run)"] = client.version()
        except BenchError as exc:
            unavailable[label] = str(exc)
            continue
        pods[label] = client
    return pods


def _free_stem(results: Path, day: str) -> Path:
    """``<day>``, or ``<day>-2``, ``-3``… when a run of that day wrote its results already."""
    for number in range(1, 1000):
        stem = results / (day if number == 1 else f"{day}-{number}")
        if not stem.with_suffix(".json").exists():
            return stem
    raise SystemExit(f"{results} holds 999 runs of {day}: move some away")


def report(results: Path, figures: list[Any], meta: dict[str, Any]) -> None:
    """Print the table, targets and where pouch is behind; write <date>.json and .png."""
    print("\n" + table(figures) + "\n")
    for figure in figures:
        for note in figure.notes:
            print(f"Note on {figure.title}: {note}")
    print("\nTargets (issue 8; reported, not asserted):")
    for target in target_lines({figure.key: figure for figure in figures}):
        print(f"  {target['text']}")
    behind, ahead = behind_lines(figures)
    print("\nWhere pouch is behind:" if behind else "\npouch is behind no peer measured.")
    for line in behind:
        print(f"  {line}")
    if ahead:
        print("Where pouch is level or ahead:")
        for line in ahead:
            print(f"  {line}")
    for figure in figures:
        for label, count in figure.failures.items():
            error = figure.errors.get(label, "").splitlines()[0][-300:]
            print(f"failed: {label}, {count}x on {figure.title}; last: {error}")
    for name, reason in meta["unavailable"].items():
        print(f"not measured: {name}: {reason.splitlines()[0] if reason else ''}")
    results.mkdir(parents=True, exist_ok=True)
    stem = _free_stem(results, meta["date"][:10])
    write_json(stem.with_suffix(".json"), figures, meta)
    machine = meta["machine"]
    title = (
        f"pouch vs peers, {meta['date'][:10]}: {machine['cores']} cores, "
        f"kernel {machine['kernel']}, cgroup {machine['cgroup'].split(' ')[0]}"
    )
    try:
        draw(stem.with_suffix(".png"), figures, title)
    except ImportError as exc:
        print(f"no chart: {exc} (bench/run installs matplotlib)")
    print(f"\nresults: {stem.with_suffix('.json')} and {stem.with_suffix('.png')}")


def replot(path: Path) -> int:
    """Print the table of a results file again and redraw its chart; nothing is measured."""
    figures, document = load_figures(path)
    meta = {key: value for key, value in document.items()
            if key not in ("targets", "behind", "ahead")}  # fmt: skip
    report(path.parent, figures, meta)
    return 0


def close_all(closers: list[Any], tmp: Path, leftovers: Leftovers, bridges: set[str]) -> None:
    """Stop everything started, newest first; then sweep, unmount and delete."""
    markers = [TOKEN]
    for engine in reversed(closers):
        with contextlib.suppress(Exception):
            markers += engine.close() if hasattr(engine, "close") else []
    killed = sweep(tmp, markers)
    time.sleep(0.5)
    reap()
    if killed:
        print(f"cleanup: killed {len(killed)} leftover processes: {killed}")
    unmount_under(tmp)
    removed = leftovers.clean(bridges)
    if removed:
        print(f"cleanup: removed {', '.join(removed)}")
    shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.replot:
        return replot(args.replot)
    if os.geteuid() != 0:
        sys.exit("bench: run as root (containers, mounts, cgroups)")
    enter_namespace(argv)
    meta: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat("T", "seconds"),
        "_started": time.monotonic(),
        "unavailable": {},
        "notes": [],
    }
    meta.update(describe())
    private_mounts()
    become_subreaper()
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    tmp = Path(tempfile.mkdtemp(prefix="pouch-bench-", dir="/tmp"))
    leftovers = Leftovers(TOKEN)
    closers: list[Any] = []
    print(
        f"bench: state in {tmp}; {meta['machine']['cores']} cores, "
        f"cgroup {meta['machine']['cgroup']}",
        flush=True,
    )
    try:
        bench(args, tmp, meta, closers)
    except KeyboardInterrupt:
        print("\nbench: interrupted; cleaning up", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # nothing stops the cleanup
            signal.signal(signum, signal.SIG_IGN)
        pouch_bridges = {BRIDGE} | (
            {"pouch0"}
            if any(getattr(c, "notes", None) for c in closers if isinstance(c, Pouch))
            else set()
        )
        close_all(closers, tmp, leftovers, pouch_bridges | {"cni-podman0", CRI_BRIDGE})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
