"""The conformance suite against the host-process test runtime."""

from __future__ import annotations

from pouch.testing.conformance import RuntimeConformance


class TestProcessRuntime(RuntimeConformance):
    runtime = "process"
