"""The limits of the transport edge: what the server reads, what a refusal echoes, what the SDK
refuses before sending (issue 10, items 3, 8 and 9)."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2

from aval.clients import Client, InvalidArgumentError
from aval.clients.sdk.limits import MAX_JSON_DEPTH as SDK_MAX_JSON_DEPTH
from aval.clients.sdk.limits import json_depth, payload_bytes
from aval.service.edge.admission import receive_limit
from aval.service.errors import (
    TRAILER_BUDGET,
    FieldViolation,
    InvalidArgument,
    NotFound,
    to_status,
)
from aval.service.refusals import ECHO_LIMIT, shown
from aval.service.requests import MAX_JSON_DEPTH, parse
from aval.service.requests.decisions import ProposeIn
from aval.v1 import admin_pb2, gateway_pb2, review_pb2
from aval.verifier.chain import canonical_json


def digits(limit: int) -> dict[str, Any]:
    """The JSON value of at most `limit` bytes whose Struct is the largest."""
    value = {"k": [0] * ((limit - 7) // 2)}
    assert len(canonical_json(value)) <= limit
    return value


@pytest.mark.parametrize("payload_limit", [1024, 64 * 1024, 1024 * 1024])
def test_the_largest_legitimate_requests_fit_the_receive_limit(payload_limit: int) -> None:
    value = digits(payload_limit)
    propose = gateway_pb2.ProposeRequest(
        decision_type="d" * 200, subject_ref="s" * 200, idempotency_key="k" * 200, tenant="t" * 200
    )
    propose.input.update(value)
    suggestion = propose.attested_suggestion
    suggestion.output.update(value)
    suggestion.explanation = "🙂" * 20_000
    suggestion.model.name, suggestion.model.version = "m" * 200, "v" * 200
    decide = review_pb2.DecideRequest(justification="🙂" * 10_000)
    decide.amended_output.update(value)
    instructions = admin_pb2.InstructionsForUse(
        intended_purpose="🙂" * 2000, known_limits=["🙂" * 500] * 20, accuracy_note="🙂" * 2000
    )
    for i in range(50):
        instructions.metrics["🙂" * 90 + str(i)] = 0.5
    register = admin_pb2.RegisterModelVersionRequest(instructions=instructions)
    for request in (propose, decide, register):
        assert request.ByteSize() < receive_limit(payload_limit), type(request).__name__
    if payload_limit == 64 * 1024:  # the default: 1 MiB, under twice the worst case
        assert receive_limit(payload_limit) == 1024 * 1024
        assert propose.ByteSize() > receive_limit(payload_limit) / 2


def test_shown_cuts_and_makes_invisible_characters_visible() -> None:
    assert shown("ville-a") == "ville-a"
    long = shown("é" * 5000)
    assert long == "é" * ECHO_LIMIT + "…"
    text = shown("\u202eadmin\x1b[31m\u200b\u2066x\n")
    assert text == "\\u202eadmin\\x1b[31m\\u200b\\u2066x\\x0a"
    assert len(shown("\x00" * 1000)) <= ECHO_LIMIT + 1


def test_every_parameter_of_a_refusal_is_shown_cut_short() -> None:
    huge = "\u202e" + "x" * 10_000
    status = to_status(NotFound("DECISION_NOT_FOUND", decision=huge, tenant=huge))
    assert len(status.message) < 3 * ECHO_LIMIT + 100
    assert "\u202e" not in status.message
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            assert all(len(v) <= ECHO_LIMIT + 1 for v in info.metadata.values())


def test_a_refusal_of_many_bad_fields_stays_readable_and_says_how_many_more() -> None:
    violations = [
        FieldViolation(f"tenants[{i}]", "UNKNOWN_TENANT", {"tenant": "x" * 2000})
        for i in range(200)
    ]
    for language in ("fr", "en"):
        status = to_status(InvalidArgument(violations), language)
        trailers = 3 * len(status.message.encode()) + 4 * status.ByteSize() // 3
        assert trailers < TRAILER_BUDGET + 200
        bad = error_details_pb2.BadRequest()
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                detail.Unpack(bad)
        shown_count = len(bad.field_violations)
        assert 1 <= shown_count < 200
        assert str(200 - shown_count) in status.message  # "and N more"


def test_a_few_bad_fields_are_all_named() -> None:
    violations = [FieldViolation(f"f{i}", "REQUIRED") for i in range(10)]
    status = to_status(InvalidArgument(violations))
    bad = error_details_pb2.BadRequest()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            detail.Unpack(bad)
    assert len(bad.field_violations) == 10


def test_the_sdk_and_the_server_count_nesting_alike() -> None:
    assert SDK_MAX_JSON_DEPTH == MAX_JSON_DEPTH
    assert json_depth({"a": 1}) == 1
    assert json_depth({"a": [1, {"b": []}]}) == 4
    assert json_depth({}) == 1
    deep: Any = 1
    for _ in range(10_000):  # no recursion: any depth is counted (up to past the limit)
        deep = [deep]
    assert json_depth({"k": deep}) > MAX_JSON_DEPTH


def nested(levels: int, kind: str) -> dict[str, Any]:
    value: Any = 1
    for _ in range(levels - 1):
        value = {"a": value} if kind == "object" else [value]
    return {"k": value}


@pytest.mark.parametrize("kind", ["object", "array"])
def test_the_sdk_refuses_exactly_what_the_server_refuses_for_nesting(kind: str) -> None:
    for levels in (MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1):
        request = gateway_pb2.ProposeRequest(
            decision_type="t", subject_ref="s", idempotency_key="k"
        )
        request.input.update(nested(levels, kind))
        try:
            parse(ProposeIn, request)
            server_refuses = False
        except InvalidArgument as exc:
            assert [v.reason for v in exc.violations] == ["NESTED_TOO_DEEP"]
            server_refuses = True
        assert server_refuses == (json_depth(nested(levels, kind)) > SDK_MAX_JSON_DEPTH)
        assert server_refuses == (levels > MAX_JSON_DEPTH)


@pytest.mark.parametrize(
    ("value", "as_the_server_reads_it"),
    [
        (
            {"a": 1.0, "b": [2.5, -0.0, 1e300], "c": "é\u202e", "d": None, "e": True},
            {"a": 1, "b": [2.5, 0, 1e300], "c": "é\u202e", "d": None, "e": True},
        ),
        ({"z": {"y": [1, 2, 3]}, "a": 12000.0}, {"z": {"y": [1, 2, 3]}, "a": 12000}),
    ],
)
def test_the_sdk_measures_a_payload_as_the_server_does(
    value: dict[str, Any], as_the_server_reads_it: dict[str, Any]
) -> None:
    struct = struct_pb2.Struct()
    struct.update(value)
    assert payload_bytes(struct) == len(canonical_json(as_the_server_reads_it))


def test_the_sdk_refuses_a_payload_over_the_limit_it_was_told() -> None:
    """With `max_payload_bytes`, the SDK refuses a larger JSON value without sending it (no
    server listens at the address: a request sent would fail as UNAVAILABLE)."""
    with Client("127.0.0.1:9", "t", timeout=2, max_payload_bytes=1024) as client:
        with pytest.raises(InvalidArgumentError) as caught:
            client.propose(
                decision_type="t",
                subject_ref="s",
                input={"texte": "x" * 2000},
                suggestion={"s": "y" * 2000},
            )
        assert [(v.field, v.reason) for v in caught.value.violations] == [
            ("input", "TOO_LARGE"),
            ("suggestion", "TOO_LARGE"),
        ]
        with pytest.raises(InvalidArgumentError):
            client.decide(
                "00000000-0000-4000-8000-000000000000",
                verdict="amend",
                amended_output={"x": "y" * 2000},
            )
