"""Figures and the interleaved loop that fills them with samples.

A ``Figure`` holds the samples of every variant (``"pouch (none)"``,
``"ctr"`` …) for one quantity, and which pouch variant is compared with which
peer. ``interleave`` runs a list of variants round-robin — A B C, B C A, C A B … —
for a warm-up and then the measured rounds, so drift on the machine (other
work, a warming page cache) spreads over every variant alike, and no variant
always runs first. A failed attempt is counted and reported with its reason;
a variant that keeps failing is dropped from the later rounds, and the others
go on. Every loop is bounded by its round count and by a deadline.

After each attempt the loop waits until the machine is idle again (``settle``):
work an engine leaves running in the background after its command returned
(pouch's network release after ``--rm``, containerd's garbage collection) is
that engine's, and must not land in the next variant's sample. How long each
variant's leftovers took is noted on its figures, so the deferral stays visible.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from _procs import BenchError, reap, settle

__all__ = ["MAX_FAILURES", "Figure", "Variant", "interleave"]

MAX_FAILURES = 2
LEFTOVER_NOTED = 0.2  # seconds of background work after an attempt worth a note


@dataclass
class Figure:
    """One row of the table: a quantity measured for pouch and its peers."""

    key: str
    title: str
    unit: str  # "s" or "MiB"
    compare: list[tuple[str, str]] = field(default_factory=list)  # (pouch variant, peer)
    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # the last failure of each variant
    failures: dict[str, int] = field(default_factory=dict)  # failed attempts of each variant
    notes: list[str] = field(default_factory=list)

    def stats(self, label: str) -> tuple[float, float, float] | None:
        """Median, min and max of ``label``'s samples, or ``None`` without any."""
        values = self.samples.get(label)
        if not values:
            return None
        return statistics.median(values), min(values), max(values)

    def ratio(self, pouch: str, peer: str) -> float | None:
        """median(pouch) / median(peer), when both were measured."""
        mine, theirs = self.stats(pouch), self.stats(peer)
        if mine is None or theirs is None or theirs[0] <= 0:
            return None
        return mine[0] / theirs[0]

    def labels(self) -> list[str]:
        return [label for label in self.samples if self.samples[label]]


@dataclass
class Variant:
    """One thing to measure: ``measure`` returns a value per figure key."""

    label: str
    measure: Callable[[], Mapping[str, float]]
    figures: tuple[str, ...]


def interleave(
    variants: list[Variant],
    figures: Mapping[str, Figure],
    *,
    rounds: int,
    warmup: int,
    deadline: float,
    name: str,
) -> None:
    """Run ``variants`` round-robin: ``warmup`` discarded rounds, then ``rounds`` kept.

    A failed attempt is no sample; it is counted in ``Figure.failures`` and
    printed. A variant that fails ``MAX_FAILURES`` times is dropped from the
    rest of the loop, so a peer that cannot work here costs little time.
    """
    failures: dict[str, int] = {}
    leftovers: dict[str, list[float]] = {}
    total = warmup + rounds
    for variant in variants:  # the table and the chart keep this order
        for key in variant.figures:
            figures[key].samples.setdefault(variant.label, [])
    for n in range(total):
        if time.monotonic() > deadline:
            note = (
                f"time budget spent: {name} stopped after {max(0, n - warmup)} of {rounds} rounds"
            )
            print(f"  {note}")
            for key in {key for v in variants for key in v.figures}:
                figures[key].notes.append(note)
            return
        shift = n % len(variants) if variants else 0
        for variant in variants[shift:] + variants[:shift]:  # no variant always goes first
            if failures.get(variant.label, 0) >= MAX_FAILURES:
                continue
            try:
                values = variant.measure()
            except BenchError as exc:
                failures[variant.label] = failures.get(variant.label, 0) + 1
                dropped = failures[variant.label] >= MAX_FAILURES
                print(f"  {variant.label}: failed{', dropped' if dropped else ''}: {exc}")
                for key in variant.figures:
                    figures[key].errors[variant.label] = str(exc)
                    figures[key].failures[variant.label] = failures[variant.label]
                continue
            leftovers.setdefault(variant.label, []).append(settle())
            if n >= warmup:
                for key, value in values.items():
                    figures[key].samples.setdefault(variant.label, []).append(value)
        reap()
        kind = "warm-up" if n < warmup else f"round {n - warmup + 1}/{rounds}"
        print(f"  {name}: {kind} done", flush=True)
    _note_leftovers(variants, figures, leftovers)


def _note_leftovers(
    variants: list[Variant], figures: Mapping[str, Figure], leftovers: Mapping[str, list[float]]
) -> None:
    """Say on each figure which variants left the machine busy after returning, and how long."""
    for variant in variants:
        waited = statistics.median(leftovers.get(variant.label) or [0.0])
        if waited < LEFTOVER_NOTED:
            continue
        note = (
            f"{variant.label}: the machine stayed busy a median {waited:.2f} s after each "
            "attempt (background work); the next variant started once it was idle"
        )
        for key in variant.figures:
            figures[key].notes.append(note)
