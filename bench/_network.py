"""The network row: runs bench/network.py (written with the CNI plugin) when it exists.

bench/network.py is a program of its own: pouch's CNI bridge against
podman's, the same CNI plugins for both, each engine's ``run --rm busybox
true`` on its bridge minus the same with ``--network none``, interleaved.
The runner calls it within the same run (inside the same private mount
namespace) as ``network.py --rounds N --warmup N --json PATH`` and reads the
JSON it writes:

- ``network_cost_s``: ``{"pouch": [seconds, ...], "podman": [...]}`` — the row;
- ``series_s``: the raw series; its ``pouch driver ADD+DEL only`` is shown too;
- or, in this runner's own shape, ``samples`` ``{label: [...]}``, ``compare``
  ``[[pouch label, peer label], ...]``, ``title``, ``unit`` and ``notes``.

Whatever it prints is shown. When it writes nothing, the row says why.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from _measure import Figure

__all__ = ["SCRIPT", "network_figure"]

SCRIPT = Path(__file__).with_name("network.py")
TITLE = "network setup + teardown per container (bridge minus none)"
ADD_DEL = "pouch driver ADD+DEL only"


def _figure(data: dict[str, Any]) -> Figure:
    figure = Figure("network", str(data.get("title", TITLE)), str(data.get("unit", "s")))
    samples = data.get("samples")
    if samples is None:  # network.py's own shape
        costs = dict(data.get("network_cost_s", {}))
        samples = {f"{name} (CNI bridge)": values for name, values in costs.items()}
        series = dict(data.get("series_s", {}))
        if series.get(ADD_DEL):
            samples[ADD_DEL] = series[ADD_DEL]
        figure.compare = [("pouch (CNI bridge)", "podman (CNI bridge)")]
        figure.notes.append(
            "from bench/network.py: per round, run --rm true on a CNI bridge network minus "
            "the same with --network none; pouch as a library, podman through its CLI"
        )
    for label, values in dict(samples).items():
        figure.samples[str(label)] = [float(v) for v in values]
    if "compare" in data:
        figure.compare = [(str(a), str(b)) for a, b in data["compare"]]
    figure.notes += [str(note) for note in data.get("notes", [])]
    return figure


def network_figure(tmp: Path, rounds: int, warmup: int, timeout: float) -> Figure | None:
    """The network row from bench/network.py; ``None`` when there is no such script."""
    if not SCRIPT.is_file():
        print("network: bench/network.py is not there yet; no network row")
        return None
    result = tmp / "network.json"
    command = [sys.executable, str(SCRIPT), "--rounds", str(rounds), "--warmup", str(warmup)]
    print(f"network: {SCRIPT.name} --rounds {rounds} --warmup {warmup}", flush=True)
    failed = Figure("network", TITLE, "s")
    process = subprocess.Popen([*command, "--json", str(result)], stdin=subprocess.DEVNULL)
    try:
        returncode = process.wait(timeout=max(60.0, timeout))
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # its own cleanup runs on KeyboardInterrupt
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        failed.errors["network.py"] = f"timed out after {timeout:.0f}s"
        return failed
    if returncode != 0:
        failed.errors["network.py"] = f"exited with status {returncode}"
    if not result.is_file():
        failed.errors.setdefault("network.py", "wrote no result")
        return failed
    try:
        return _figure(json.loads(result.read_text()))
    except (ValueError, TypeError, AttributeError) as exc:
        failed.errors["network.py"] = f"unreadable result: {exc}"
        return failed
