"""Why the advisor refuses a request, as google.rpc statuses a client can act on."""

from __future__ import annotations

from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

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


def missing_description() -> InvalidCase:
    return InvalidCase(
        "DESCRIPTION_MISSING",
        "input.description is missing: send the text of the citizen's report as the string "
        "field `description` of the input",
        "input.description manque : envoyez le texte du signalement de l'habitant dans le "
        "champ texte `description` de l'entrée",
        field="input.description",
    )


def description_not_text(kind: str) -> InvalidCase:
    return InvalidCase(
        "DESCRIPTION_NOT_TEXT",
        f"input.description must be a string (the text of the report), not a {kind}",
        f"input.description doit être un texte (celui du signalement), pas une valeur de type "
        f"{kind}",
        field="input.description",
    )


def empty_description() -> InvalidCase:
    return InvalidCase(
        "DESCRIPTION_EMPTY",
        "input.description is empty: send the text of the citizen's report",
        "input.description est vide : envoyez le texte du signalement de l'habitant",
        field="input.description",
    )


def version_not_served(requested: str, served: str) -> VersionNotServed:
    return VersionNotServed(
        "MODEL_VERSION_NOT_SERVED",
        f"this advisor serves model version {served!r}, not {requested!r}: pin {served!r} "
        "or send an empty model_version",
        f"ce système d'IA sert la version {served!r} du modèle, pas {requested!r} : épinglez "
        f"{served!r} ou laissez model_version vide",
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
