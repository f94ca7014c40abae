"""Domain errors, and the one place they become gRPC statuses with google.rpc details (I6).

A refusal is a stable reason with parameters. The status message is its English text (for
developers); a google.rpc.LocalizedMessage carries it in the caller's language (French unless
the call's `accept-language` asks for English); ErrorInfo carries the reason and parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from aval.audit_store import errors as store_errors
from aval.service.refusals import REFUSALS, VIOLATIONS, shown_params
from aval.texts import Verbatim, render, shown

ERROR_DOMAIN = "aval.v1"
DEFAULT_LANGUAGE = "fr"
# The trailers of a refusal stay under this many bytes: gRPC clients refuse trailers over 8 KiB
# by default (some of the time between 8 and 16 KiB, always beyond), and a client that cannot
# read a refusal sees a transport error instead of the server's answer.
TRAILER_BUDGET = 6 * 1024
# Characters of a field's path a refusal shows: paths into JSON values hold the caller's keys.
FIELD_PATH_LIMIT = 200


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: its wire path, a reason of refusals.VIOLATIONS and its parameters."""

    field: str
    reason: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def text(self, language: str = "en") -> str:
        return render(VIOLATIONS, self.reason, language, **self.params)

    @property
    def description(self) -> str:
        return self.text("en")

    @property
    def path(self) -> str:
        """The field's path as refusals show it (cut short, invisible characters escaped)."""
        return shown(self.field, FIELD_PATH_LIMIT)


class DomainError(Exception):
    """An error a client can act on: a reason of refusals.REFUSALS and its parameters."""

    code: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, reason: str, **params: Any) -> None:
        self.reason = reason
        self.params = params
        super().__init__(self.text("en"))

    def text(self, language: str = "en") -> str:
        return render(REFUSALS, self.reason, language, **self.params)

    @property
    def message(self) -> str:
        return self.text("en")


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: Sequence[FieldViolation], *, omitted: int = 0) -> None:
        self.violations = list(violations)
        # Bad fields left out of the refusal to keep it readable (`first`).
        self.omitted = omitted
        super().__init__("INVALID_ARGUMENT")

    def text(self, language: str = "en") -> str:
        parts = [f"{v.path}: {v.text(language)}" for v in self.violations]
        if self.omitted:
            parts.append(render(REFUSALS, "MORE_VIOLATIONS", language, count=self.omitted))
        # The summary is made of parameters already shown: no second cut.
        return render(REFUSALS, self.reason, language, summary=Verbatim("; ".join(parts)))

    def first(self, count: int) -> InvalidArgument:
        """The same refusal naming only the first `count` bad fields."""
        rest = len(self.violations) - count
        return InvalidArgument(self.violations[:count], omitted=self.omitted + max(rest, 0))


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE


class ResourceExhausted(DomainError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Aborted(DomainError):
    code = grpc.StatusCode.ABORTED


def from_store_error(exc: store_errors.StoreError) -> DomainError:
    """The domain meaning of a store error that reached the edge."""
    if isinstance(exc, store_errors.DecisionNotFound):
        return NotFound("DECISION_NOT_FOUND", decision=exc.decision_id, tenant=exc.tenant_id)
    if isinstance(exc, store_errors.ReviewAlreadyRecorded):
        return FailedPrecondition(
            "ALREADY_REVIEWED", reviewer=exc.reviewer_id, decision=exc.decision_id
        )
    if isinstance(exc, store_errors.ConcurrentUpdate):
        return Unavailable("CONCURRENT_UPDATE", decision=exc.decision_id)
    if isinstance(exc, store_errors.ExportsBusy):
        return ResourceExhausted("EXPORTS_BUSY", limit=exc.limit)
    if isinstance(exc, store_errors.JournalUnavailable):
        return Unavailable("ACCESS_JOURNAL_UNAVAILABLE")
    return Unavailable("DATABASE_UNAVAILABLE")


def _packed(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def to_status(exc: DomainError, language: str = DEFAULT_LANGUAGE) -> status_pb2.Status:
    """A google.rpc.Status with ErrorInfo, LocalizedMessage and, for bad input, BadRequest.

    Parameters are shown cut short (refusals.shown); a refusal of many bad fields names as many
    as fit in `TRAILER_BUDGET`, and how many more there are.
    """
    status = _status(exc, language)
    while (
        isinstance(exc, InvalidArgument)
        and len(exc.violations) > 1
        and _trailer_bytes(status) > TRAILER_BUDGET
    ):
        exc = exc.first(len(exc.violations) // 2)
        status = _status(exc, language)
    return status


def _trailer_bytes(status: status_pb2.Status) -> int:
    # grpc-message percent-encodes the message (3 bytes per byte at worst) and
    # grpc-status-details-bin carries the serialized status in base64.
    return 3 * len(status.message.encode()) + 4 * (int(status.ByteSize()) + 2) // 3 + 100


def _status(exc: DomainError, language: str) -> status_pb2.Status:
    metadata = shown_params(exc.params)
    details = [
        _packed(
            error_details_pb2.ErrorInfo(reason=exc.reason, domain=ERROR_DOMAIN, metadata=metadata)
        ),
        _packed(error_details_pb2.LocalizedMessage(locale=language, message=exc.text(language))),
    ]
    if isinstance(exc, InvalidArgument):
        details.append(
            _packed(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.path,
                            description=v.description,
                            reason=v.reason,
                            localized_message=error_details_pb2.LocalizedMessage(
                                locale=language, message=v.text(language)
                            ),
                        )
                        for v in exc.violations
                    ]
                )
            )
        )
    return status_pb2.Status(
        code=getattr(code_pb2, exc.code.name), message=exc.message, details=details
    )


def language_of(metadata: Sequence[tuple[str, str | bytes]]) -> str:
    """The language the caller reads, from `accept-language` ("fr" unless it asks for "en")."""
    for key, value in metadata:
        if key == "accept-language":
            text = value.decode() if isinstance(value, bytes) else value
            first = text.split(",")[0].strip().lower()
            if first.startswith("en"):
                return "en"
    return DEFAULT_LANGUAGE


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], exc: DomainError) -> None:
    """Ends the RPC with the rich status of a domain error, worded in the caller's language."""
    metadata = [(str(k), v) for k, v in (context.invocation_metadata() or ())]
    status = rpc_status.to_status(to_status(exc, language_of(metadata)))
    await context.abort_with_status(status)  # type: ignore[attr-defined]


_Position = TypeVar("_Position")


def page_position(token: str, decode: Callable[[str], _Position]) -> _Position | None:
    """Where the page of a request's `page_token` starts; None (the first page) when empty.

    Raises:
        InvalidArgument: BAD_PAGE_TOKEN, `decode` refused the token (ValueError).
    """
    if not token:
        return None
    try:
        return decode(token)
    except ValueError as exc:
        raise InvalidArgument([FieldViolation("page_token", "BAD_PAGE_TOKEN")]) from exc
