"""Finished spans as JSON lines in a file: the trace ``pouchd --trace-file`` writes.

One object a line, written when the span ends: ``name``, ``trace`` and
``span`` IDs, ``parent`` (or null), ``start`` and ``end`` in nanoseconds of
the epoch, ``attributes`` and ``status``. Meant for ``bench/profile`` and for
anyone with ``jq``; an OTLP collector is the way to a real tracing backend.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["SpanFile"]


class SpanFile(SpanExporter):
    """Appends each exported span to ``path`` as a line of JSON."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by shutdown
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(_as_dict(span)) + "\n" for span in spans]
        with self._lock:
            self._file.writelines(lines)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()


def _as_dict(span: ReadableSpan) -> dict[str, object]:
    context = span.get_span_context()
    parent = span.parent
    return {
        "name": span.name,
        "trace": f"{context.trace_id:032x}" if context else "",
        "span": f"{context.span_id:016x}" if context else "",
        "parent": f"{parent.span_id:016x}" if parent else None,
        "start": span.start_time,
        "end": span.end_time,
        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
        "status": span.status.status_code.name,
    }


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
