"""Domain errors, and the one place they become gRPC statuses with google.rpc details (I6)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from aval.audit_store import errors as store_errors

log = logging.getLogger(__name__)
ERROR_DOMAIN = "aval.v1"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """An error a client can act on; `reason` is a stable UPPER_SNAKE identifier."""

    code: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION
    reason: str = "FAILED_PRECONDITION"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: Sequence[FieldViolation], message: str | None = None) -> None:
        self.violations = list(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(message or f"invalid request: {summary}")


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"


def from_store_error(exc: store_errors.StoreError) -> DomainError:
    """The domain meaning of a store error that reached the edge."""
    if isinstance(exc, store_errors.DecisionNotFound):
        return NotFound(str(exc), reason="DECISION_NOT_FOUND")
    if isinstance(exc, store_errors.IdempotencyConflict):
        return AlreadyExists(str(exc), reason="IDEMPOTENCY_KEY_REUSED")
    if isinstance(exc, store_errors.ReviewAlreadyRecorded):
        return AlreadyExists(str(exc), reason="ALREADY_REVIEWED")
    if isinstance(exc, store_errors.ConcurrentUpdate):
        return Unavailable(f"{exc}; retry the request", reason="CONCURRENT_UPDATE")
    return Unavailable(f"the database is unavailable: {exc}", reason="DATABASE_UNAVAILABLE")


def to_status(exc: DomainError) -> status_pb2.Status:
    """A google.rpc.Status carrying ErrorInfo and, for bad input, BadRequest field violations."""
    details = []
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=exc.reason, domain=ERROR_DOMAIN))
    details.append(info)
    if isinstance(exc, InvalidArgument):
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in exc.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        details.append(packed)
    return status_pb2.Status(
        code=getattr(code_pb2, exc.code.name), message=exc.message, details=details
    )


async def abort_with(context: grpc.aio.ServicerContext[object, object], exc: DomainError) -> None:
    """Ends the RPC with the rich status of a domain error."""
    await context.abort_with_status(rpc_status.to_status(to_status(exc)))  # type: ignore[attr-defined]
