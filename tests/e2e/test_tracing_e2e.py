"""Traces: the caller's W3C trace context is continued and its trace id lands in the trail."""

from __future__ import annotations

import secrets
import uuid

from aval.v1 import common_pb2, gateway_pb2
from tests.support import token_of

from .conftest import ClientOf
from .helpers import Raw, all_events


def _propose(raw: Raw, traceparent: str | None) -> common_pb2.Decision:
    request = gateway_pb2.ProposeRequest(
        decision_type="voirie.signalement",
        subject_ref="usager:trace",
        idempotency_key=str(uuid.uuid4()),
        attested_suggestion=common_pb2.Suggestion(model=common_pb2.ModelRef(name="m")),
    )
    request.input.update({"texte": "lampadaire éteint"})
    request.attested_suggestion.output.update({"service": "eclairage"})
    metadata = [("authorization", f"Bearer {token_of('app-a')}")]
    if traceparent:
        metadata.append(("traceparent", traceparent))
    reply = raw.gateway.Propose(request, metadata=metadata, timeout=10)
    return reply.decision  # type: ignore[no-any-return]


def test_caller_trace_is_continued_into_the_trail(raw: Raw, client_of: ClientOf) -> None:
    trace_id = secrets.token_hex(16)
    decision = _propose(raw, f"00-{trace_id}-{secrets.token_hex(8)}-01")
    assert decision.trace_id == trace_id
    inspector = client_of("insp-a")
    [event] = all_events(inspector, decision_id=decision.id)
    assert (event.kind, event.trace_id) == ("decision.proposed", trace_id)


def test_a_call_without_trace_context_gets_a_trace_id_of_its_own(raw: Raw) -> None:
    first, second = _propose(raw, None), _propose(raw, None)
    for decision in (first, second):
        assert len(decision.trace_id) == 32 and int(decision.trace_id, 16) != 0
    assert first.trace_id != second.trace_id
