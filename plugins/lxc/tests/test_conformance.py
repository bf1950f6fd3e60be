"""The runtime and sandbox conformance suites of ``pouch.testing``, run against lxc."""

from __future__ import annotations

import pytest

from pouch.testing.conformance import RuntimeConformance, SandboxConformance

pytestmark = [pytest.mark.root, pytest.mark.binary("lxc-start", "lxc-attach")]


class TestLxc(RuntimeConformance):
    runtime = "lxc"


class TestLxcSandbox(SandboxConformance):
    runtime = "lxc"
