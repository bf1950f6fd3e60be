"""The chart: one panel per figure, a bar per engine at its median, whiskers from min to max.

pouch's bars are drawn in a colour of their own, the peers' in grey, so the
eye finds pouch first. matplotlib with the Agg backend: no display needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from _measure import Figure

__all__ = ["draw"]

POUCH = "#d9541e"
PEER = "#8a8f98"


def draw(path: Path, figures: Sequence[Figure], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [figure for figure in figures if figure.labels()]
    if not shown:
        return
    columns = 2
    rows = math.ceil(len(shown) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(13, 3.6 * rows), squeeze=False)
    for ax, figure in zip(axes.flat, shown, strict=False):
        mine = {pouch for pouch, _ in figure.compare} | {
            label for label in figure.labels() if label.startswith("pouch")
        }
        labels = figure.labels()
        medians, lower, upper, colours = [], [], [], []
        scale, unit = (
            (1000.0, "ms") if figure.unit == "s" and _small(figure) else (1.0, figure.unit)
        )
        for label in labels:
            stats = figure.stats(label)
            assert stats is not None
            median, low, high = (value * scale for value in stats)
            medians.append(median)
            lower.append(median - low)
            upper.append(high - median)
            colours.append(POUCH if label in mine else PEER)
        positions = range(len(labels))
        ax.bar(
            positions,
            medians,
            color=colours,
            yerr=[lower, upper],
            capsize=4,
            error_kw={"elinewidth": 1, "ecolor": "#333333"},
        )
        for x, median, high in zip(positions, medians, upper, strict=True):
            ax.annotate(  # above the whisker, so the two never cross
                f"{median:.0f}" if median >= 100 else f"{median:.3g}",
                (x, median + high),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 2),
                textcoords="offset points",
            )
        ax.margins(y=0.12)
        ax.set_xticks(list(positions), labels, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(unit)
        ax.set_title(figure.title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    for ax in list(axes.flat)[len(shown) :]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _small(figure: Figure) -> bool:
    highest = max((figure.stats(label) or (0.0, 0.0, 0.0))[2] for label in figure.labels())
    return highest < 2.0
