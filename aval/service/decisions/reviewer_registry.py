"""The reviewer registry (R11): administrators grant, renew and revoke reviewers'
qualifications; Claim and Decide ask for one when the decision type's policy requires it.

A qualification is valid at an instant when the Europe/Paris day of that instant lies between
its valid_from and valid_until days, both included, and it was neither revoked nor superseded
by then. Every change and its audit event commit together (I2); granting again exactly what
is in force changes nothing and writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from psycopg import AsyncConnection, errors

from aval.audit_store import reviewers
from aval.audit_store.reviewers import ALL_TYPES, QualificationRecord
from aval.policies import ReviewPolicy
from aval.service.ai.administration import append_event
from aval.service.deployment import Deployment
from aval.service.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from aval.service.identity import Principal
from aval.service.requests.reviewers import (
    ListQualificationsIn,
    RevokeQualificationIn,
    SetQualificationIn,
    qualification_violations,
)

_FACTS = ("decision_type", "trained_on", "delegated_by", "valid_from", "valid_until")


def paris_day(moment: datetime) -> date:
    """The calendar day of Europe/Paris at `moment` (UTC on a system without time zone data)."""
    try:
        return moment.astimezone(ZoneInfo("Europe/Paris")).date()
    except ZoneInfoNotFoundError:  # pragma: no cover - every supported system has tzdata
        return moment.astimezone(UTC).date()


def french_day(day: date) -> str:
    return f"{day:%d/%m/%Y}"


@dataclass(frozen=True)
class _KnownReviewers:
    """Who may be named a reviewer of a tenant: a listed principal with a role there, or a
    person of an identity provider mapped to it (`oidc:<issuer>:<sub>`; people are not listed,
    their roles come with each token)."""

    listed: frozenset[str]
    person: Callable[[str], bool]

    def __contains__(self, principal_id: object) -> bool:
        return isinstance(principal_id, str) and (
            principal_id in self.listed or self.person(principal_id)
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self.listed)

    def __len__(self) -> int:
        return len(self.listed)


def _known_reviewers(deployment: Deployment, tenant: str) -> _KnownReviewers | None:
    """Who may be named a reviewer in the tenant, when the authenticator lists its principals."""
    authenticator = deployment.authenticator
    principals = getattr(authenticator, "principals", None)
    if principals is None:
        return None
    listed = frozenset(p.id for p in principals if p.roles_in(tenant))
    may_be_person = getattr(authenticator, "may_be_person", None)
    if may_be_person is None:
        return _KnownReviewers(listed, lambda _id: False)
    return _KnownReviewers(listed, lambda principal_id: bool(may_be_person(principal_id, tenant)))


def qualification_data(record: QualificationRecord) -> dict[str, Any]:
    """A qualification as the trail records it (pseudonymous ids, days as YYYY-MM-DD)."""
    return {
        "qualification_id": str(record.id),
        "reviewer_id": record.reviewer_id,
        "decision_type": record.decision_type,
        "trained_on": record.trained_on.isoformat(),
        "delegated_by": record.delegated_by,
        "valid_from": record.valid_from.isoformat(),
        "valid_until": record.valid_until.isoformat(),
    }


async def set_qualification(
    deployment: Deployment, principal: Principal, request: SetQualificationIn
) -> tuple[QualificationRecord, QualificationRecord | None]:
    """Grants a reviewer a qualification, or renews the one in force for the same decision type
    (which is kept, superseded). Returns the qualification in force and the one it renewed.

    Raises:
        PermissionDenied: the caller may not administer the tenant.
        InvalidArgument: naming every bad field.
        Aborted: another administrator changed the same qualification at the same time.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "admin.write")
    known_types = deployment.policies.decision_types(tenant)
    violations = qualification_violations(
        request, known_types, _known_reviewers(deployment, tenant)
    )
    if violations:
        raise InvalidArgument(violations)
    try:
        async with deployment.store.transaction() as conn:
            now = deployment.clock.now()
            old = await reviewers.current(
                conn, tenant, request.reviewer_id, request.decision_type, lock=True
            )
            new = QualificationRecord(
                tenant_id=tenant,
                id=uuid.uuid4(),
                reviewer_id=request.reviewer_id,
                decision_type=request.decision_type,
                trained_on=request.day("trained_on"),
                delegated_by=request.delegated_by,
                valid_from=request.day("valid_from"),
                valid_until=request.day("valid_until"),
                granted_by=principal.id,
                granted_at=now,
                reason=request.reason,
                renews=old.id if old is not None else None,
            )
            if old is not None and all(getattr(old, n) == getattr(new, n) for n in _FACTS):
                return old, None
            if old is not None:
                await reviewers.supersede(conn, old, new.id, now)
                old = replace(old, superseded_at=now, superseded_by=new.id)
            await reviewers.insert(conn, new)
            data = {
                **qualification_data(new),
                "renews": str(old.id) if old is not None else None,
                "reason": request.reason,
            }
            await append_event(conn, tenant, principal, "admin.reviewer_qualified", data, now)
            return new, old
    except errors.UniqueViolation as exc:
        raise Aborted("QUALIFICATION_CHANGED_MEANWHILE", reviewer=request.reviewer_id) from exc


async def revoke_qualification(
    deployment: Deployment, principal: Principal, request: RevokeQualificationIn
) -> QualificationRecord:
    """Revokes a qualification in force; it stays in the history.

    Raises:
        NotFound: no such qualification in the tenant.
        FailedPrecondition: it is already revoked or superseded.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "admin.write")
    async with deployment.store.transaction() as conn:
        now = deployment.clock.now()
        found = await reviewers.get(conn, tenant, request.qualification_id, lock=True)
        if found is None:
            raise NotFound("QUALIFICATION_NOT_FOUND", qualification=request.qualification_id)
        if found.revoked_at is not None or found.superseded_at is not None:
            raise FailedPrecondition("QUALIFICATION_NOT_IN_FORCE", qualification=found.id)
        revoked = await reviewers.revoke(conn, found, principal.id, now, request.reason)
        data = {**qualification_data(revoked), "reason": request.reason}
        await append_event(
            conn, tenant, principal, "admin.reviewer_qualification_revoked", data, now
        )
        return revoked


async def list_qualifications(
    deployment: Deployment, principal: Principal, request: ListQualificationsIn
) -> list[QualificationRecord]:
    """A tenant's qualifications in force (or every one ever granted, with `history`)."""
    tenant = deployment.tenant_for(principal, request.tenant, "admin.read")
    async with deployment.store.reading() as conn:
        return await reviewers.listing(conn, tenant, request.reviewer_id, history=request.history)


async def required_qualification(
    conn: AsyncConnection[Any],
    tenant: str,
    principal: Principal,
    policy: ReviewPolicy,
    now: datetime,
) -> QualificationRecord | None:
    """The qualification that lets `principal` review decisions of the policy's type now;
    None when the policy does not require one.

    Raises:
        PermissionDenied: QUALIFICATION_MISSING, _EXPIRED, _NOT_YET_VALID or _REVOKED, each
            naming the day and the fix (an administrator grants or renews it).
    """
    if not policy.requires_qualification:
        return None
    rows = await reviewers.of_reviewer(conn, tenant, principal.id, policy.decision_type)
    return valid_qualification(rows, principal.id, policy.decision_type, now)


def valid_qualification(
    rows: list[QualificationRecord], reviewer: str, decision_type: str, now: datetime
) -> QualificationRecord:
    """Of every qualification ever granted to `reviewer` for `decision_type` (or for all
    types), the one valid at `now` (the latest ending when several are).

    Raises:
        PermissionDenied: as `required_qualification`.
    """
    today = paris_day(now)
    in_force = [r for r in rows if not r.ended_at(now) and r.covers(decision_type)]
    valid = [r for r in in_force if r.valid_from <= today <= r.valid_until]
    if valid:
        return max(valid, key=lambda r: (r.valid_until, r.granted_at))
    who = {"reviewer": reviewer, "decision_type": decision_type}
    expired = [r.valid_until for r in in_force if r.valid_until < today]
    later = [r.valid_from for r in in_force if r.valid_from > today]
    if later:
        raise PermissionDenied(
            "QUALIFICATION_NOT_YET_VALID", **who, valid_from=french_day(min(later))
        )
    if expired:
        raise PermissionDenied("QUALIFICATION_EXPIRED", **who, valid_until=french_day(max(expired)))
    revoked = [r.revoked_at for r in rows if r.revoked_at is not None and r.revoked_at <= now]
    if revoked:
        raise PermissionDenied(
            "QUALIFICATION_REVOKED", **who, revoked_on=french_day(paris_day(max(revoked)))
        )
    raise PermissionDenied("QUALIFICATION_MISSING", **who)


def used(record: QualificationRecord | None) -> dict[str, Any]:
    """What a claim or verdict event records of the qualification it relied on."""
    if record is None:
        return {}
    return {
        "qualification": {
            "id": str(record.id),
            "decision_type": record.decision_type,
            "valid_from": record.valid_from.isoformat(),
            "valid_until": record.valid_until.isoformat(),
        }
    }


__all__ = [
    "ALL_TYPES",
    "list_qualifications",
    "paris_day",
    "required_qualification",
    "revoke_qualification",
    "set_qualification",
    "used",
]
