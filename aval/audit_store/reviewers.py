"""SQL for the reviewer registry (R11): who may review which decision types of a tenant, with
their training and delegation, for a span of Europe/Paris days (migration 0014).

Rows are history: a renewal inserts a new row and marks the one it replaces superseded, a
revocation marks its row revoked; nothing is deleted and no fact changes (a trigger refuses
it). Every function runs on the caller's connection and transaction, beside the audit event of
the change (I2).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection

from aval.audit_store import fetch

# The decision_type of a qualification for every decision type of its tenant.
ALL_TYPES = "*"


@dataclass(frozen=True)
class QualificationRecord:
    """One qualification of a reviewer, and what became of it."""

    tenant_id: str
    id: uuid.UUID
    reviewer_id: str
    decision_type: str  # a decision type of the tenant, or ALL_TYPES
    trained_on: date
    delegated_by: str
    valid_from: date  # Europe/Paris days, both ends included
    valid_until: date
    granted_by: str
    granted_at: datetime
    reason: str
    renews: uuid.UUID | None = None
    superseded_at: datetime | None = None
    superseded_by: uuid.UUID | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    def covers(self, decision_type: str) -> bool:
        return self.decision_type in (ALL_TYPES, decision_type)

    def ended_at(self, now: datetime) -> bool:
        """Whether it was revoked or superseded at or before `now`."""
        return any(t is not None and t <= now for t in (self.revoked_at, self.superseded_at))


_COLUMNS = (
    "tenant_id, id, reviewer_id, decision_type, trained_on, delegated_by, valid_from, "
    "valid_until, granted_by, granted_at, reason, renews, superseded_at, superseded_by, "
    "revoked_at, revoked_by, revoke_reason"
)


def _record(row: Sequence[Any]) -> QualificationRecord:
    return QualificationRecord(*row)


async def insert(conn: AsyncConnection[Any], record: QualificationRecord) -> None:
    """Records a new qualification."""
    placeholders = ", ".join(["%s"] * len(_COLUMNS.split(", ")))
    values = [getattr(record, name) for name in _COLUMNS.split(", ")]
    await conn.execute(
        f"INSERT INTO reviewer_qualifications ({_COLUMNS}) VALUES ({placeholders})", values
    )


async def get(
    conn: AsyncConnection[Any], tenant_id: str, qualification_id: uuid.UUID, *, lock: bool = False
) -> QualificationRecord | None:
    """One qualification of a tenant; `lock` holds its row until the transaction ends."""
    tail = " FOR UPDATE" if lock else ""
    return await fetch.one(
        conn,
        f"SELECT {_COLUMNS} FROM reviewer_qualifications WHERE tenant_id = %s AND id = %s{tail}",
        (tenant_id, qualification_id),
        _record,
    )


async def current(
    conn: AsyncConnection[Any],
    tenant_id: str,
    reviewer_id: str,
    decision_type: str,
    *,
    lock: bool = False,
) -> QualificationRecord | None:
    """The row in force (neither superseded nor revoked) for exactly that reviewer and
    decision type (ALL_TYPES included as itself), if any."""
    tail = " FOR UPDATE" if lock else ""
    return await fetch.one(
        conn,
        f"SELECT {_COLUMNS} FROM reviewer_qualifications WHERE tenant_id = %s"
        " AND reviewer_id = %s AND decision_type = %s AND superseded_at IS NULL"
        f" AND revoked_at IS NULL ORDER BY granted_at DESC, id LIMIT 1{tail}",
        (tenant_id, reviewer_id, decision_type),
        _record,
    )


async def of_reviewer(
    conn: AsyncConnection[Any], tenant_id: str, reviewer_id: str, decision_type: str
) -> list[QualificationRecord]:
    """Every row ever granted to a reviewer for a decision type or for all types, latest first."""
    return await fetch.every(
        conn,
        f"SELECT {_COLUMNS} FROM reviewer_qualifications WHERE tenant_id = %s"
        " AND reviewer_id = %s AND decision_type IN (%s, %s)"
        " ORDER BY granted_at DESC, id",
        (tenant_id, reviewer_id, decision_type, ALL_TYPES),
        _record,
    )


async def listing(
    conn: AsyncConnection[Any], tenant_id: str, reviewer_id: str = "", *, history: bool = False
) -> list[QualificationRecord]:
    """A tenant's qualifications by reviewer and decision type; only those in force unless
    `history`."""
    where = " AND reviewer_id = %s" if reviewer_id else ""
    if not history:
        where += " AND superseded_at IS NULL AND revoked_at IS NULL"
    params: tuple[Any, ...] = (tenant_id, reviewer_id) if reviewer_id else (tenant_id,)
    return await fetch.every(
        conn,
        f"SELECT {_COLUMNS} FROM reviewer_qualifications WHERE tenant_id = %s{where}"
        " ORDER BY reviewer_id, decision_type, granted_at DESC, id",
        params,
        _record,
    )


async def supersede(
    conn: AsyncConnection[Any], old: QualificationRecord, by: uuid.UUID, at: datetime
) -> None:
    """Marks the row `old` superseded by the new row `by` (inserted in the same transaction)."""
    await conn.execute(
        "UPDATE reviewer_qualifications SET superseded_at = %s, superseded_by = %s"
        " WHERE tenant_id = %s AND id = %s AND superseded_at IS NULL",
        (at, by, old.tenant_id, old.id),
    )


async def revoke(
    conn: AsyncConnection[Any], old: QualificationRecord, by: str, at: datetime, reason: str
) -> QualificationRecord:
    """Marks a row revoked; returns it as stored. The caller holds its lock."""
    cur = await conn.execute(
        "UPDATE reviewer_qualifications SET revoked_at = %s, revoked_by = %s, revoke_reason = %s"
        f" WHERE tenant_id = %s AND id = %s RETURNING {_COLUMNS}",
        (at, by, reason, old.tenant_id, old.id),
    )
    row = await cur.fetchone()
    assert row is not None, "the caller holds the row's lock"
    return _record(row)
