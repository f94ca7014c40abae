"""The largest legitimate requests fit the receive limit; larger ones are refused and the server
answers on."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from aval.clients.sdk.errors import AvalError
from aval.v1 import gateway_pb2
from aval.verifier.chain import canonical_json

from ..conftest import ClientOf
from ..helpers import PENDING, propose_kwargs
from .conftest import (
    DEFAULT_PAYLOAD_LIMIT,
    TRANSPORT_OR_SERVER_FAULTS,
    large_propose,
    rich,
    send_bytes,
)

pytestmark = pytest.mark.e2e


# --- Item 3: bodies are read only for callers with a token, up to a legitimate size ----------


def digits_filling(limit: int) -> dict[str, Any]:
    """The JSON value of at most `limit` bytes whose protobuf Struct is the largest: a list of
    one-digit numbers (2 bytes each in JSON, 11 in a Struct)."""
    count = (limit - len(b'{"k":[]}') + 1) // 2
    value = {"k": [0] * count}
    assert len(canonical_json(value)) <= limit
    return value


def test_the_largest_legitimate_requests_fit_the_receive_limit(client_of: ClientOf) -> None:
    """Propose with an input and an attested suggestion each at the payload limit in their
    largest protobuf form, and a 20,000-character explanation of 4-byte characters, is
    received; so is Decide with such an amended output."""
    value = digits_filling(DEFAULT_PAYLOAD_LIMIT)
    kwargs = propose_kwargs(
        "voirie.signalement", input=value, suggestion=value, explanation="🙂" * 20_000
    )
    app = client_of("app-a")
    decision = app.propose(**kwargs).decision
    assert decision.state == PENDING
    request = gateway_pb2.ProposeRequest(attested_suggestion={"explanation": "🙂" * 20_000})
    request.input.update(value)
    request.attested_suggestion.output.update(value)
    assert request.ByteSize() > 800_000, "not the largest request the contract allows"
    try:
        client_of("sup-a1").decide(
            decision.id, verdict="amend", amended_output=value, justification="montant revu"
        )
    except AvalError as error:  # amendments may get their own limits: never the transport's
        assert error.code not in TRANSPORT_OR_SERVER_FAULTS, error


def test_a_request_larger_than_any_legitimate_one_is_refused_and_the_server_answers_on(
    channel: grpc.Channel, raw: Any, client_of: ClientOf
) -> None:
    """Over the receive limit, a caller with a token gets RESOURCE_EXHAUSTED (the gRPC status
    for a message over the receiver's limit, answered before its body is decoded) and one
    without a token UNAUTHENTICATED; the server goes on answering."""
    propose = gateway_pb2.DESCRIPTOR.services_by_name["Gateway"].methods_by_name["Propose"]
    for size in (1_100_000, 2_000_000, 3_900_000):
        body = large_propose(size)
        with_token = send_bytes(channel, propose, body, "app-a")
        assert with_token is not None and with_token.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        without = send_bytes(channel, propose, body, None)
        assert without is not None and without.code() == grpc.StatusCode.UNAUTHENTICATED
        info, _ = rich(without)
        assert info.reason == "NO_CREDENTIALS"
    assert raw.serving()
    assert client_of("app-a").propose(**propose_kwargs()).decision.state == PENDING
