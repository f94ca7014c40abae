"""Validated requests of the AccessJournal service: a privacy officer's query of the journal."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from aval.service.requests import Request


class QueryAccessJournalIn(Request):
    tenant: str = ""
    reader: Annotated[str, StringConstraints(max_length=200)] = ""
    decision_id: uuid.UUID | None = None
    action: Annotated[str, StringConstraints(max_length=100)] = ""
    since: datetime | None = None
    until: datetime | None = None
    page_size: int = Field(default=100, ge=1, le=1000)
    page_token: str = ""


class ExportAccessJournalIn(Request):
    query: QueryAccessJournalIn = QueryAccessJournalIn()

    @field_validator("query", mode="before")
    @classmethod
    def _no_paging(cls, value: Any) -> Any:
        # The contract ignores paging in an export: neither is checked nor used.
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k not in ("page_size", "page_token")}
        return value
