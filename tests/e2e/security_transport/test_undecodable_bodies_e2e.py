"""Bodies without a valid token are never decoded; undecodable or missing ones are INVALID_ARGUMENT
with a plain reason."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor

from aval.clients.sdk.errors import from_rpc_error
from aval.v1 import gateway_pb2

from ..helpers import metadata_of
from .conftest import (
    CALLERS,
    EVERY_RPC,
    large_propose,
    path_of,
    rich,
    rpc_id,
    send_bytes,
    undecodable_bodies,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("method", EVERY_RPC, ids=rpc_id)
def test_bodies_of_calls_without_a_valid_token_are_never_decoded(
    channel: grpc.Channel, method: MethodDescriptor
) -> None:
    """Authentication comes before the body is read: undecodable or oversized bytes sent with
    no token, or an unknown one, are refused as UNAUTHENTICATED with the reason, on every RPC."""
    bodies = [*undecodable_bodies(method).values(), large_propose(1_500_000)]
    for body in bodies:
        for token, reason in ((None, "NO_CREDENTIALS"), ("test-token-nobody", "UNKNOWN_TOKEN")):
            err = send_bytes(channel, method, body, None, token=token)
            assert err is not None and err.code() == grpc.StatusCode.UNAUTHENTICATED, err and (
                err.code(),
                err.details(),
            )
            info, _ = rich(err)
            assert info.reason == reason


# --- Item 8: undecodable requests are INVALID_ARGUMENT with a plain reason, on every RPC -------


@pytest.mark.parametrize("method", EVERY_RPC, ids=rpc_id)
def test_undecodable_requests_are_invalid_argument_on_every_rpc_I6(
    channel: grpc.Channel, method: MethodDescriptor
) -> None:
    caller = CALLERS[method.containing_service.name]
    for what, body in undecodable_bodies(method).items():
        err = send_bytes(channel, method, body, caller)
        assert err is not None, what
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (what, err.code(), err.details())
        info, fields = rich(err)
        assert info.reason == "INVALID_ARGUMENT" and fields == ["request"], (what, fields)
        text = err.details() or ""
        for internal in ("upb", "protobuf", "Error parsing", "DecodeError", "Unexpected"):
            assert internal not in text, (what, text)


@pytest.mark.parametrize("method", EVERY_RPC, ids=rpc_id)
def test_a_call_without_its_request_message_is_invalid_argument_I6(
    channel: grpc.Channel, method: MethodDescriptor
) -> None:
    """A client that half-closes without sending the request gets an answer at once (not a
    call left open until its deadline)."""
    caller = CALLERS[method.containing_service.name]
    metadata = metadata_of(caller)
    try:
        if method.server_streaming:
            list(channel.stream_stream(path_of(method))(iter([]), metadata=metadata, timeout=10))
        else:
            channel.stream_unary(path_of(method))(iter([]), metadata=metadata, timeout=10)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
        error = from_rpc_error(err)
        assert [(v.field, v.reason) for v in error.violations] == [("request", "NO_MESSAGE")]
    else:
        raise AssertionError("answered without a request")


def test_the_reason_says_what_is_wrong_with_the_bytes(channel: grpc.Channel) -> None:
    propose = gateway_pb2.DESCRIPTOR.services_by_name["Gateway"].methods_by_name["Propose"]
    bodies = undecodable_bodies(propose)
    expected = {
        "corrupt tag": "UNDECODABLE",
        "bad UTF-8": "NOT_UTF8",
        "nested too deep #0": "NESTED_TOO_DEEP",
    }
    for what, reason in expected.items():
        err = send_bytes(channel, propose, bodies[what], "app-a")
        assert err is not None
        error = from_rpc_error(err)
        assert [v.reason for v in error.violations] == [reason], what
        assert error.violations[0].localized  # worded in the caller's language too
