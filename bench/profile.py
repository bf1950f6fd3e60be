"""Where the milliseconds of one ``pouch run --rm`` go: the daemon's trace, step by step.

Run by hand, as root, never in CI::

    .venv/bin/python bench/profile.py [--network none|bridge] [--runs 7] [--json PATH]

It starts Debian's ``docker-registry`` on 127.0.0.1 with busybox pushed to
it, and a pouchd of its own (``--root``, ``--run-root`` and socket in a
temporary directory, the default bridge ``pprof0`` on 10.228.0.0/16) with
``--trace-file``: every span the engine opens — each API request, image
resolve, spec build, volumes, rootfs, sandbox (CNI ADD/DEL), the runtime's
create, start, wait and delete, exit collection, removal, every plugin hook
— lands in a file as it ends. It pulls busybox, runs ``pouch run --rm
--network NET busybox true`` a few times to warm up, then ``--runs`` times
measured, and prints the run of median wall time as a tree: when each step
began after the CLI was started, how long it took, nested as the spans are.
"CLI before the first request" is the CLI's start-up (interpreter, imports,
argument parsing); "CLI after the last request" is its exit. Removal after
the exit (``--rm``) may end after the CLI did: it is shown, marked "after".

Everything it made — containers, the daemon (by PID), the registry, the
bridge, mounts and the temporary directory — is removed at the end, also
after a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _procs import BenchError, Service, run, unmount_under

from pouch.testing.images import BUSYBOX_CONFIG
from pouch.testing.registry import running_registry
from pouch.testing.registry_images import busybox_layer_bytes, push_image_to_registry

BRIDGE = "pprof0"
SETTINGS = f"""\
[plugin.cni]
default_bridge = "{BRIDGE}"
default_subnet = "10.228.0.0/16"
subnet_pool = "10.227.0.0/16"
"""
WARM_UP = 3


def _venv_bin() -> Path:
    return Path(sys.executable).parent


def _start_pouchd(home: Path) -> tuple[Service, list[str], Path]:
    (home / "pouchd.toml").write_text(SETTINGS)
    socket = home / "pouchd.sock"
    spans = home / "spans.jsonl"
    command = [str(_venv_bin() / "pouchd"), "--config", str(home / "pouchd.toml")]
    command += ["--root", str(home / "root"), "--run-root", str(home / "run")]
    command += ["-H", f"unix://{socket}", "--trace-file", str(spans)]
    service = Service("pouchd", command, home / "pouchd.log")
    cli = [str(_venv_bin() / "pouch"), "-H", f"unix://{socket}"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and service.alive():
        with contextlib.suppress(BenchError):
            run([*cli, "version"], timeout=10)
            return service, cli, spans
        time.sleep(0.1)
    tail = service.log_tail()
    service.stop()
    raise BenchError(f"pouchd did not answer; its log ends:\n{tail}")


def _spans(path: Path) -> list[dict[str, Any]]:
    spans = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            spans.append(json.loads(line))
    return spans


def _measure(cli: list[str], image: str, network: str, spans: Path) -> dict[str, Any]:
    """One run; its wall time and the spans that began while the CLI ran."""
    before = spans.stat().st_size if spans.exists() else 0
    command = [*cli, "run", "--rm", "--network", network, image, "true"]
    start = time.time_ns()
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    end = time.time_ns()
    time.sleep(0.3)  # removal after the exit, and the last spans' export
    with spans.open() as f:
        f.seek(before)
        lines = f.read().splitlines()
    found = []
    for line in lines:
        with contextlib.suppress(ValueError):
            span = json.loads(line)
            if span["start"] >= start:
                found.append(span)
    return {"start": start, "end": end, "wall_ms": (end - start) / 1e6, "spans": found}


def _label(span: dict[str, Any]) -> str:
    name = str(span["name"]).removeprefix("pouch.")
    attributes = span.get("attributes") or {}
    if name.startswith("api."):
        return f"{name}  ({attributes.get('http.request.method')} {attributes.get('url.path')})"
    if name.startswith("hook."):
        plugins = ",".join(attributes.get("pouch.hook.plugins") or [])
        return f"{name}  [{plugins}]" if plugins else name
    return name


def _tree(measured: dict[str, Any]) -> list[tuple[float, float, int, str, bool]]:
    """(offset ms, duration ms, depth, label, after the CLI ended) in start order, nested."""
    spans = measured["spans"]
    ids = {s["span"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span["parent"] if span["parent"] in ids else None
        children.setdefault(parent, []).append(span)
    rows: list[tuple[float, float, int, str, bool]] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s["start"]):
            offset = (span["start"] - measured["start"]) / 1e6
            duration = (span["end"] - span["start"]) / 1e6
            rows.append((offset, duration, depth, _label(span), span["end"] > measured["end"]))
            walk(span["span"], depth + 1)

    walk(None, 0)
    return rows


def _report(measured: dict[str, Any], network: str, runs: list[float]) -> str:
    api = [s for s in measured["spans"] if s["name"].startswith("pouch.api.")]
    lines = [
        f"pouch run --rm --network {network} busybox true: median of {len(runs)} runs "
        f"{statistics.median(runs):.1f} ms (min {min(runs):.1f}, max {max(runs):.1f}); "
        f"this one {measured['wall_ms']:.1f} ms",
        "",
        f"{'start ms':>9} {'took ms':>8}  step",
    ]
    if api:
        first = (min(s["start"] for s in api) - measured["start"]) / 1e6
        lines.append(f"{0.0:9.1f} {first:8.1f}  CLI before the first request")
    for offset, duration, depth, label, after in _tree(measured):
        mark = "  (after the CLI ended)" if after else ""
        lines.append(f"{offset:9.1f} {duration:8.1f}  {'  ' * depth}{label}{mark}")
    if api:
        last = max(s["end"] for s in api if s["end"] <= measured["end"])
        tail = (measured["end"] - last) / 1e6
        lines.append(
            f"{(last - measured['start']) / 1e6:9.1f} {tail:8.1f}  CLI after the last request"
        )
        inside = sum((s["end"] - s["start"]) for s in api if s["parent"] is None) / 1e6
        lines += ["", f"in API requests {inside:.1f} ms of {measured['wall_ms']:.1f} ms wall"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", default="none", help="none (default) or bridge")
    parser.add_argument("--runs", type=int, default=7, help="measured runs (median shown)")
    parser.add_argument("--json", type=Path, help="write the runs and their spans here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("profile: run as root (containers, mounts, cgroups)", file=sys.stderr)
        return 1
    # What users run is compiled: no bytecode-less start-ups in the figures.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    home = Path(tempfile.mkdtemp(prefix="pouch-profile-"))
    service: Service | None = None
    cli: list[str] = []
    try:
        with running_registry() as registry:
            push_image_to_registry(
                registry.address, "busybox", [busybox_layer_bytes()], BUSYBOX_CONFIG
            )
            image = f"{registry.address}/busybox:latest"
            service, cli, spans = _start_pouchd(home)
            run([*cli, "pull", "-q", image], timeout=120)
            for _ in range(WARM_UP):
                _measure(cli, image, args.network, spans)
            measured = [_measure(cli, image, args.network, spans) for _ in range(args.runs)]
        walls = [m["wall_ms"] for m in measured]
        median = sorted(measured, key=lambda m: m["wall_ms"])[len(measured) // 2]
        print(_report(median, args.network, walls))
        if args.json:
            args.json.write_text(json.dumps({"network": args.network, "runs": measured}))
        return 0
    except (BenchError, subprocess.SubprocessError, OSError) as exc:
        print(f"profile: {exc}", file=sys.stderr)
        return 1
    finally:
        if cli and service is not None and service.alive():
            with contextlib.suppress(BenchError, subprocess.SubprocessError):
                ids = subprocess.run(
                    [*cli, "ps", "-aq"], capture_output=True, text=True, timeout=30
                ).stdout.split()
                if ids:
                    run([*cli, "rm", "-f", *ids], timeout=60)
        if service is not None:
            service.stop()
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
        unmount_under(home)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
