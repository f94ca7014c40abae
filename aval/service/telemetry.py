"""OpenTelemetry: traces for every RPC and SQL statement, exporters from the OTEL_* variables."""

from __future__ import annotations

import contextvars
import logging
import os
import random
from collections.abc import Iterable

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

log = logging.getLogger(__name__)

# Whether spans are exported (set by configure_tracing). When they are not, the server skips
# the OpenTelemetry interceptor and psycopg instrumentation, whose spans nobody would read, and
# `enter_call` only continues the caller's trace context so that its trace id reaches the trail.
_exporting = False


def current_trace_id() -> str:
    """The W3C trace id (32 hex digits) of the current span, or "" outside any trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def configure_tracing() -> None:
    """Installs a tracer provider and instruments psycopg.

    Trace ids exist even without an exporter (they are stored in audit events). Spans are
    exported over OTLP when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set, to the console with
    OTEL_TRACES_EXPORTER=console, and nowhere with OTEL_TRACES_EXPORTER=none.
    """
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "aval")})
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    exporting = exporter_name == "console" or (exporter_name == "otlp" and bool(endpoint))
    sampler = None  # the SDK's default, or OTEL_TRACES_SAMPLER
    if not exporting and "OTEL_TRACES_SAMPLER" not in os.environ:
        # Spans nobody exports are not recorded; they still carry a trace id, continued from
        # the caller's context, for the audit events.
        sampler = ParentBased(ALWAYS_OFF)
    provider = TracerProvider(resource=resource, sampler=sampler)
    if exporter_name == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter_name == "otlp" and endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        log.info("exporting traces over OTLP to %s", endpoint)
    trace.set_tracer_provider(provider)
    global _exporting
    _exporting = sampler is None
    if _exporting:
        PsycopgInstrumentor().instrument(enable_commenter=False)


def server_interceptors() -> list[object]:
    """The OpenTelemetry server interceptor (one span per RPC, continuing the caller's trace)
    when spans are recorded; none otherwise (see `enter_call`)."""
    if not _exporting:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor()]  # type: ignore[no-untyped-call]


def enter_call(
    metadata: Iterable[tuple[str, str | bytes]],
) -> contextvars.Token[otel_context.Context] | None:
    """Continues the caller's W3C trace context for one RPC when no interceptor does.

    The current span becomes the caller's (remote, not recorded), or a new unsampled trace of
    its own when the call carries none, as the SDK would start it. Returns the token to give
    `leave_call`, or None when the interceptor already did this.
    """
    if _exporting:
        return None
    carrier = {key: value for key, value in metadata if isinstance(value, str)}
    parent = trace.INVALID_SPAN_CONTEXT
    if "traceparent" in carrier:  # the W3C header; without it there is nothing to continue
        parent = trace.get_current_span(propagate.extract(carrier)).get_span_context()
    if not parent.is_valid:
        parent = SpanContext(
            trace_id=random.getrandbits(128) or 1,
            span_id=random.getrandbits(64) or 1,
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.DEFAULT),
        )
    return otel_context.attach(trace.set_span_in_context(NonRecordingSpan(parent)))


def leave_call(token: contextvars.Token[otel_context.Context] | None) -> None:
    if token is not None:
        otel_context.detach(token)
