"""JSON nested deeper than the limit is refused naming the field; at the limit it is accepted and
read back."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from aval.clients import Client
from aval.clients.sdk.errors import AvalError, InvalidArgumentError
from aval.v1 import common_pb2, gateway_pb2, review_pb2
from tests.support import token_of

from ..conftest import ClientOf
from ..helpers import AMENDED, propose_kwargs, queue_ids

pytestmark = pytest.mark.e2e


MAX_JSON_DEPTH = 30  # levels of objects and arrays, the value itself counted


def deepest(levels: int, kind: str) -> Any:
    """A JSON object nested `levels` deep (itself counted), through objects or arrays."""
    value: Any = 1
    for _ in range(levels - 1):
        value = {"a": value} if kind == "object" else [value]
    return {"k": value}


def test_the_sdk_refuses_json_nested_deeper_than_the_server_accepts() -> None:
    """The SDK refuses, before sending anything, a JSON value the server would refuse: no
    server listens at the address, so a request sent would fail as UNAVAILABLE."""
    with Client("127.0.0.1:9", token_of("app-a"), timeout=2) as nowhere:
        for kind in ("object", "array"):
            too_deep = deepest(MAX_JSON_DEPTH + 1, kind)
            attempts: list[Callable[[], Any]] = [
                functools.partial(nowhere.propose, **propose_kwargs(input=too_deep)),
                functools.partial(nowhere.propose, **propose_kwargs(suggestion=too_deep)),
                functools.partial(
                    nowhere.decide, str(uuid.uuid4()), verdict="amend", amended_output=too_deep
                ),
            ]
            for attempt in attempts:
                with pytest.raises(InvalidArgumentError) as caught:
                    attempt()
                assert [v.reason for v in caught.value.violations] == ["NESTED_TOO_DEEP"]
            # One level less is sent (and fails for want of a server).
            with pytest.raises(AvalError) as sent:
                nowhere.propose(**propose_kwargs(input=deepest(MAX_JSON_DEPTH, kind)))
            assert sent.value.code == grpc.StatusCode.UNAVAILABLE


JSON_FIELDS = ("input", "attested_suggestion.output", "amended_output")


@pytest.mark.parametrize("kind", ["object", "array"])
@pytest.mark.parametrize("field", JSON_FIELDS)
def test_json_nested_too_deep_is_refused_naming_the_field_I6(
    raw: Any, client_of: ClientOf, field: str, kind: str
) -> None:
    """The server refuses one level over the limit with INVALID_ARGUMENT naming the field,
    and past what protobuf decodes (34 levels of objects) still INVALID_ARGUMENT."""
    d = client_of("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    for levels in (MAX_JSON_DEPTH + 1, 34, 60):
        value = deepest(levels, kind)
        if field == "amended_output":
            decide = review_pb2.DecideRequest(decision_id=d.id, verdict=common_pb2.VERDICT_AMEND)
            decide.amended_output.update(value)
            call: Callable[[], Any] = lambda: raw.call(raw.review.Decide, decide, "sup-a1")  # noqa: E731,B023
        else:
            propose = gateway_pb2.ProposeRequest(
                decision_type="voirie.signalement", subject_ref="usager:x", idempotency_key="k"
            )
            propose.input.update({"a": 1})
            propose.attested_suggestion.output.update({"s": 1})
            target = propose.input if field == "input" else propose.attested_suggestion.output
            target.Clear()
            target.update(value)
            call = lambda: raw.call(raw.gateway.Propose, propose, "app-a")  # noqa: E731,B023
        with pytest.raises(InvalidArgumentError) as caught:
            call()
        violations = caught.value.violations
        assert [v.reason for v in violations] == ["NESTED_TOO_DEEP"], (levels, violations)
        assert violations[0].field.startswith(field) or violations[0].field == "request"
        if levels == MAX_JSON_DEPTH + 1:
            assert violations[0].field.startswith(field)


@pytest.mark.parametrize("kind", ["object", "array"])
def test_json_at_the_nesting_limit_is_accepted_and_read_back_everywhere(
    channel: grpc.Channel, client_of: ClientOf, kind: str
) -> None:
    """A value nested as deeply as allowed, in every JSON field, is accepted, and every
    response that carries it (decision, queue, events, explanation) decodes in a default
    client: no stored value can make another's reads fail."""
    value = deepest(MAX_JSON_DEPTH, kind)
    app, sup, insp = client_of("app-a"), client_of("sup-a1"), client_of("insp-a")
    kwargs = propose_kwargs("voirie.signalement", input=value, suggestion=value)
    pending = app.propose(**kwargs).decision
    assert pending.id in set(queue_ids(sup))  # the queue's pages decode
    d = app.propose(**{**kwargs, "idempotency_key": str(uuid.uuid4())}).decision
    sup.decide(d.id, verdict="amend", amended_output=value, justification="au plus profond")
    final = app.get_decision(d.id)
    assert final.state == AMENDED and final.outcome == final.suggestion.output
    assert len(insp.explain_decision(d.id).events) >= 2
    events = insp.query_events(decision_id=d.id, page_size=100).events
    assert {e.kind for e in events} >= {"decision.proposed", "review.recorded"}
