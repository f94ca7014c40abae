"""From gRPC statuses to the SDK's typed errors, and the one-line reasons the CLI gives (I6)."""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

from aval.clients import (
    AbortedError,
    AlreadyExistsError,
    AvalError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    from_rpc_error,
)
from aval.clients.cli.messages import Messages
from aval.clients.cli.program import describe


class FabricatedRpcError(grpc.RpcError):
    """What a channel raises, made from a ``grpc.Status`` as a server would send it."""

    def __init__(self, status: Any, details: str | None = None) -> None:
        self._status = status
        self._details = status.details if details is None else details

    def code(self) -> grpc.StatusCode:
        return self._status.code  # type: ignore[no-any-return]

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._status.trailing_metadata


def rich_status(code: int, message: str, *details: Any) -> status_pb2.Status:
    packed = []
    for detail in details:
        wrapper = any_pb2.Any()
        wrapper.Pack(detail)
        packed.append(wrapper)
    return status_pb2.Status(code=code, message=message, details=packed)


BAD_PROPOSAL = rich_status(
    code_pb2.INVALID_ARGUMENT,
    "invalid request: input: required",
    error_details_pb2.ErrorInfo(reason="INVALID_ARGUMENT", domain="aval.v1"),
    error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="input", description="required"),
            error_details_pb2.BadRequest.FieldViolation(
                field="attested_suggestion.confidence", description="must be in [0, 1]"
            ),
        ]
    ),
)
EXPECTED_VIOLATIONS = [
    FieldViolation("input", "required"),
    FieldViolation("attested_suggestion.confidence", "must be in [0, 1]"),
]


def test_bad_request_details_become_field_violations() -> None:
    error = from_rpc_error(FabricatedRpcError(rpc_status.to_status(BAD_PROPOSAL)))
    assert isinstance(error, InvalidArgumentError)
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert (error.message, str(error)) == (BAD_PROPOSAL.message, BAD_PROPOSAL.message)
    assert error.violations == EXPECTED_VIOLATIONS
    assert error.reason == "INVALID_ARGUMENT"


def test_asyncio_errors_are_mapped_the_same_way() -> None:
    status = rpc_status.to_status(BAD_PROPOSAL)
    error = from_rpc_error(
        grpc.aio.AioRpcError(
            code=status.code,
            initial_metadata=grpc.aio.Metadata(),
            trailing_metadata=grpc.aio.Metadata(*status.trailing_metadata),
            details=status.details,
            debug_error_string=None,
        )
    )
    assert isinstance(error, InvalidArgumentError)
    assert error.violations == EXPECTED_VIOLATIONS


def test_details_are_read_even_when_the_status_disagrees_with_the_call() -> None:
    # from_call refuses a rich status whose message differs from the call's: read it anyway.
    status = rpc_status.to_status(BAD_PROPOSAL)
    error = from_rpc_error(FabricatedRpcError(status, details="rewritten by a proxy"))
    assert error.message == "rewritten by a proxy"
    assert error.violations == EXPECTED_VIOLATIONS


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgumentError),
        (grpc.StatusCode.UNAUTHENTICATED, UnauthenticatedError),
        (grpc.StatusCode.PERMISSION_DENIED, PermissionDeniedError),
        (grpc.StatusCode.NOT_FOUND, NotFoundError),
        (grpc.StatusCode.ALREADY_EXISTS, AlreadyExistsError),
        (grpc.StatusCode.FAILED_PRECONDITION, FailedPreconditionError),
        (grpc.StatusCode.UNAVAILABLE, UnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, DeadlineExceededError),
        (grpc.StatusCode.INTERNAL, InternalError),
        (grpc.StatusCode.UNKNOWN, InternalError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhaustedError),
        (grpc.StatusCode.ABORTED, AbortedError),
        (grpc.StatusCode.DATA_LOSS, InternalError),
    ],
)
def test_each_status_code_has_its_error_type(
    code: grpc.StatusCode, error_type: type[AvalError]
) -> None:
    status = rpc_status.to_status(rich_status(code.value[0], "refused"))
    error = from_rpc_error(FabricatedRpcError(status))
    assert type(error) is error_type
    assert (error.code, error.message, error.violations, error.reason) == (code, "refused", [], "")


def test_a_plain_status_without_details_keeps_its_message() -> None:
    plain = grpc.aio.AioRpcError(
        code=grpc.StatusCode.NOT_FOUND,
        initial_metadata=grpc.aio.Metadata(),
        trailing_metadata=grpc.aio.Metadata(),
        details="decision D1 not found",
        debug_error_string=None,
    )
    error = from_rpc_error(plain)
    assert isinstance(error, NotFoundError)
    assert (error.message, error.violations) == ("decision D1 not found", [])


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            InvalidArgumentError("invalid", violations=EXPECTED_VIOLATIONS),
            "requête refusée : input: required; attested_suggestion.confidence: must be in [0, 1]",
        ),
        (InvalidArgumentError("model: expected NAME@VERSION"), "requête refusée : model: expected"),
        (
            UnauthenticatedError("unknown token"),
            "jeton refusé (unknown token) : vérifiez AVAL_TOKEN",
        ),
        (
            UnavailableError("connection refused"),
            "passerelle injoignable à gw:7 (connection refused) : démarrez-la avec « aval serve »",
        ),
        (
            AlreadyExistsError("key k1 reused", reason="IDEMPOTENCY_KEY_REUSED"),
            "clé d'idempotence déjà utilisée pour une autre demande (key k1 reused) : passez "
            "une autre --idempotency-key",
        ),
        (AlreadyExistsError("already reviewed"), "déjà enregistré : already reviewed"),
        (
            InternalError("boom", code=grpc.StatusCode.INTERNAL),
            "erreur de la passerelle (INTERNAL) : boom",
        ),
    ],
)
def test_the_cli_explains_each_refusal_and_its_fix(error: AvalError, reason: str) -> None:
    assert describe(error, Messages("fr"), "gw:7").startswith(reason)
