"""Why the advisor refuses a request, as google.rpc statuses a client can act on."""

from __future__ import annotations

from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from aval import texts
from aval.texts import render

ERROR_DOMAIN = "advisor-demo.aval"


class AdvisorRefusal(Exception):
    """A request the advisor will not answer; English message for developers, French for
    agents, a stable reason, and the field at fault if any."""

    code: int = code_pb2.FAILED_PRECONDITION

    def __init__(
        self,
        reason: str,
        english: str,
        french: str,
        *,
        field: str = "",
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(english)
        self.reason = reason
        self.english = english
        self.french = french
        self.field = field
        self.metadata = metadata or {}

    def status(self) -> status_pb2.Status:
        details = [
            _packed(
                error_details_pb2.ErrorInfo(
                    reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata
                )
            ),
            _packed(error_details_pb2.LocalizedMessage(locale="fr", message=self.french)),
        ]
        if self.field:
            violation = error_details_pb2.BadRequest.FieldViolation(
                field=self.field, description=self.english, reason=self.reason
            )
            details.append(_packed(error_details_pb2.BadRequest(field_violations=[violation])))
        return status_pb2.Status(code=self.code, message=self.english, details=details)


class InvalidCase(AdvisorRefusal):
    code = code_pb2.INVALID_ARGUMENT


class VersionNotServed(AdvisorRefusal):
    code = code_pb2.FAILED_PRECONDITION


# The texts of the refusals: aval/texts/data/advisor_refusals.toml.
_TEXTS = texts.load("advisor_refusals")


def _worded(reason: str, **params: object) -> tuple[str, str, str]:
    """The reason, its English text and its French text."""
    return reason, render(_TEXTS, reason, "en", **params), render(_TEXTS, reason, "fr", **params)


def missing_description() -> InvalidCase:
    return InvalidCase(*_worded("DESCRIPTION_MISSING"), field="input.description")


def description_not_text(kind: str) -> InvalidCase:
    return InvalidCase(*_worded("DESCRIPTION_NOT_TEXT", kind=kind), field="input.description")


def empty_description() -> InvalidCase:
    return InvalidCase(*_worded("DESCRIPTION_EMPTY"), field="input.description")


def version_not_served(requested: str, served: str) -> VersionNotServed:
    return VersionNotServed(
        *_worded("MODEL_VERSION_NOT_SERVED", requested=requested, served=served),
        metadata={"requested": requested, "served": served},
    )


def _packed(
    message: error_details_pb2.ErrorInfo
    | error_details_pb2.LocalizedMessage
    | error_details_pb2.BadRequest,
) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
