"""The runtime conformance suite of ``pouch.testing``, run against the lxc runtime."""

from __future__ import annotations

import pytest

from pouch.testing.conformance import RuntimeConformance

pytestmark = [pytest.mark.root, pytest.mark.binary("lxc-start", "lxc-attach")]


class TestLxc(RuntimeConformance):
    runtime = "lxc"
