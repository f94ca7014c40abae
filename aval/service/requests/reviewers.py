"""Validated requests of the reviewer registry (R11) and of ReloadConfiguration (I6).

`parse` checks presence and lengths; `qualification_violations` checks what needs the domain's
words: printable text, days that exist, their order, and the reviewer and decision type where
the deployment knows them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from aval.audit_store.reviewers import ALL_TYPES
from aval.service.errors import FieldViolation
from aval.service.requests import Request
from aval.service.text import visible

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# No qualification runs before the first days of the gateway nor for ever: a typo (20260 for
# 2026) is refused, not stored.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2199, 12, 31)

Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    AfterValidator(visible),
]
Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Day = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10)]


class SetQualificationIn(Request):
    tenant: str = ""
    reviewer_id: Word
    decision_type: Word
    trained_on: Day
    delegated_by: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=300),
        AfterValidator(visible),
    ]
    valid_from: Day
    valid_until: Day
    reason: Reason

    def day(self, name: str) -> date:
        """A day field, once `qualification_violations` found none."""
        return date.fromisoformat(getattr(self, name))


class RevokeQualificationIn(Request):
    tenant: str = ""
    qualification_id: uuid.UUID
    reason: Reason


class ListQualificationsIn(Request):
    tenant: str = ""
    reviewer_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    history: bool = False


class ReloadIn(Request):
    tenant: str = ""
    reason: Reason


def printable_violations(field: str, text: str) -> list[FieldViolation]:
    """A name people read and compare: no control, format (zero-width, bidi) or separator
    character but the plain space, which could make two names look alike."""
    if text.isprintable():
        return []
    bad = next(c for c in text if not c.isprintable())
    return [FieldViolation(field, "NOT_PRINTABLE", {"character": f"U+{ord(bad):04X}"})]


def _day_violations(field: str, text: str) -> list[FieldViolation]:
    try:
        if not _DAY.match(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        return [FieldViolation(field, "NOT_A_DAY", {"value": text})]
    if not FIRST_DAY <= day <= LAST_DAY:
        first, last = FIRST_DAY.isoformat(), LAST_DAY.isoformat()
        return [FieldViolation(field, "DAY_OUT_OF_RANGE", {"first": first, "last": last})]
    return []


def qualification_violations(
    request: SetQualificationIn,
    decision_types: Collection[str],
    reviewers: Collection[str] | None,
) -> list[FieldViolation]:
    """Every problem of a grant at once.

    Args:
        request: The parsed request.
        decision_types: The tenant's decision types.
        reviewers: The ids of principals holding a role in the tenant, when the deployment
            knows them all (a principals file); None when it cannot know (e.g. OpenID).
    """
    violations: list[FieldViolation] = []
    for name in ("reviewer_id", "decision_type", "delegated_by"):
        violations += printable_violations(name, getattr(request, name))
    if " " in request.reviewer_id:
        violations.append(FieldViolation("reviewer_id", "ONE_WORD"))
    days = ("trained_on", "valid_from", "valid_until")
    bad_days = [v for name in days for v in _day_violations(name, getattr(request, name))]
    violations += bad_days
    if not bad_days:
        trained, start, end = (request.day(name) for name in days)
        if start > end:
            violations.append(
                FieldViolation(
                    "valid_until",
                    "UNTIL_BEFORE_FROM",
                    {"valid_from": start.isoformat(), "valid_until": end.isoformat()},
                )
            )
        if trained > start:
            violations.append(
                FieldViolation(
                    "trained_on",
                    "TRAINED_AFTER_START",
                    {"trained_on": trained.isoformat(), "valid_from": start.isoformat()},
                )
            )
    named = {v.field for v in violations}
    known = sorted(decision_types)
    unknown_type = request.decision_type != ALL_TYPES and request.decision_type not in known
    if "decision_type" not in named and unknown_type:
        params = {"decision_type": request.decision_type, "known": ", ".join(known) or "none"}
        violations.append(FieldViolation("decision_type", "UNKNOWN_QUALIFICATION_TYPE", params))
    if (
        "reviewer_id" not in named
        and reviewers is not None
        and request.reviewer_id not in reviewers
    ):
        violations.append(
            FieldViolation("reviewer_id", "UNKNOWN_REVIEWER", {"reviewer": request.reviewer_id})
        )
    return violations
