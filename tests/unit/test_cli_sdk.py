"""The SDK against an in-process fake gateway: what it sends, what it returns, what it raises."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2, json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

from aval.clients import (
    AsyncClient,
    Client,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)
from aval.clients.sdk import admin_calls as _admin_calls
from aval.clients.sdk import audit_calls as _audit_calls
from aval.clients.sdk import calls as _calls
from aval.clients.sdk import case_calls as _case_calls
from aval.clients.sdk import journal_calls as _journal_calls
from aval.clients.sdk import people_calls as _people_calls
from aval.clients.sdk import reviewer_calls as _reviewer_calls
from aval.clients.sdk import webhook_calls as _webhook_calls
from aval.v1 import (
    admin_pb2,
    audit_pb2,
    common_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
    journal_pb2,
    people_pb2,
    review_pb2,
    review_pb2_grpc,
)

PENDING = common_pb2.DECISION_STATE_PENDING_REVIEW
APPROVED = common_pb2.DECISION_STATE_APPROVED


def abort(context: grpc.ServicerContext, code: int, message: str, reason: str) -> None:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="aval.v1"))
    status = status_pb2.Status(code=code, message=message, details=[info])
    context.abort_with_status(rpc_status.to_status(status))


class FakeGateway(gateway_pb2_grpc.GatewayServicer, review_pb2_grpc.ReviewServicer):
    """Records what it receives; decision "missing" does not exist, "stuck" never ends."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.tokens: list[str | None] = []

    def _record(self, request: Any, context: grpc.ServicerContext) -> None:
        self.requests.append(request)
        token = dict(context.invocation_metadata()).get("authorization")
        self.tokens.append(token if isinstance(token, str) else None)

    def Propose(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record(request, context)
        decision = common_pb2.Decision(id="D1", state=PENDING, input=request.input)
        return gateway_pb2.ProposeResponse(decision=decision)

    def GetDecision(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record(request, context)
        if request.decision_id == "missing":
            abort(context, code_pb2.NOT_FOUND, "no decision missing", "DECISION_NOT_FOUND")
        return gateway_pb2.GetDecisionResponse(
            decision=common_pb2.Decision(id=request.decision_id, state=APPROVED)
        )

    def WatchDecision(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        self._record(request, context)
        yield gateway_pb2.WatchDecisionResponse(
            decision=common_pb2.Decision(id=request.decision_id, state=PENDING, version=1)
        )
        if request.decision_id != "stuck":
            decision = common_pb2.Decision(id=request.decision_id, state=APPROVED, version=2)
            yield gateway_pb2.WatchDecisionResponse(decision=decision)

    def ListQueue(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record(request, context)
        return review_pb2.ListQueueResponse(next_page_token="p2")

    def Claim(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record(request, context)
        return review_pb2.ClaimResponse(decision=common_pb2.Decision(id=request.decision_id))

    def Release(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record(request, context)
        return review_pb2.ReleaseResponse(decision=common_pb2.Decision(id=request.decision_id))

    def Decide(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record(request, context)
        if request.justification == "mine":
            abort(context, code_pb2.PERMISSION_DENIED, "own proposal", "SEPARATION_OF_DUTIES")
        return review_pb2.DecideResponse(decision=common_pb2.Decision(id=request.decision_id))


@pytest.fixture
def fake() -> Iterator[tuple[FakeGateway, str]]:
    servicer = FakeGateway()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    gateway_pb2_grpc.add_GatewayServicer_to_server(servicer, server)
    review_pb2_grpc.add_ReviewServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(None)


def test_propose_sends_the_token_the_structs_and_a_fresh_idempotency_key(
    fake: tuple[FakeGateway, str],
) -> None:
    servicer, address = fake
    with Client(address, "secret") as client:
        for _ in range(2):
            response = client.propose(
                decision_type="orientation_courrier",
                subject_ref="dossier-42",
                input={"objet": "nid-de-poule", "rue": 12},
                suggestion={"service": "voirie"},
                confidence=0.9,
                model="mistral-small@3.1",
                explanation="mots-clés voirie",
            )
    assert response.decision.id == "D1"
    first, second = servicer.requests
    assert servicer.tokens == ["Bearer secret", "Bearer secret"]
    assert json_format.MessageToDict(first.input) == {"objet": "nid-de-poule", "rue": 12}
    suggestion = first.attested_suggestion
    assert json_format.MessageToDict(suggestion.output) == {"service": "voirie"}
    assert (suggestion.confidence, suggestion.model.name, suggestion.model.version) == (
        0.9,
        "mistral-small",
        "3.1",
    )
    assert uuid.UUID(first.idempotency_key) != uuid.UUID(second.idempotency_key)


def test_without_suggestion_none_is_attested_and_a_given_key_is_kept(
    fake: tuple[FakeGateway, str],
) -> None:
    servicer, address = fake
    with Client(address, None) as client:
        client.propose(decision_type="t", subject_ref="s", input={}, idempotency_key="k-1")
    (request,) = servicer.requests
    assert not request.HasField("attested_suggestion")
    assert (request.idempotency_key, servicer.tokens) == ("k-1", [None])


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"suggestion": {"a": 1}, "model": "mistral-small"}, "model"),
        ({"confidence": 0.5}, "suggestion"),
        ({"input": {"when": object()}}, "input"),
    ],
)
def test_a_malformed_proposal_is_refused_before_it_is_sent(
    fake: tuple[FakeGateway, str], arguments: dict[str, Any], field: str
) -> None:
    servicer, address = fake
    call: dict[str, Any] = {"decision_type": "t", "subject_ref": "s", "input": {}} | arguments
    with Client(address, "secret") as client, pytest.raises(InvalidArgumentError) as refused:
        client.propose(**call)
    assert [v.field for v in refused.value.violations] == [field]
    assert servicer.requests == []


def test_refusals_arrive_as_typed_errors_with_their_reason(fake: tuple[FakeGateway, str]) -> None:
    _, address = fake
    with Client(address, "secret") as client:
        with pytest.raises(NotFoundError) as missing:
            client.get_decision("missing")
        with pytest.raises(PermissionDeniedError) as denied:
            client.decide("D1", verdict="approve", justification="mine")
    assert (missing.value.message, missing.value.reason) == (
        "no decision missing",
        "DECISION_NOT_FOUND",
    )
    assert denied.value.reason == "SEPARATION_OF_DUTIES"


def test_decide_claim_and_queue_send_what_the_contract_expects(
    fake: tuple[FakeGateway, str],
) -> None:
    servicer, address = fake
    with Client(address, "secret") as client:
        client.decide("D1", verdict="amend", amended_output={"service": "propreté"}, language="en")
        client.claim("D1", lease_seconds=90.5)
        client.claim("D1")
        page = client.list_queue(decision_type="t", actionable_only=True, page_size=5)
        released = client.release("D1")
        client.list_queue(claimed_by_me=True, deadline_before=datetime(2026, 3, 1, tzinfo=UTC))
    decide, claim, default_claim, queue, release, filtered = servicer.requests
    assert (decide.verdict, decide.language) == (common_pb2.VERDICT_AMEND, "en")
    assert json_format.MessageToDict(decide.amended_output) == {"service": "propreté"}
    assert (claim.lease.seconds, claim.lease.nanos) == (90, 500_000_000)
    assert not default_claim.HasField("lease")
    assert (queue.decision_type, queue.actionable_only, queue.page_size) == ("t", True, 5)
    assert page.next_page_token == "p2"
    assert (release.decision_id, released.id) == ("D1", "D1")
    assert not queue.claimed_by_me and not queue.HasField("deadline_before")
    assert filtered.claimed_by_me
    assert filtered.deadline_before.ToDatetime(tzinfo=UTC) == datetime(2026, 3, 1, tzinfo=UTC)


def test_wait_for_outcome_follows_the_watch_to_the_final_state(
    fake: tuple[FakeGateway, str],
) -> None:
    _, address = fake
    with Client(address, "secret") as client:
        versions = [d.version for d in client.watch_decision("D1")]
        final = client.wait_for_outcome("D1")
        with pytest.raises(UnavailableError):
            client.wait_for_outcome("stuck")
    assert versions == [1, 2]
    assert (final.state, final.version) == (APPROVED, 2)


async def test_the_async_client_offers_the_same_calls(fake: tuple[FakeGateway, str]) -> None:
    servicer, address = fake
    async with AsyncClient(address, "secret") as client:
        proposed = await client.propose(decision_type="t", subject_ref="s", input={"a": 1})
        final = await client.wait_for_outcome(proposed.decision.id)
        with pytest.raises(NotFoundError):
            await client.get_decision("missing")
    assert final.state == APPROVED
    assert servicer.tokens[0] == "Bearer secret"


def test_every_call_names_an_rpc_of_the_contract() -> None:
    services = {
        "gateway": gateway_pb2.DESCRIPTOR.services_by_name["Gateway"],
        "review": review_pb2.DESCRIPTOR.services_by_name["Review"],
        "audit": audit_pb2.DESCRIPTOR.services_by_name["Audit"],
        "admin": admin_pb2.DESCRIPTOR.services_by_name["Admin"],
        "journal": journal_pb2.DESCRIPTOR.services_by_name["AccessJournal"],
        "people": people_pb2.DESCRIPTOR.services_by_name["People"],
    }
    calls: list[_calls.UnaryCall[Any]] = [
        _calls.propose(decision_type="t", subject_ref="s", input={}),
        _calls.get_decision("D1"),
        _calls.list_queue(),
        _calls.claim("D1"),
        _calls.release("D1"),
        _calls.decide("D1", verdict="reject"),
        _audit_calls.query_events(),
        _audit_calls.explain_decision("D1", audience="citizen"),
        _audit_calls.verify_chain(),
        _audit_calls.create_checkpoint(),
        _audit_calls.list_checkpoints(),
        _audit_calls.prove_inclusion(seq=1),
        _audit_calls.prove_consistency(old_size=1),
        _audit_calls.get_stats(),
        _admin_calls.register_ai_system("s", kind="advisor", endpoint="h:1", reason="r"),
        _admin_calls.list_ai_systems(),
        _admin_calls.register_model_version("s", "1", intended_purpose="p"),
        _admin_calls.request_pin("s", "1", reason="r"),
        _admin_calls.decide_pin("P1", approve=True, reason="r"),
        _admin_calls.list_pin_requests(),
        _admin_calls.set_shadow("s", None, reason="r"),
        _admin_calls.stop_ai("tenant", reason="r"),
        _admin_calls.resume_ai("ai_system", "s", reason="r"),
        _admin_calls.list_stops(),
        _admin_calls.evaluate("s"),
        _admin_calls.get_usage(),
        _webhook_calls.list_webhook_deliveries(),
        _reviewer_calls.set_reviewer_qualification(
            "sup-a1",
            decision_type="*",
            trained_on="2026-01-01",
            delegated_by="Maire",
            valid_from="2026-01-02",
            valid_until="2026-12-31",
            reason="r",
        ),
        _reviewer_calls.revoke_reviewer_qualification("Q1", reason="r"),
        _reviewer_calls.list_reviewer_qualifications(),
        _reviewer_calls.reload_configuration(reason="r"),
        _journal_calls.query_access_journal(),
        _people_calls.resolve_people(["oidc:idp:1"]),
        _people_calls.whoami(),
        _case_calls.get_case("D1"),
        _case_calls.record_view("D1", verdict="approve"),
    ]
    unary = {
        (name, method.name)
        for name, service in services.items()
        for method in service.methods
        if not method.server_streaming
    }
    assert {(call.service, call.method) for call in calls} == unary
    for call in calls:
        method = services[call.service].methods_by_name[call.method]
        assert call.request.DESCRIPTOR is method.input_type
