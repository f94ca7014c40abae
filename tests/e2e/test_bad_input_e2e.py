"""Clear refusals over gRPC (I6): the exact status and field violations, and the server stays up."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf import struct_pb2

from aval.clients import Client
from aval.clients.sdk.errors import (
    AvalError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from aval.service.runtime.server import SERVICE_NAMES
from aval.v1 import audit_pb2, gateway_pb2, review_pb2
from tests.support import ServerProcess, token_of

from .helpers import Raw, fields_of, propose_kwargs

pytestmark = pytest.mark.e2e

LIMIT = 2048
# What a refusal must never be: the gateway failing on its own instead of naming the fault.
INTERNAL_FAILURES = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)


@pytest.fixture(scope="module")
def guarded(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A gateway of its own with a small payload limit; it must stop cleanly afterwards."""
    process = ServerProcess.start(
        database_url,
        tmp_path_factory.mktemp("e2e-bad-input"),
        name="guarded",
        extra_env={"AVAL_MAX_PAYLOAD_BYTES": str(LIMIT)},
    )
    yield process
    status = process.stop()
    assert status == 0, f"exit status {status} on SIGTERM:\n{process.log_path.read_text()}"


@pytest.fixture(autouse=True)
def _the_gateway_stays_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used the guarded gateway: still running, no failure in its log.

    Each test checks this for itself, so that it holds whichever tests run, alone or together.
    """
    if "guarded" not in request.fixturenames:
        yield
        return
    guarded: ServerProcess = request.getfixturevalue("guarded")
    start = len(guarded.log_path.read_text())
    yield
    assert guarded.process.poll() is None, "the gateway died"
    log = guarded.log_path.read_text()[start:]
    assert "Traceback" not in log and "Unexpected" not in log, log[-3000:]


@pytest.fixture(scope="module")
def stubs(guarded: ServerProcess) -> Iterator[Raw]:
    raw = Raw(guarded.address)
    yield raw
    raw.close()


@pytest.fixture(scope="module")
def as_(guarded: ServerProcess) -> Iterator[Callable[[str | None], Client]]:
    """`as_("app-a")`: an SDK client of the guarded gateway; `as_(None)` sends no token."""
    clients: dict[str | None, Client] = {}

    def get(principal: str | None) -> Client:
        if principal not in clients:
            token = token_of(principal) if principal else None
            clients[principal] = Client(guarded.address, token, timeout=10)
        return clients[principal]

    yield get
    for client in clients.values():
        client.close()


def refused(expected: type[AvalError], call: Callable[[], Any]) -> AvalError:
    """Runs `call`, which the gateway must refuse with exactly the error type `expected`."""
    with pytest.raises(AvalError) as caught:
        call()
    error = caught.value
    assert error.code not in INTERNAL_FAILURES, f"the gateway failed: {error}"
    assert type(error) is expected, f"{error.code.name} {type(error).__name__}: {error}"
    return error


def invalid(call: Callable[[], Any]) -> list[str]:
    """The field names of the INVALID_ARGUMENT refusal of `call`."""
    return fields_of(refused(InvalidArgumentError, call))


def test_missing_fields_are_named(stubs: Raw) -> None:
    assert invalid(
        lambda: stubs.call(stubs.gateway.Propose, gateway_pb2.ProposeRequest(), "app-a")
    ) == ["decision_type", "idempotency_key", "input", "subject_ref"]
    empty_input = gateway_pb2.ProposeRequest(
        decision_type="voirie.signalement", subject_ref="usager:1", idempotency_key="k"
    )
    empty_input.input.SetInParent()
    assert invalid(lambda: stubs.call(stubs.gateway.Propose, empty_input, "app-a")) == ["input"]
    assert invalid(
        lambda: stubs.call(stubs.review.Decide, review_pb2.DecideRequest(), "sup-a1")
    ) == ["decision_id", "verdict"]
    for rpc, request, who in [
        (stubs.gateway.GetDecision, gateway_pb2.GetDecisionRequest(), "app-a"),
        (stubs.review.Claim, review_pb2.ClaimRequest(), "sup-a1"),
        (stubs.audit.ExplainDecision, audit_pb2.ExplainDecisionRequest(), "insp-a"),
    ]:
        assert invalid(lambda rpc=rpc, request=request, who=who: stubs.call(rpc, request, who)) == [
            "decision_id"
        ]
    watch = gateway_pb2.WatchDecisionRequest()
    assert invalid(
        lambda: stubs.call(stubs.gateway.WatchDecision, watch, "app-a", stream=True)
    ) == ["decision_id"]


def test_malformed_decision_id(as_: Callable[[str | None], Client]) -> None:
    app, sup, insp = as_("app-a"), as_("sup-a1"), as_("insp-a")
    calls: list[Callable[[str], Any]] = [
        app.get_decision,
        lambda bad: list(app.watch_decision(bad, timeout=10)),
        sup.claim,
        lambda bad: sup.decide(bad, verdict="approve"),
        insp.explain_decision,
        lambda bad: insp.query_events(decision_id=bad),
    ]
    for bad in ("not-a-uuid", "42", "'; DROP TABLE decisions; --"):
        for call in calls:
            assert invalid(functools.partial(call, bad)) == ["decision_id"], (call, bad)
    # Well-formed but unknown is another matter.
    refused(NotFoundError, lambda: app.get_decision(str(uuid.uuid4())))


def test_unknown_tenant(as_: Callable[[str | None], Client]) -> None:
    """Refused like a tenant that exists but is not granted, so that none can be listed (I5);
    tests/e2e/security_identity/test_tenants_e2e.py covers every RPC."""
    app, insp = as_("app-a"), as_("insp-a")
    calls: list[Callable[[], Any]] = [
        lambda: app.propose(**propose_kwargs("voirie.signalement", tenant="ville-zz")),
        lambda: app.get_decision(str(uuid.uuid4()), tenant="ville-zz"),
        lambda: insp.verify_chain(tenant="ville-zz"),
    ]
    for call in calls:
        assert refused(PermissionDeniedError, call).reason == "NOT_GRANTED"


def test_unknown_decision_type(as_: Callable[[str | None], Client]) -> None:
    error = refused(
        InvalidArgumentError, lambda: as_("app-a").propose(**propose_kwargs("voirie.inconnue"))
    )
    assert fields_of(error) == ["decision_type"]
    assert "voirie.signalement" in error.violations[0].description  # names the known types
    # Types are per tenant: ville-b has no aides.attribution.
    assert invalid(lambda: as_("app-b").propose(**propose_kwargs("aides.attribution"))) == [
        "decision_type"
    ]


def test_payload_over_the_size_limit(as_: Callable[[str | None], Client]) -> None:
    app = as_("app-a")
    big = {"texte": "x" * (LIMIT + 100)}
    assert invalid(lambda: app.propose(**propose_kwargs("voirie.signalement", input=big))) == [
        "input"
    ]
    assert invalid(lambda: app.propose(**propose_kwargs("voirie.signalement", suggestion=big))) == [
        "attested_suggestion.output"
    ]
    assert invalid(
        lambda: app.propose(**propose_kwargs("voirie.signalement", input=big, suggestion=big))
    ) == ["attested_suggestion.output", "input"]
    # Just under the limit is accepted: the limit is the configured one, not a default.
    fits = {"texte": "x" * (LIMIT - 100)}
    assert app.propose(**propose_kwargs("voirie.signalement", input=fits)).decision.id


def test_nan_in_input(stubs: Raw, as_: Callable[[str | None], Client]) -> None:
    numbers = struct_pb2.Struct()
    numbers.update({"montant": float("nan"), "ok": 1})
    request = gateway_pb2.ProposeRequest(
        decision_type="voirie.signalement",
        subject_ref="usager:1",
        input=numbers,
        idempotency_key=str(uuid.uuid4()),
    )
    assert invalid(lambda: stubs.call(stubs.gateway.Propose, request, "app-a")) == ["input.montant"]
    nested = propose_kwargs("voirie.signalement", suggestion={"score": {"x": float("inf")}})
    assert invalid(lambda: as_("app-a").propose(**nested)) == ["attested_suggestion.output.score.x"]
    amend = as_("app-a").propose(**propose_kwargs()).decision
    assert invalid(
        lambda: as_("sup-a1").decide(
            amend.id,
            verdict="amend",
            amended_output={"montant_centimes": float("-inf")},
            justification="plafond",
        )
    ) == ["amended_output.montant_centimes"]


def test_bad_page_token(stubs: Raw, as_: Callable[[str | None], Client]) -> None:
    insp, sup = as_("insp-a"), as_("sup-a1")
    for token in ("garbage", "!!!", "w6k", "fA"):
        for listing in (insp.query_events, sup.list_queue):
            assert invalid(functools.partial(listing, page_token=token)) == ["page_token"], token
    # A token of the other listing is no token of this one.
    for _ in range(3):
        as_("app-a").propose(**propose_kwargs("voirie.signalement"))
    queue_token = sup.list_queue(page_size=1).next_page_token
    assert queue_token
    assert invalid(lambda: insp.query_events(page_token=queue_token)) == ["page_token"]


def test_values_out_of_range(as_: Callable[[str | None], Client]) -> None:
    app, sup, insp = as_("app-a"), as_("sup-a1"), as_("insp-a")
    assert invalid(lambda: app.propose(**propose_kwargs(confidence=1.5))) == [
        "attested_suggestion.confidence"
    ]
    assert invalid(lambda: app.propose(**propose_kwargs(subject_ref="jean dupont"))) == [
        "subject_ref"
    ]
    assert invalid(lambda: insp.query_events(page_size=5000)) == ["page_size"]
    assert invalid(lambda: sup.list_queue(page_size=501)) == ["page_size"]
    assert invalid(lambda: app.get_decision(str(uuid.uuid4()), language="de")) == ["language"]
    d = app.propose(**propose_kwargs()).decision
    assert invalid(lambda: sup.claim(d.id, lease_seconds=0)) == ["lease"]
    assert invalid(lambda: sup.claim(d.id, lease_seconds=3 * 86400)) == ["lease"]
    assert invalid(lambda: sup.decide(d.id, verdict="amend", justification="sans sortie")) == [
        "amended_output"
    ]


def test_no_token_is_unauthenticated(stubs: Raw, as_: Callable[[str | None], Client]) -> None:
    anonymous = as_(None)
    refused(UnauthenticatedError, lambda: anonymous.propose(**propose_kwargs()))
    refused(UnauthenticatedError, lambda: anonymous.get_decision(str(uuid.uuid4())))
    refused(UnauthenticatedError, lambda: list(anonymous.watch_decision(str(uuid.uuid4()))))
    refused(UnauthenticatedError, lambda: anonymous.verify_chain())
    # Authentication comes before validation: a bad request without a token says so first.
    empty = gateway_pb2.ProposeRequest()
    refused(UnauthenticatedError, lambda: stubs.call(stubs.gateway.Propose, empty, None))


def test_unknown_token_is_unauthenticated(guarded: ServerProcess, stubs: Raw) -> None:
    with Client(guarded.address, "test-token-nobody", timeout=10) as stranger:
        refused(UnauthenticatedError, lambda: stranger.propose(**propose_kwargs()))
        refused(UnauthenticatedError, lambda: stranger.list_queue())
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", token_of("app-a")):
        with pytest.raises(grpc.RpcError) as caught:
            stubs.review.ListQueue(
                review_pb2.ListQueueRequest(), metadata=(("authorization", header),), timeout=10
            )
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, header


def test_inspector_calling_propose_is_permission_denied(
    as_: Callable[[str | None], Client],
) -> None:
    refused(PermissionDeniedError, lambda: as_("insp-a").propose(**propose_kwargs()))
    refused(PermissionDeniedError, lambda: as_("sup-a1").propose(**propose_kwargs()))
    refused(PermissionDeniedError, lambda: as_("app-a").verify_chain())
    refused(PermissionDeniedError, lambda: as_("app-a").list_queue())
    d = as_("app-a").propose(**propose_kwargs()).decision
    refused(PermissionDeniedError, lambda: as_("app-a").decide(d.id, verdict="approve"))
    refused(PermissionDeniedError, lambda: as_("insp-a").claim(d.id))


def test_wrong_state_is_failed_precondition(as_: Callable[[str | None], Client]) -> None:
    app, sup1, sup2 = as_("app-a"), as_("sup-a1"), as_("sup-a2")
    d = app.propose(**propose_kwargs("voirie.signalement")).decision
    sup1.claim(d.id, lease_seconds=60)
    refused(FailedPreconditionError, lambda: sup2.claim(d.id))
    refused(FailedPreconditionError, lambda: sup2.decide(d.id, verdict="approve"))
    sup1.decide(d.id, verdict="approve")
    refused(FailedPreconditionError, lambda: sup2.decide(d.id, verdict="approve"))
    refused(FailedPreconditionError, lambda: sup2.claim(d.id))
    fixed = app.propose(**propose_kwargs("sans.amendement")).decision
    error = refused(
        FailedPreconditionError,
        lambda: sup1.decide(fixed.id, verdict="amend", amended_output={"a": 1}, justification="j"),
    )
    assert error.reason == "AMEND_NOT_ALLOWED"


def test_refused_requests_write_nothing(
    as_: Callable[[str | None], Client], database_url: str
) -> None:
    app = as_("app-a")
    before = as_("insp-a").verify_chain().events_checked
    keys = [str(uuid.uuid4()) for _ in range(5)]
    big = {"texte": "x" * (LIMIT + 1)}
    attempts: list[tuple[type[AvalError], Callable[[], Any]]] = [
        (
            InvalidArgumentError,
            lambda: app.propose(**propose_kwargs(idempotency_key=keys[0], input=big)),
        ),
        (
            InvalidArgumentError,
            lambda: app.propose(**propose_kwargs("nope", idempotency_key=keys[1])),
        ),
        (
            InvalidArgumentError,
            lambda: app.propose(**propose_kwargs(idempotency_key=keys[2], confidence=-1)),
        ),
        (
            PermissionDeniedError,
            lambda: as_("insp-a").propose(**propose_kwargs(idempotency_key=keys[3])),
        ),
        (
            UnauthenticatedError,
            lambda: as_(None).propose(**propose_kwargs(idempotency_key=keys[4])),
        ),
    ]
    for expected, attempt in attempts:
        refused(expected, attempt)
    assert as_("insp-a").verify_chain().events_checked == before
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM aval.decisions WHERE idempotency_key = ANY(%s)", (keys,)
        ).fetchone()
    assert row == (0,)


def test_server_is_still_serving_and_never_failed_internally(
    guarded: ServerProcess, stubs: Raw, as_: Callable[[str | None], Client]
) -> None:
    # A refusal of each kind, sent here so that the test holds when run alone.
    app = as_("app-a")
    invalid(lambda: stubs.call(stubs.gateway.Propose, gateway_pb2.ProposeRequest(), "app-a"))
    invalid(lambda: app.propose(**propose_kwargs(input={"texte": "x" * (LIMIT + 1)})))
    invalid(lambda: app.get_decision("pas-un-uuid"))
    refused(NotFoundError, lambda: app.get_decision(str(uuid.uuid4())))
    refused(UnauthenticatedError, lambda: as_(None).propose(**propose_kwargs()))
    refused(PermissionDeniedError, lambda: as_("insp-a").propose(**propose_kwargs()))
    assert guarded.process.poll() is None, "the gateway died"
    for service in ("", *SERVICE_NAMES):
        assert stubs.serving(service), service
    log = guarded.log_path.read_text()
    assert "Traceback" not in log and "Unexpected" not in log, log[-3000:]


# Values the wire allows but the contract does not: enum numbers it does not name (proto3 enums
# are open) and timestamps past year 9999.


def test_unknown_enum_number_is_invalid_argument_I6(raw: Raw) -> None:
    decide = review_pb2.DecideRequest(decision_id=str(uuid.uuid4()))
    decide.verdict = 9  # type: ignore[assignment]  # proto3 enums are open: valid on the wire
    with pytest.raises(InvalidArgumentError) as caught:
        raw.call(raw.review.Decide, decide, "sup-a1")
    assert fields_of(caught.value) == ["verdict"]
    explain = audit_pb2.ExplainDecisionRequest(decision_id=str(uuid.uuid4()))
    explain.audience = 7  # type: ignore[assignment]
    with pytest.raises(InvalidArgumentError) as caught:
        raw.call(raw.audit.ExplainDecision, explain, "insp-a")
    assert fields_of(caught.value) == ["audience"]


def test_timestamp_out_of_range_is_invalid_argument_I6(raw: Raw) -> None:
    query = audit_pb2.QueryEventsRequest()
    query.since.seconds = 10**13  # after year 9999: a valid int64 on the wire, not a time
    with pytest.raises(InvalidArgumentError) as caught:
        raw.call(raw.audit.QueryEvents, query, "insp-a")
    assert fields_of(caught.value) == ["since"]
