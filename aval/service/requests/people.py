"""Requests of the People service."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from aval.service.requests import Request

# Ids longer than any a principal can have (oidc:<issuer name>:<sub of 255>) are refused.
MAX_ID = 300
MAX_IDS = 200

PrincipalId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]


class ResolvePeopleIn(Request):
    tenant: str = ""
    ids: list[PrincipalId] = Field(default_factory=list, max_length=MAX_IDS)
