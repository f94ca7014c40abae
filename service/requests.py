"""Validated requests: Pydantic models at the edge, named after the wire fields they check (I6)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any, Literal, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from .errors import FieldViolation, InvalidArgument

Text = Annotated[str, StringConstraints(strip_whitespace=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\s]+$")]
Language = Literal["fr", "en"]
M = TypeVar("M", bound="Request")


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ModelIn(Request):
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    version: Annotated[str, StringConstraints(max_length=200)] = ""


class SuggestionIn(Request):
    output: dict[str, Any] = Field(min_length=1)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    explanation: Annotated[str, StringConstraints(max_length=20_000)] = ""
    model: ModelIn = ModelIn()


class ProposeIn(Request):
    tenant: str = ""
    decision_type: Name
    subject_ref: Name
    input: dict[str, Any] = Field(min_length=1)
    idempotency_key: Name
    attested_suggestion: SuggestionIn | None = None


class DecisionRef(Request):
    tenant: str = ""
    decision_id: uuid.UUID
    language: Language = "fr"


class ListQueueIn(Request):
    tenant: str = ""
    decision_type: str = ""
    actionable_only: bool = False
    page_size: int = Field(default=50, ge=1, le=500)
    page_token: str = ""


class ClaimIn(Request):
    tenant: str = ""
    decision_id: uuid.UUID
    lease: timedelta | None = Field(default=None, gt=timedelta(0), le=timedelta(hours=24))


class DecideIn(Request):
    tenant: str = ""
    decision_id: uuid.UUID
    verdict: Literal["VERDICT_APPROVE", "VERDICT_AMEND", "VERDICT_REJECT"]
    justification: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)] = ""
    amended_output: dict[str, Any] | None = None
    language: Language = "fr"


class QueryEventsIn(Request):
    tenant: str = ""
    decision_id: uuid.UUID | None = None
    kind: str = ""
    since: str | None = None
    until: str | None = None
    page_size: int = Field(default=100, ge=1, le=1000)
    page_token: str = ""


class ExplainIn(Request):
    tenant: str = ""
    decision_id: uuid.UUID
    audience: Literal["AUDIENCE_UNSPECIFIED", "AUDIENCE_INSPECTOR", "AUDIENCE_CITIZEN"] = (
        "AUDIENCE_UNSPECIFIED"
    )
    language: Language = "fr"


class TenantIn(Request):
    tenant: str = ""


_MESSAGES = {
    "missing": "required",
    "uuid_parsing": "must be a UUID",
    "too_short": "must not be empty",
    "string_pattern_mismatch": "must be one word without spaces",
    "literal_error": "must be one of the listed values",
}


def parse(model: type[M], message: Message, *, zero_is_unset: tuple[str, ...] = ()) -> M:
    """Validates a request message into `model`, reporting every bad field at once.

    Raises:
        InvalidArgument: with one field violation per problem, named by wire field path.
    """
    data = json_format.MessageToDict(message, preserving_proto_field_name=True)
    for name in zero_is_unset:
        if data.get(name) in (0, "0", None):
            data.pop(name, None)
    for key in ("decision_id", "language", "tenant"):
        if data.get(key) == "":
            data.pop(key)
    if "lease" in data:
        data["lease"] = timedelta(seconds=float(str(data["lease"]).rstrip("s")))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        violations = [
            FieldViolation(
                ".".join(str(p) for p in err["loc"]),
                _MESSAGES.get(err["type"], err["msg"]),
            )
            for err in exc.errors()
        ]
        raise InvalidArgument(violations) from exc
