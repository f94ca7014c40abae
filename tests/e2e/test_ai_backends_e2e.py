"""AI systems behind the gateway, through the real server process (issue 4): a gRPC Advisor and
an OpenAI-compatible server on loopback, the registry's pinned and shadow versions, the kill
switch across two replicas, high-risk types, and the flags reviewers see when the AI fails.

The AI only ever reaches a citizen through a human (I1): every test checks that a suggestion is
released only after an approval, and that a shadow's never is.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from aval.clients import Client
from aval.clients.sdk.errors import FailedPreconditionError
from aval.v1 import advisor_pb2, advisor_pb2_grpc, common_pb2, gateway_pb2
from tests.openai_server import OpenAIServer
from tests.support import ServerProcess, token_of

from .conftest import ClientOf
from .helpers import APPROVED, PENDING, Raw, all_events

pytestmark = pytest.mark.e2e

SUGGESTED = common_pb2.ADVICE_STATUS_SUGGESTED
# What each version of the test advisor suggests.
ANSWERS = {"v1": "voirie", "v2": "proprete"}


class VersionedAdvisor(advisor_pb2_grpc.AdvisorServicer):
    """A real Advisor whose answer depends on the version asked; counts the calls it gets."""

    def __init__(self) -> None:
        self.calls: list[advisor_pb2.SuggestRequest] = []

    def Suggest(
        self, request: advisor_pb2.SuggestRequest, context: grpc.ServicerContext
    ) -> advisor_pb2.SuggestResponse:
        self.calls.append(request)
        version = request.model_version or "v1"
        reply = advisor_pb2.SuggestResponse(
            confidence=0.8,
            model_version=version,
            explanation=advisor_pb2.Explanation(
                summary=f"service suggéré : {ANSWERS.get(version, 'autre')}",
                factors=[advisor_pb2.Factor(name="mot « trou »", weight=1.5, value="1")],
                sources=["texte du signalement"],
            ),
        )
        # "bad" answers outside the decision type's schema.
        reply.suggestion.update({"service": ANSWERS.get(version, "autre")})
        return reply


@pytest.fixture(scope="module")
def advisor() -> Iterator[tuple[VersionedAdvisor, str]]:
    servicer = VersionedAdvisor()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    advisor_pb2_grpc.add_AdvisorServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.fixture(scope="module")
def llm() -> Iterator[OpenAIServer]:
    """The loopback OpenAI-compatible server, served by an event loop of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = OpenAIServer()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    yield server
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def pin(client_of: ClientOf, system: str, version: str) -> None:
    """Four eyes: admin-a asks, admin-a2 approves."""
    request = client_of("admin-a").request_pin(system, version, reason="mise en service")
    client_of("admin-a2").decide_pin(request.id, approve=True, reason="vérifié")


def register(
    client_of: ClientOf, name: str, kind: str, endpoint: str, versions: list[str], **extra: Any
) -> None:
    admin = client_of("admin-a")
    admin.register_ai_system(name, kind=kind, endpoint=endpoint, reason="essai", **extra)
    for version in versions:
        admin.register_model_version(
            name,
            version,
            intended_purpose="orienter les signalements",
            known_limits=[f"{version} : ne lit pas les photos"],
            metrics={"accuracy": 0.9},
        )


@pytest.fixture(scope="module")
def advisor_system(client_of: ClientOf, advisor: tuple[VersionedAdvisor, str]) -> str:
    register(client_of, "ia-advisor", "advisor", advisor[1], ["v1", "v2", "bad"])
    pin(client_of, "ia-advisor", "v1")
    return "ia-advisor"


@pytest.fixture(scope="module")
def llm_system(client_of: ClientOf, llm: OpenAIServer) -> str:
    register(
        client_of,
        "ia-llm",
        "openai",
        llm.url,
        ["good", "garbage", "fail-503"],
        model="good",
        timeout_seconds=5,
        max_attempts=2,
        energy_mwh_per_1k_tokens=300,
        cost_micro_eur_per_1k_tokens=2000,
    )
    pin(client_of, "ia-llm", "good")
    return "ia-llm"


def propose(client: Client, decision_type: str, **changes: Any) -> common_pb2.Decision:
    kwargs: dict[str, Any] = {
        "decision_type": decision_type,
        "subject_ref": f"usager:{uuid.uuid4().hex[:8]}",
        "input": {"description": "un trou dans la chaussée devant l'école"},
        "idempotency_key": str(uuid.uuid4()),
    }
    kwargs.update(changes)
    reply = client.propose(**kwargs)
    return reply.decision  # type: ignore[no-any-return]


def consulted(client_of: ClientOf, decision_id: str) -> list[dict[str, Any]]:
    events = all_events(client_of("insp-a"), decision_id=decision_id, kind="ai.consulted")
    return [json_format.MessageToDict(e.data) for e in events]


def output(decision: common_pb2.Decision) -> dict[str, Any]:
    return json_format.MessageToDict(decision.suggestion.output)


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


@pytest.fixture(scope="module")
def replica(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess.start(
        database_url, tmp_path_factory.mktemp("e2e-ai-replica"), name="ai-replica"
    )
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def on_replica(replica: ServerProcess) -> Iterator[Callable[[str], Client]]:
    clients: dict[str, Client] = {}

    def get(principal: str) -> Client:
        if principal not in clients:
            clients[principal] = Client(replica.address, token_of(principal), timeout=20)
        return clients[principal]

    yield get
    for client in clients.values():
        client.close()


@pytest.mark.parametrize(
    ("scope", "target"),
    [("ai_system", "ia-advisor"), ("decision_type", "signalement.ia"), ("tenant", "")],
)
def test_the_kill_switch_takes_effect_on_every_replica_within_a_second(
    client_of: ClientOf,
    on_replica: Callable[[str], Client],
    advisor: tuple[VersionedAdvisor, str],
    advisor_system: str,
    scope: str,
    target: str,
) -> None:
    servicer, _ = advisor
    client_of("admin-a").stop_ai(scope, target, reason="réponses incohérentes")  # type: ignore[arg-type]
    stopped_at = time.monotonic()
    try:
        before = len(servicer.calls)
        decision = propose(on_replica("app-a"), "signalement.ia")
        assert time.monotonic() - stopped_at < 1.0
        assert decision.advice_status == common_pb2.ADVICE_STATUS_STOPPED
        assert decision.advice_reason == "AI_STOPPED"
        assert "arrêt d'urgence" in decision.advice_detail
        assert "réponses incohérentes" in decision.advice_detail
        assert decision.state == PENDING  # still accepted, for a human
        assert len(servicer.calls) == before  # no call reached the AI
    finally:
        on_replica("admin-a2").resume_ai(scope, target, reason="corrigé")  # type: ignore[arg-type]
    assert propose(client_of("app-a"), "signalement.ia").advice_status == SUGGESTED
    kinds = [e.kind for e in all_events(client_of("insp-a"), kind="admin.ai_stopped")]
    assert kinds


def test_a_high_risk_type_uses_only_a_registered_pinned_model(
    client_of: ClientOf, advisor: tuple[VersionedAdvisor, str]
) -> None:
    app = client_of("app-a")
    unregistered = propose(app, "permis.risque")
    assert unregistered.advice_status == common_pb2.ADVICE_STATUS_STOPPED
    assert "n'est pas enregistré" in unregistered.advice_detail  # French for agents
    in_english = app.get_decision(unregistered.id, language="en")
    assert "is not registered" in in_english.advice_detail
    register(client_of, "ia-permis", "advisor", advisor[1], ["v1"])
    unpinned = propose(app, "permis.risque")
    assert unpinned.advice_status == common_pb2.ADVICE_STATUS_STOPPED
    assert "pas de version épinglée" in unpinned.advice_detail
    attested = {"suggestion": {"service": "voirie"}, "confidence": 0.7}
    with pytest.raises(FailedPreconditionError) as not_pinned:
        propose(app, "permis.risque", model="ia-permis@v1", **attested)
    assert not_pinned.value.reason == "HIGH_RISK_MODEL_NOT_PINNED"
    with pytest.raises(FailedPreconditionError) as other:
        propose(app, "permis.risque", model="mon-modele@1", **attested)
    assert other.value.reason == "HIGH_RISK_MODEL_NOT_REGISTERED"
    pin(client_of, "ia-permis", "v1")
    assert propose(app, "permis.risque").advice_status == SUGGESTED
    ok = propose(app, "permis.risque", model="ia-permis@v1", **attested)
    assert ok.advice_status == common_pb2.ADVICE_STATUS_ATTESTED


def test_a_slow_backend_times_out_and_the_proposal_still_queues(
    client_of: ClientOf, llm: OpenAIServer, llm_system: str
) -> None:
    admin = client_of("admin-a")
    admin.register_model_version(llm_system, "slow-3", intended_purpose="lent")
    admin.register_ai_system(
        llm_system,
        kind="openai",
        endpoint=llm.url,
        model="good",
        timeout_seconds=0.5,
        max_attempts=1,
        reason="essai d'un modèle lent",
    )
    pin(client_of, llm_system, "slow-3")
    try:
        began = time.monotonic()
        decision = propose(client_of("app-a"), "signalement.llm")
        assert time.monotonic() - began < 3  # the timeout, not the backend, decided
    finally:
        pin(client_of, llm_system, "good")
        admin.register_ai_system(
            llm_system,
            kind="openai",
            endpoint=llm.url,
            model="good",
            timeout_seconds=5,
            max_attempts=2,
            reason="retour à la normale",
        )
    assert decision.advice_status == common_pb2.ADVICE_STATUS_UNAVAILABLE
    assert decision.state == PENDING and not decision.HasField("suggestion")
    [call] = consulted(client_of, decision.id)
    assert call["status"] == "UNAVAILABLE" and "within 0.5 s" in call["detail"]
