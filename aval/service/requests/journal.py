"""Validated requests of the AccessJournal service: a privacy officer's query of the journal."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

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
