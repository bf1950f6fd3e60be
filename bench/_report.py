"""The results: the table, the targets of issue 8, plain words where pouch is behind, the JSON.

The table is Markdown, printed and pasted into the README as it is. A ratio
is median(pouch) / median(peer): below 1 pouch is faster (or smaller), above
1 it is behind. Targets are reported, never asserted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from _measure import Figure

__all__ = [
    "TARGETS",
    "behind_lines",
    "load_figures",
    "table",
    "target_lines",
    "write_json",
]

LEVEL = 0.02  # ratios this close to 1 are called level, not behind or ahead
# (figure, pouch variant, peer variant, pouch at most this times the peer, the words)
TARGETS: list[tuple[str, str, str, float, str]] = [
    ("start", "pouch (none)", "ctr", 1.0, "single start with --network none at or below ctr run"),
    (
        "start",
        "pouch (bridge)",
        "podman (bridge)",
        0.5,
        "single start with the default network at or below half of podman's",
    ),
    ("batch", "pouch (none)", "ctr", 1.0, "20 at once at or below ctr"),
    ("pull", "pouch", "ctr", 1.0, "pull and unpack at or below ctr image pull"),
    ("mem_idle", "pouch", "containerd", 1.0, "idle daemon RSS at or below containerd's"),
    # pouch runs its runc containers under conmon, as podman does: against podman
    # this figure compares conmon with itself, so the target is against the shim.
    (
        "mem_monitor",
        "pouch",
        "containerd",
        1.0,
        "per-container monitor memory at or below containerd's shim",
    ),
]


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:.1f} {unit}"


def _span(stats: tuple[float, float, float], unit: str) -> str:
    return f"{fmt(stats[1], unit)} - {fmt(stats[2], unit)}"


def table(figures: Sequence[Figure]) -> str:
    """The Markdown table: one line per variant, pouch's in bold, ratios on the peers."""
    lines = [
        "| figure | engine | median | min - max | n | pouch ÷ peer |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for figure in figures:
        first = True
        mine = {pouch for pouch, _ in figure.compare}
        mine |= {label for label in figure.samples if label.startswith("pouch")}
        missing = [label for label in figure.errors if label not in figure.labels()]
        for label in [*figure.labels(), *missing]:
            title = figure.title if first else ""
            first = False
            stats = figure.stats(label)
            if stats is None:
                reason = figure.errors.get(label, "no samples").splitlines()[0][:80]
                lines.append(f"| {title} | {label} | — | could not run: {reason} | 0 | |")
                continue
            ratios = []
            for pouch, peer in figure.compare:
                ratio = figure.ratio(pouch, peer)
                if peer == label and ratio is not None:
                    named = f" ({pouch})" if len({p for p, _ in figure.compare}) > 1 else ""
                    ratios.append(f"{ratio:.2f}x{named}")
            name = f"**{label}**" if label in mine else label
            median = fmt(stats[0], figure.unit)
            median = f"**{median}**" if label in mine else median
            n = str(len(figure.samples[label]))
            if figure.failures.get(label):
                n += f" ({figure.failures[label]} failed)"
            lines.append(
                f"| {title} | {name} | {median} | {_span(stats, figure.unit)} | {n} "
                f"| {'; '.join(ratios)} |"
            )
    return "\n".join(lines)


def _words(figure: Figure, ratio: float) -> str:
    if figure.unit == "MiB":
        if ratio > 1:
            return f"uses {ratio:.2f}x the memory of"
        return f"uses {1 / ratio:.2f}x less memory than"
    return f"is {ratio:.2f}x slower than" if ratio > 1 else f"is {1 / ratio:.2f}x faster than"


def behind_lines(figures: Sequence[Figure]) -> tuple[list[str], list[str]]:
    """Plain sentences: where pouch is behind a peer, and where it is level or ahead."""
    behind: list[str] = []
    ahead: list[str] = []
    for figure in figures:
        for pouch, peer in figure.compare:
            ratio = figure.ratio(pouch, peer)
            if ratio is None:
                continue
            if abs(ratio - 1) < LEVEL:
                line = f"{pouch} is level with {peer} ({ratio:.2f}x) on {figure.title}"
            else:
                line = f"{pouch} {_words(figure, ratio)} {peer} on {figure.title}"
            (behind if ratio >= 1 + LEVEL else ahead).append(line)
    return behind, ahead


def load_figures(path: Path) -> tuple[list[Figure], dict[str, Any]]:
    """The figures and the rest of a results file written by ``write_json``."""
    document = json.loads(path.read_text())
    figures = []
    for data in document.pop("figures"):
        figure = Figure(data["key"], data["title"], data["unit"])
        figure.samples = {label: list(values) for label, values in data["samples"].items()}
        figure.compare = [(ratio["pouch"], ratio["peer"]) for ratio in data["ratios"]]
        figure.errors = dict(data.get("errors", {}))
        figure.failures = dict(data.get("failures", {}))
        figure.notes = list(data.get("notes", []))
        figures.append(figure)
    return figures, document


def target_lines(figures: Mapping[str, Figure]) -> list[dict[str, Any]]:
    """Each target of the issue: met, missed or not measured, with the numbers."""
    found = []
    for key, pouch, peer, goal, words in TARGETS:
        figure = figures.get(key)
        ratio = figure.ratio(pouch, peer) if figure else None
        entry: dict[str, Any] = {
            "target": words,
            "figure": key,
            "pouch": pouch,
            "peer": peer,
            "goal_ratio": goal,
            "ratio": ratio,
        }
        if figure is None or ratio is None:
            entry["status"] = "not measured"
            entry["text"] = f"[not measured] {words}"
        else:
            mine, theirs = figure.stats(pouch), figure.stats(peer)
            assert mine is not None and theirs is not None
            entry["status"] = "met" if ratio <= goal else "missed"
            entry["text"] = (
                f"[{entry['status']}] {words}: {pouch} {fmt(mine[0], figure.unit)} vs {peer} "
                f"{fmt(theirs[0], figure.unit)}, ratio {ratio:.2f} (goal ≤ {goal:g})"
            )
        found.append(entry)
    return found


def _figure_json(figure: Figure) -> dict[str, Any]:
    stats = {}
    for label in figure.labels():
        found = figure.stats(label)
        assert found is not None
        stats[label] = {
            "median": found[0],
            "min": found[1],
            "max": found[2],
            "n": len(figure.samples[label]),
        }
    ratios = [
        {"pouch": pouch, "peer": peer, "ratio": figure.ratio(pouch, peer)}
        for pouch, peer in figure.compare
    ]
    return {
        "key": figure.key,
        "title": figure.title,
        "unit": figure.unit,
        "samples": figure.samples,
        "stats": stats,
        "ratios": ratios,
        "errors": figure.errors,
        "failures": figure.failures,
        "notes": figure.notes,
    }


def write_json(path: Path, figures: Sequence[Figure], meta: Mapping[str, Any]) -> None:
    by_key = {figure.key: figure for figure in figures}
    behind, ahead = behind_lines(figures)
    document = {
        **meta,
        "figures": [_figure_json(figure) for figure in figures],
        "targets": target_lines(by_key),
        "behind": behind,
        "ahead": ahead,
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
