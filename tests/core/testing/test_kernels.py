"""The kernel lane's own parts that need no guest: its table, its checks, its guest script."""

from __future__ import annotations

from pathlib import Path

from pouch.testing.kernels import LAYOUTS, consistent, read_junit, table
from pouch.testing.kernels.__main__ import CORE, _arguments
from pouch.testing.kernels._guest import GUEST_SCRIPT

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="plugins.runc.tests.test_conformance.TestRunc" name="test_pause_resume"/>
<testcase classname="plugins.runc.tests.test_conformance.TestRuncSandbox" name="test_a"/>
<testcase classname="plugins.runc.tests.test_conformance.TestCrun" name="test_oom">
  <failure message="assert False">trace</failure></testcase>
<testcase classname="plugins.lxc.tests.test_conformance.TestLxc" name="test_systemd">
  <skipped message="runtime lxc lacks capability 'systemd-cgroup'"/></testcase>
<testcase classname="tests.core.cgroups.test_cgroups" name="test_layouts"/>
</testsuite></testsuites>
"""


def test_counts_are_per_suite_with_each_skip_reason(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    counts, skips = read_junit(path)
    assert counts["runc"]["passed"] == 2  # the sandbox class counts for its runtime
    assert counts["crun"]["failed"] == 1
    assert counts["lxc"]["skipped"] == 1 and counts["cgroups"]["passed"] == 1
    assert skips == {"lxc::test_systemd": "runtime lxc lacks capability 'systemd-cgroup'"}
    assert read_junit(tmp_path / "missing.xml") == ({}, {})


def test_failures_and_counts_that_differ_between_layouts_fail_the_lane(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    counts, _ = read_junit(path)
    fewer = {suite: counter.copy() for suite, counter in counts.items()}
    fewer["runc"]["passed"] -= 1
    fewer["runc"]["skipped"] += 1
    problems = consistent({"v1": counts, "v2": fewer})
    assert "crun on v1: 1 failed" in problems and "crun on v2: 1 failed" in problems
    assert any(p.startswith("runc: the layouts differ") for p in problems)
    clean = {s: c for s, c in counts.items() if s != "crun"}
    assert consistent({"v1": clean, "hybrid": clean, "v2": clean}) == []


def test_the_table_has_a_row_per_suite_and_a_column_per_layout(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    counts, _ = read_junit(path)
    facts = {"v2": {"layout": "v2", "kernel": "6.1.0-28-amd64"}}
    lines = table({"v2": counts}, facts).splitlines()
    assert lines[0].split() == ["suite", "v2"]
    assert lines[2].split() == ["cgroups", "1", "passed"]
    assert "runc     2 passed" in lines
    assert lines[-1].split() == ["guest", "v2", "6.1.0-28-amd64"]


def test_layouts_and_options() -> None:
    assert set(LAYOUTS) == {"v1", "hybrid", "v2"}
    assert "legacy_systemd_cgroup_controller=1" in LAYOUTS["v1"]
    assert "oom_kill" in CORE and "pause_resume" in CORE
    assert _arguments(["--layouts", "v2", "--subset", "core"]).layouts == "v2"
    compile(GUEST_SCRIPT, "pouch-lane.py", "exec")  # the guest runs it as it is
