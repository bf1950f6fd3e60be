"""pouch-bwrap against pouch's runtime and sandbox contracts."""

from __future__ import annotations

import pytest

from pouch.testing.conformance import RuntimeConformance, SandboxConformance

pytestmark = [pytest.mark.root, pytest.mark.binary("bwrap")]


class TestBwrap(RuntimeConformance):
    runtime = "bwrap"


class TestBwrapSandbox(SandboxConformance):
    runtime = "bwrap"
