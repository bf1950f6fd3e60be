"""Spans cost nothing until someone sets a tracer provider."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pouch.telemetry import operation, step

with step("early") as span:
    assert not span.is_recording()
with operation("early.op", container_id="c") as span:
    assert not span.is_recording()
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)  # an embedder's own provider, set later
with operation("later.op", container_id="c"):
    with step("later") as span:
        assert span.is_recording()
print(sorted(s.name for s in exporter.get_finished_spans()))
"""


def test_spans_are_recorded_once_a_provider_is_set_and_not_before() -> None:
    # A fresh interpreter: the global tracer provider can be set only once per process.
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['pouch.later', 'pouch.later.op']"
