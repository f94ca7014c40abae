"""AI backend calls are client spans of the propose span; their trace is carried unrecorded too."""

from __future__ import annotations

import json
import uuid

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags

from aval.service.ai.backends import SPAN_NAME, Backends
from tests.openai_server import OpenAIServer

from .conftest import EGRESS, _config, _request


def _tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _client_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    [span] = [s for s in exporter.get_finished_spans() if s.name == SPAN_NAME]
    return span


async def test_the_call_is_a_client_span_of_the_propose_span_and_its_trace_continues(
    server: OpenAIServer,
) -> None:
    provider, exporter = _tracing()
    backends = Backends(egress=EGRESS, tracer_provider=provider)
    try:
        with provider.get_tracer("test").start_as_current_span(
            "Propose", kind=SpanKind.SERVER
        ) as parent:
            outcome = await backends.suggest(_config(server.url), _request("good+v1"))
    finally:
        await backends.aclose()
    assert outcome.status == "SUGGESTED"
    span = _client_span(exporter)
    assert span.kind is SpanKind.CLIENT
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert span.context is not None
    assert span.context.trace_id == parent.get_span_context().trace_id
    attributes = dict(span.attributes or {})
    assert attributes["aval.ai_system"] == "classifieur"
    assert attributes["aval.model_version"] == "good+v1"
    assert attributes["aval.ai.status"] == "SUGGESTED"
    assert attributes["aval.ai.attempts"] == 1
    assert attributes["gen_ai.usage.input_tokens"] == outcome.input_tokens
    assert attributes["gen_ai.usage.output_tokens"] == outcome.output_tokens
    assert "texte" not in json.dumps(attributes)  # the case's data stays out of traces
    [sent] = server.chat_requests()
    _version, trace_id, span_id, _flags = sent.headers["traceparent"].split("-")
    assert int(trace_id, 16) == span.context.trace_id
    assert int(span_id, 16) == span.context.span_id  # the AI system's spans hang under it


async def test_a_failed_call_marks_its_span_as_an_error(server: OpenAIServer) -> None:
    provider, exporter = _tracing()
    backends = Backends(egress=EGRESS, tracer_provider=provider)
    try:
        await backends.suggest(_config(server.url, "garbage"), _request())
    finally:
        await backends.aclose()
    span = _client_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["aval.ai.status"] == "INVALID_OUTPUT"


async def test_the_trace_id_is_carried_even_when_spans_are_not_recorded(
    server: OpenAIServer, backends: Backends
) -> None:
    """As in the server without an exporter: the current span is the caller's, unrecorded."""
    trace_id = uuid.uuid4().int
    caller = SpanContext(trace_id, 0x1234, is_remote=True, trace_flags=TraceFlags(0))
    context = trace.set_span_in_context(NonRecordingSpan(caller))
    token = otel_context.attach(context)
    try:
        await backends.suggest(_config(server.url), _request())
    finally:
        otel_context.detach(token)
    [sent] = server.chat_requests()
    assert sent.headers["traceparent"].split("-")[1] == format(trace_id, "032x")
