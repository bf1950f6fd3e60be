"""Tracing: spans around engine operations and every hook call.

The library speaks the OpenTelemetry *API* only. Until a tracer provider is
set (``configure_sdk`` in ``pouchd``, or an embedder's own), no span is even
begun: ``step`` and ``operation`` hand back one shared context that does
nothing, and hook calls go unwrapped, where the API's no-op spans would still
attach and detach a context for each. ``configure_sdk`` is for ``pouchd``
alone, which calls it once at start-up.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import pluggy
from opentelemetry import trace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["configure_sdk", "operation", "step", "trace_hook_calls", "tracer"]

tracer = trace.get_tracer("pouch")

CONTAINER_ID = "container.id"
RUNTIME_NAME = "container.runtime.name"

_NO_SPAN: AbstractContextManager[trace.Span] = nullcontext(trace.INVALID_SPAN)


def _tracing() -> bool:
    """Whether anyone has set a tracer provider (until then the API's is a placeholder)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def operation(
    name: str, *, container_id: str = "", runtime: str = ""
) -> AbstractContextManager[trace.Span]:
    """A span for one engine operation, with the container semantic-convention attributes."""
    if not _tracing():
        return _NO_SPAN
    return _operation(name, container_id=container_id, runtime=runtime)


@contextmanager
def _operation(name: str, *, container_id: str, runtime: str) -> Iterator[trace.Span]:
    attributes: dict[str, str] = {}
    if container_id:
        attributes[CONTAINER_ID] = container_id
    if runtime:
        attributes[RUNTIME_NAME] = runtime
    with tracer.start_as_current_span(f"pouch.{name}", attributes=attributes) as span:
        yield span


def step(name: str, **attributes: str) -> AbstractContextManager[trace.Span]:
    """A span for one step inside an operation (``pouch.<name>``): image resolve, rootfs…"""
    if not _tracing():
        return _NO_SPAN
    return tracer.start_as_current_span(f"pouch.{name}", attributes=attributes or None)


def trace_hook_calls(pm: pluggy.PluginManager) -> None:
    """Open a span around every hook call made through ``pm``.

    pluggy's call monitoring sees every hook in one place, where a wrapper
    would have to be written once per hook. Hooks are synchronous, so a stack
    pairs each "before" with its "after".
    """
    open_spans: list[AbstractContextManager[trace.Span]] = []

    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        if not _tracing():
            open_spans.append(_NO_SPAN)
            return
        attributes: dict[str, Any] = {"pouch.hook.plugins": [i.plugin_name for i in impls]}
        container = kwargs.get("container")
        if container is not None:
            attributes[CONTAINER_ID] = container.id
            attributes[RUNTIME_NAME] = container.runtime
        span = tracer.start_as_current_span(f"pouch.hook.{hook_name}", attributes=attributes)
        span.__enter__()
        open_spans.append(span)

    def after(
        outcome: pluggy.Result[Any],
        hook_name: str,
        impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, Any],
    ) -> None:
        if open_spans:
            exc = outcome.exception
            open_spans.pop().__exit__(
                type(exc) if exc else None, exc, exc.__traceback__ if exc else None
            )

    pm.add_hookcall_monitoring(before, after)


def configure_sdk(exporter: str = "", endpoint: str = "", file: str = "") -> bool:
    """Install the SDK tracer provider (pouchd only). Returns whether tracing is on.

    ``exporter`` is "console", "otlp" or "" (off); the ``OTEL_TRACES_EXPORTER``
    and ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables fill in what the config leaves empty.
    ``file``: every span, as it ends, also goes to that file as a line of JSON
    (``bench/profile`` reads it).
    """
    exporter = exporter or os.environ.get("OTEL_TRACES_EXPORTER", "")
    if exporter == "none":
        exporter = ""
    if not exporter and not file:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "pouchd"}))
    if file:
        from pouch._span_file import SpanFile

        provider.add_span_processor(SimpleSpanProcessor(SpanFile(file)))
    if exporter:
        provider.add_span_processor(BatchSpanProcessor(_exporter(exporter, endpoint)))
    trace.set_tracer_provider(provider)
    return True


def _exporter(name: str, endpoint: str) -> SpanExporter:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    if name == "console":
        return ConsoleSpanExporter()
    if name != "otlp":
        raise ValueError(f"unknown traces exporter {name!r} (use console, otlp or none)")
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
            OTLPSpanExporter,
        )
    except ImportError as exc:
        raise RuntimeError(
            "OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http installed"
        ) from exc
    exporter: SpanExporter = OTLPSpanExporter(endpoint=endpoint or None)
    return exporter
