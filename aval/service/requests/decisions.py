"""Validated requests of the Gateway and Review services: propose, read, claim, decide."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from aval.service.requests import Language, Name, Request


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
    claimed_by_me: bool = False
    deadline_before: datetime | None = None
    not_seen_by_me: bool = False


class ClaimIn(Request):
    tenant: str = ""
    decision_id: uuid.UUID
    lease: timedelta | None = Field(default=None, gt=timedelta(0), le=timedelta(hours=24))
    seen_version: int = Field(default=0, ge=0)


class ReleaseIn(Request):
    tenant: str = ""
    decision_id: uuid.UUID


class DecideIn(Request):
    tenant: str = ""
    decision_id: uuid.UUID
    verdict: Literal["VERDICT_APPROVE", "VERDICT_AMEND", "VERDICT_REJECT"]
    justification: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)] = ""
    amended_output: dict[str, Any] | None = None
    language: Language = "fr"
    seen_version: int = Field(default=0, ge=0)


class CaseIn(Request):
    tenant: str = ""
    decision_id: uuid.UUID
    language: Language = "fr"


class RecordViewIn(Request):
    tenant: str = ""
    decision_id: uuid.UUID
    verdict: Literal["VERDICT_APPROVE", "VERDICT_AMEND", "VERDICT_REJECT"]
    output: dict[str, Any] | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)] = ""
    seen_version: int = Field(default=0, ge=0)
