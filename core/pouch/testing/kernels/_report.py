"""The lane's table: each suite's counts per cgroup layout, from pytest's JUnit XML.

A suite is what a conformance class runs against: ``TestRunc`` and
``TestRuncSandbox`` count for ``runc``, ``TestBridge`` for ``bridge``; a test
outside any class counts for its module. A run passes when no layout has a
failure or an error and every suite has the same counts on every layout.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

__all__ = ["Counts", "consistent", "read_junit", "table"]

Counts = dict[str, Counter[str]]  # suite -> outcome -> count

_OUTCOMES = ("passed", "failed", "error", "skipped")


def _suite(classname: str) -> str:
    last = classname.rsplit(".", 1)[-1]
    if last.startswith("Test"):
        name = re.sub(r"Sandbox$", "", last[len("Test") :]) or last
        return name.lower()
    return last.removeprefix("test_")


def read_junit(path: Path) -> tuple[Counts, dict[str, str]]:
    """Counts per suite, and the reason of each skip (``suite::test`` -> reason)."""
    counts: Counts = {}
    skips: dict[str, str] = {}
    if not path.is_file():
        return counts, skips
    for case in ElementTree.parse(path).iter("testcase"):
        suite = _suite(case.get("classname", "?"))
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                if child.tag == "skipped":
                    skips[f"{suite}::{case.get('name')}"] = child.get("message", "")
        counts.setdefault(suite, Counter())[outcome] += 1
    return counts, skips


def _cell(counter: Counter[str] | None) -> str:
    if not counter:
        return "-"
    return ", ".join(f"{counter[o]} {o}" for o in _OUTCOMES if counter[o])


def consistent(results: dict[str, Counts]) -> list[str]:
    """What is wrong with the run: failures, errors, counts that differ between layouts."""
    problems = []
    suites = sorted({s for counts in results.values() for s in counts})
    for suite in suites:
        cells = {layout: counts.get(suite, Counter()) for layout, counts in results.items()}
        for layout, counter in cells.items():
            if counter["failed"] or counter["error"]:
                problems.append(f"{suite} on {layout}: {_cell(counter)}")
        if len({tuple(sorted(c.items())) for c in cells.values()}) > 1:
            said = "; ".join(f"{layout}: {_cell(c)}" for layout, c in cells.items())
            problems.append(f"{suite}: the layouts differ ({said})")
    return problems


def table(results: dict[str, Counts], facts: dict[str, dict[str, str]]) -> str:
    """A plain-text table: a row per suite, a column per layout."""
    layouts = list(results)
    suites = sorted({s for counts in results.values() for s in counts})
    rows = [["suite", *layouts]]
    rows += [[s, *(_cell(results[layout].get(s)) for layout in layouts)] for s in suites]
    kernel = [
        "guest",
        *(
            f"{facts.get(layout, {}).get('layout', '?')} {facts.get(layout, {}).get('kernel', '?')}"
            for layout in layouts
        ),
    ]
    rows.append(kernel)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
