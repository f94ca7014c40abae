"""AI suggestions are held, released only after approval, recorded for shadows, and flagged when
invalid."""

from __future__ import annotations

import secrets
import uuid

import pytest
from google.protobuf import json_format

from aval.clients.sdk.errors import FailedPreconditionError
from aval.v1 import common_pb2, gateway_pb2
from tests.openai_server import OpenAIServer
from tests.support import token_of

from ..conftest import ClientOf
from ..helpers import APPROVED, PENDING, Raw
from .conftest import SUGGESTED, VersionedAdvisor, consulted, output, pin, propose

pytestmark = pytest.mark.e2e


def test_the_ai_suggestion_is_held_with_its_limits_and_released_only_after_approval(
    client_of: ClientOf, advisor_system: str
) -> None:
    decision = propose(client_of("app-a"), "signalement.ia")
    assert decision.state == PENDING and decision.advice_status == SUGGESTED
    assert output(decision) == {"service": "voirie"}
    assert decision.suggestion.model.name == advisor_system
    assert decision.suggestion.model.version == "v1"
    assert list(decision.suggestion.known_limits) == ["v1 : ne lit pas les photos"]
    assert [f.name for f in decision.suggestion.factors] == ["mot « trou »"]
    assert not decision.HasField("outcome")
    # The supervisor sees the same, with the flag and the limits, in the queue.
    [queued] = [
        d
        for d in client_of("sup-a1")
        .list_queue(decision_type="signalement.ia", page_size=500)
        .decisions
        if d.id == decision.id
    ]
    assert queued.advice_status == SUGGESTED and queued.suggestion.known_limits
    [call] = consulted(client_of, decision.id)
    assert (call["role"], call["status"], call["model_version"]) == ("PRIMARY", "SUGGESTED", "v1")
    final = client_of("sup-a1").decide(decision.id, verdict="approve")
    assert final.state == APPROVED
    assert json_format.MessageToDict(final.outcome) == {"service": "voirie"}
    citizen = client_of("insp-a").explain_decision(decision.id, audience="citizen")
    assert "mot « trou »" in citizen.text and "contribution +1,50" in citizen.text


def test_a_retry_does_not_ask_the_ai_again(
    client_of: ClientOf, advisor: tuple[VersionedAdvisor, str], advisor_system: str
) -> None:
    servicer, _ = advisor
    key = str(uuid.uuid4())
    before = len(servicer.calls)
    first = propose(client_of("app-a"), "signalement.ia", idempotency_key=key, subject_ref="u:1")
    again = client_of("app-a").propose(
        decision_type="signalement.ia",
        subject_ref="u:1",
        input={"description": "un trou dans la chaussée devant l'école"},
        idempotency_key=key,
    )
    assert again.replayed and again.decision.id == first.id
    assert len(servicer.calls) == before + 1


def test_a_shadow_version_is_recorded_but_never_shown_nor_released(
    client_of: ClientOf, advisor: tuple[VersionedAdvisor, str], advisor_system: str
) -> None:
    admin = client_of("admin-a")
    admin.set_shadow(advisor_system, "v2", reason="évaluer v2")
    try:
        decision = propose(client_of("app-a"), "signalement.ia")
    finally:
        admin.set_shadow(advisor_system, None, reason="fin de l'essai")
    assert output(decision) == {"service": "voirie"}  # v1's, the pinned version
    calls = {c["role"]: c for c in consulted(client_of, decision.id)}
    assert calls["SHADOW"]["model_version"] == "v2"
    assert calls["SHADOW"]["output"] == {"service": "proprete"}  # in the trail, for inspectors
    for principal in ("sup-a1", "app-a"):  # what reviewers and the application can read
        seen = client_of(principal).get_decision(decision.id)
        assert "proprete" not in str(seen)
    final = client_of("sup-a1").decide(decision.id, verdict="approve")
    assert json_format.MessageToDict(final.outcome) == {"service": "voirie"}
    versions = {v.model_version: v for v in admin.evaluate(advisor_system).versions}
    assert versions["v2"].decided >= 1 and versions["v2"].agreed == 0
    assert versions["v1"].agreed >= 1


def test_an_answer_outside_the_schema_is_flagged_and_a_human_decides_alone(
    client_of: ClientOf, advisor_system: str
) -> None:
    pin(client_of, advisor_system, "bad")
    try:
        decision = propose(client_of("app-a"), "signalement.ia")
    finally:
        pin(client_of, advisor_system, "v1")
    assert decision.advice_status == common_pb2.ADVICE_STATUS_INVALID_OUTPUT
    assert not decision.HasField("suggestion") and decision.advice_detail
    supervisor = client_of("sup-a1")
    with pytest.raises(FailedPreconditionError):  # nothing valid to approve
        supervisor.decide(decision.id, verdict="approve")
    final = supervisor.decide(
        decision.id, verdict="amend", justification="voirie", amended_output={"service": "voirie"}
    )
    assert final.state == common_pb2.DECISION_STATE_AMENDED


def test_an_openai_compatible_backend_suggests_and_its_usage_is_counted(
    client_of: ClientOf, llm: OpenAIServer, llm_system: str, raw: Raw
) -> None:
    trace_id = secrets.token_hex(16)
    request = gateway_pb2.ProposeRequest(
        decision_type="signalement.llm",
        subject_ref="usager:llm",
        idempotency_key=str(uuid.uuid4()),
    )
    request.input.update({"description": "un lampadaire éteint, service eclairage"})
    metadata = [
        ("authorization", f"Bearer {token_of('app-a')}"),
        ("traceparent", f"00-{trace_id}-{secrets.token_hex(8)}-01"),
    ]
    decision = raw.gateway.Propose(request, metadata=metadata, timeout=20).decision
    assert decision.advice_status == SUGGESTED, decision.advice_detail
    assert output(decision) == {"service": "eclairage"}
    asked = [r for r in llm.requests if r.path.endswith("/chat/completions")][-1]
    assert asked.body["model"] == "good"
    assert asked.body["response_format"]["type"] == "json_schema"
    assert trace_id in asked.headers["traceparent"]  # the application's trace continues
    [call] = consulted(client_of, decision.id)
    assert call["input_tokens"] > 0 and call["energy_mwh"] >= 0
    rows = client_of("admin-a").get_usage().rows
    [row] = [r for r in rows if r.ai_system == llm_system and r.model_version == "good"]
    assert row.calls >= 1 and row.input_tokens > 0 and row.cost_micro_eur > 0


def test_a_backend_that_keeps_failing_leaves_no_suggestion_and_loses_no_proposal(
    client_of: ClientOf, llm: OpenAIServer, llm_system: str
) -> None:
    pin(client_of, llm_system, "fail-503")
    try:
        before = len(llm.requests)
        decision = propose(client_of("app-a"), "signalement.llm")
    finally:
        pin(client_of, llm_system, "good")
    assert decision.advice_status == common_pb2.ADVICE_STATUS_UNAVAILABLE
    assert decision.state == PENDING and not decision.HasField("suggestion")
    assert len(llm.requests) - before == 2  # max_attempts
    [call] = consulted(client_of, decision.id)
    assert (call["status"], call["attempts"]) == ("UNAVAILABLE", 2)


def test_garbage_from_the_backend_is_invalid_output(
    client_of: ClientOf, llm: OpenAIServer, llm_system: str
) -> None:
    pin(client_of, llm_system, "garbage")
    try:
        decision = propose(client_of("app-a"), "signalement.llm")
    finally:
        pin(client_of, llm_system, "good")
    assert decision.advice_status == common_pb2.ADVICE_STATUS_INVALID_OUTPUT
    assert not decision.HasField("suggestion")
