"""OpenTelemetry: traces for every RPC and SQL statement, exporters from the OTEL_* variables."""

from __future__ import annotations

import logging
import os

from opentelemetry import trace

log = logging.getLogger(__name__)


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
    PsycopgInstrumentor().instrument(enable_commenter=False)


def server_interceptors() -> list[object]:
    """The OpenTelemetry server interceptor: one span per RPC, continuing the caller's trace."""
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor()]  # type: ignore[no-untyped-call]
