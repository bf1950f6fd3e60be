"""The runtime and sandbox conformance suites, run against runc and crun under conmon."""

from __future__ import annotations

import pytest

from pouch.testing.conformance import RuntimeConformance, SandboxConformance

pytestmark = [pytest.mark.root, pytest.mark.binary("conmon")]


@pytest.mark.binary("runc")
class TestRunc(RuntimeConformance):
    runtime = "runc"


@pytest.mark.binary("runc")
class TestRuncSandbox(SandboxConformance):
    runtime = "runc"


@pytest.mark.binary("crun")
class TestCrun(RuntimeConformance):
    runtime = "crun"


@pytest.mark.binary("crun")
class TestCrunSandbox(SandboxConformance):
    runtime = "crun"
