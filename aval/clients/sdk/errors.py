"""Typed exceptions for the gateway's refusals, mapped once from gRPC statuses at the edge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

# The trailer in which gRPC carries a serialized google.rpc.Status with its details.
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class FieldViolation:
    """One field of a request that the gateway refused (from ``google.rpc.BadRequest``).

    Attributes:
        field: Path of the field, e.g. ``"input.montant_centimes"``.
        description: Why its value was refused (English).
        reason: The machine-readable cause, e.g. ``"REQUIRED"``, or ``""``.
        localized: Why, in the language the client asked for, or ``""``.
    """

    field: str
    description: str
    reason: str = ""
    localized: str = ""

    @property
    def text(self) -> str:
        """The localized explanation when the gateway gave one, else the English one."""
        return self.localized or self.description


class AvalError(Exception):
    """A call that the gateway refused or could not answer.

    Attributes:
        code: The gRPC status code.
        message: The status message (``str(error)`` gives it too).
        violations: The refused fields, when the gateway named them.
        reason: The machine-readable cause (``google.rpc.ErrorInfo.reason``), or ``""``.
        localized: The message in the client's language (``google.rpc.LocalizedMessage``),
            or ``""``.
    """

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
        violations: Sequence[FieldViolation] = (),
        reason: str = "",
        localized: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.violations: list[FieldViolation] = list(violations)
        self.reason = reason
        self.localized = localized


class InvalidArgumentError(AvalError):
    """The request is malformed; ``violations`` names the fields (INVALID_ARGUMENT)."""

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT,
        violations: Sequence[FieldViolation] = (),
        reason: str = "",
        localized: str = "",
    ) -> None:
        super().__init__(
            message, code=code, violations=violations, reason=reason, localized=localized
        )


class UnauthenticatedError(AvalError):
    """No credentials, or credentials the gateway does not accept (UNAUTHENTICATED)."""


class PermissionDeniedError(AvalError):
    """The caller is known but not allowed to do this (PERMISSION_DENIED)."""


class NotFoundError(AvalError):
    """The decision or resource does not exist in the caller's tenant (NOT_FOUND)."""


class AlreadyExistsError(AvalError):
    """E.g. an idempotency key reused with a different body (ALREADY_EXISTS)."""


class FailedPreconditionError(AvalError):
    """The decision is not in a state that allows this (FAILED_PRECONDITION)."""


class UnavailableError(AvalError):
    """The gateway cannot be reached or is not serving; retrying may help (UNAVAILABLE)."""


class DeadlineExceededError(AvalError):
    """The call's deadline passed before the gateway answered (DEADLINE_EXCEEDED)."""


class ResourceExhaustedError(AvalError):
    """A limit of the gateway was reached: a request larger than it reads, or every export
    connection in use (RESOURCE_EXHAUSTED); the message says which."""


class AbortedError(AvalError):
    """The gateway ended the call, e.g. a stream its client stopped reading (ABORTED)."""


class InternalError(AvalError):
    """Any other status: a fault of the gateway rather than of the request."""


_ERROR_TYPES: dict[grpc.StatusCode, type[AvalError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.ABORTED: AbortedError,
}


def from_rpc_error(err: grpc.RpcError) -> AvalError:
    """Maps a failed call, blocking or asyncio, to the typed exception of its status code.

    Args:
        err: What grpc raised (``grpc.aio.AioRpcError`` included).

    Returns:
        The exception to raise, with the field violations and the reason the status carried.
    """
    code = _ask(err, "code")
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    status = _rich_status(err)
    details = _ask(err, "details")
    message = details if isinstance(details, str) and details else ""
    if not message:
        message = status.message if status is not None and status.message else code.name
    violations: list[FieldViolation] = []
    reason = localized = ""
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend(
                FieldViolation(
                    field=v.field,
                    description=v.description,
                    reason=v.reason,
                    localized=v.localized_message.message,
                )
                for v in bad_request.field_violations
            )
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.LocalizedMessage.DESCRIPTOR):
            text = error_details_pb2.LocalizedMessage()
            detail.Unpack(text)
            localized = text.message
    error_type = _ERROR_TYPES.get(code, InternalError)
    return error_type(message, code=code, violations=violations, reason=reason, localized=localized)


def _ask(err: grpc.RpcError, accessor: str) -> Any:
    # Not every RpcError is a grpc.Call (AioRpcError is not), but those a channel raises all
    # answer code(), details() and trailing_metadata().
    method = getattr(err, accessor, None)
    return method() if callable(method) else None


def _rich_status(err: grpc.RpcError) -> status_pb2.Status | None:
    if _ask(err, "trailing_metadata") is None:
        return None
    try:
        # AioRpcError is no grpc.Call but answers the same accessors from_call reads.
        status: status_pb2.Status | None = rpc_status.from_call(cast(grpc.Call, err))
    except (ValueError, DecodeError):
        # The rich status disagrees with the call's code or message, or is garbled: its
        # details are still worth reading when they parse.
        return _status_from_trailers(err)
    return status


def _status_from_trailers(err: grpc.RpcError) -> status_pb2.Status | None:
    for key, value in _ask(err, "trailing_metadata") or ():
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except DecodeError:
                return None
    return None
