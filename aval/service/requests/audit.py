"""Validated requests of the Audit service: query, export, explain, count, prove, verify."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from aval.service.requests import Language, Request
from aval.verifier.witness_policy import MAX_WITNESSES, WitnessPolicy, parse_policy


class QueryEventsIn(Request):
    tenant: str = ""
    decision_id: uuid.UUID | None = None
    kind: str = ""
    since: datetime | None = None
    until: datetime | None = None
    page_size: int = Field(default=100, ge=1, le=1000)
    page_token: str = ""
    tenants: list[str] = Field(default_factory=list, max_length=200)
    decision_type: Annotated[str, StringConstraints(max_length=200)] = ""
    ai_system: Annotated[str, StringConstraints(max_length=200)] = ""
    model_version: Annotated[str, StringConstraints(max_length=200)] = ""
    reviewer: Annotated[str, StringConstraints(max_length=200)] = ""
    verdict: Literal[
        "VERDICT_UNSPECIFIED", "VERDICT_APPROVE", "VERDICT_AMEND", "VERDICT_REJECT"
    ] = "VERDICT_UNSPECIFIED"
    overrode: bool | None = None


class ExportEventsIn(Request):
    query: QueryEventsIn = QueryEventsIn()
    format: Literal["EXPORT_FORMAT_UNSPECIFIED", "EXPORT_FORMAT_JSONL", "EXPORT_FORMAT_CSV"] = (
        "EXPORT_FORMAT_UNSPECIFIED"
    )
    inclusion_proofs: bool = False
    proof_tree_size: int = Field(default=0, ge=0)

    @field_validator("query", mode="before")
    @classmethod
    def _no_paging(cls, value: Any) -> Any:
        # The contract ignores paging in an export: neither is checked nor used.
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k not in ("page_size", "page_token")}
        return value


class ExplainIn(Request):
    tenant: str = ""
    decision_id: uuid.UUID
    audience: Literal["AUDIENCE_UNSPECIFIED", "AUDIENCE_INSPECTOR", "AUDIENCE_CITIZEN"] = (
        "AUDIENCE_UNSPECIFIED"
    )
    language: Language = "fr"
    format: Literal["TEXT_FORMAT_UNSPECIFIED", "TEXT_FORMAT_MARKDOWN", "TEXT_FORMAT_HTML"] = (
        "TEXT_FORMAT_UNSPECIFIED"
    )


class StatsIn(Request):
    tenant: str = ""
    tenants: list[str] = Field(default_factory=list, max_length=200)
    since: datetime | None = None
    until: datetime | None = None
    rubber_stamp_approval_rate: float = Field(default=0.0, ge=0.0, le=1.0, allow_inf_nan=False)
    rubber_stamp_review_seconds: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)


class ProveInclusionIn(Request):
    tenant: str = ""
    # One of the two names the event (checked by the use case: both are optional here).
    seq: int = Field(default=0, ge=0)
    event_id: uuid.UUID | None = None
    tree_size: int = Field(default=0, ge=0)


class ProveConsistencyIn(Request):
    tenant: str = ""
    old_size: int = Field(ge=1)
    new_size: int = Field(default=0, ge=0)


class VerifyIn(Request):
    tenant: str = ""
    since: datetime | None = None
    # The witness policy (docs/witness.md): verifier key strings and the quorum.
    witnesses: list[Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default_factory=list, max_length=MAX_WITNESSES
    )
    witness_quorum: int = Field(default=0, ge=0, le=MAX_WITNESSES)

    @model_validator(mode="after")
    def _policy(self) -> VerifyIn:
        parse_policy(self.witnesses, self.witness_quorum)  # a ValueError names the mistake
        return self

    @property
    def policy(self) -> WitnessPolicy | None:
        """The witness policy the request asks for; None without witnesses."""
        return parse_policy(self.witnesses, self.witness_quorum)
    strict: bool = False
