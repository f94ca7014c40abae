"""SQL for pin requests: the four-eyes change of an AI system's pinned version (R18), or of
what its pinned version answers (a configuration change request).

Every function runs on the caller's connection and transaction, beside the registry's
(`registry.py`) and the audit event of the change (I2).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from aval.audit_store import fetch

PIN_STATES = ("PENDING", "APPROVED", "REFUSED", "SUPERSEDED")


@dataclass(frozen=True)
class FieldChange:
    """One field of an AI system that a configuration change request changes."""

    field: str
    previous: str
    value: str


@dataclass(frozen=True)
class PinRequestRecord:
    """A request to change the pinned version of an AI system, or (when `changes` is not
    empty, and `version` is "") its configuration; and what became of it."""

    tenant_id: str
    id: uuid.UUID
    ai_system: str
    version: str
    reason: str
    requested_by: str
    requested_at: datetime
    state: str = "PENDING"  # one of PIN_STATES
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str = ""
    previous_version: str | None = None
    changes: tuple[FieldChange, ...] = ()

    @property
    def is_configuration(self) -> bool:
        return bool(self.changes)


_PIN = (
    "tenant_id, id, ai_system, version, reason, requested_by, requested_at, state, decided_by, "
    "decided_at, decision_reason, previous_version, configuration"
)


def _pin(row: Sequence[Any]) -> PinRequestRecord:
    (
        tenant,
        id_,
        system,
        version,
        reason,
        by,
        at,
        state,
        decider,
        decided,
        why,
        previous,
        changes,
    ) = row
    return PinRequestRecord(
        tenant_id=tenant,
        id=id_,
        ai_system=system,
        version=version or "",  # NULL for a configuration change request
        reason=reason,
        requested_by=by,
        requested_at=at,
        state=state,
        decided_by=decider,
        decided_at=decided,
        decision_reason=why,
        previous_version=previous,
        changes=tuple(FieldChange(c["field"], c["previous"], c["value"]) for c in changes or []),
    )


async def insert_pin_request(conn: AsyncConnection[Any], request: PinRequestRecord) -> None:
    """Records a new pin request or configuration change request (state PENDING)."""
    placeholders = ", ".join(["%s"] * len(_PIN.split(", ")))
    configuration = [
        {"field": c.field, "previous": c.previous, "value": c.value} for c in request.changes
    ]
    await conn.execute(
        f"INSERT INTO pin_requests ({_PIN}) VALUES ({placeholders})",
        (
            request.tenant_id,
            request.id,
            request.ai_system,
            None if request.changes else request.version,
            request.reason,
            request.requested_by,
            request.requested_at,
            request.state,
            request.decided_by,
            request.decided_at,
            request.decision_reason,
            request.previous_version,
            Jsonb(configuration) if request.changes else None,
        ),
    )


async def get_pin_request(
    conn: AsyncConnection[Any], tenant_id: str, request_id: uuid.UUID, *, for_update: bool = False
) -> PinRequestRecord | None:
    """One pin request of a tenant; FOR UPDATE locks it until the transaction ends."""
    lock = " FOR UPDATE" if for_update else ""
    return await fetch.one(
        conn,
        f"SELECT {_PIN} FROM pin_requests WHERE tenant_id = %s AND id = %s{lock}",
        (tenant_id, request_id),
        _pin,
    )


async def list_pin_requests(
    conn: AsyncConnection[Any], tenant_id: str, *, pending_only: bool = False
) -> list[PinRequestRecord]:
    """A tenant's pin requests: pending ones first, then the others; latest first in each."""
    where = " AND state = 'PENDING'" if pending_only else ""
    return await fetch.every(
        conn,
        f"SELECT {_PIN} FROM pin_requests WHERE tenant_id = %s{where}"
        " ORDER BY state <> 'PENDING', requested_at DESC, id",
        (tenant_id,),
        _pin,
    )


async def close_pin_request(
    conn: AsyncConnection[Any],
    request: PinRequestRecord,
    *,
    state: str,
    decided_by: str,
    decided_at: datetime,
    reason: str,
) -> PinRequestRecord:
    """Marks a pending request APPROVED or REFUSED; returns it as stored.

    The caller holds its row lock (`get_pin_request(..., for_update=True)`).
    """
    cur = await conn.execute(
        "UPDATE pin_requests SET state = %s, decided_by = %s, decided_at = %s,"
        f" decision_reason = %s WHERE tenant_id = %s AND id = %s RETURNING {_PIN}",
        (state, decided_by, decided_at, reason, request.tenant_id, request.id),
    )
    row = await cur.fetchone()
    assert row is not None, "the caller holds the request's lock"
    return _pin(row)


async def supersede_pending(
    conn: AsyncConnection[Any],
    tenant_id: str,
    ai_system: str,
    *,
    approved: uuid.UUID | None,
    decided_by: str,
    decided_at: datetime,
    configuration: bool = False,
) -> list[uuid.UUID]:
    """Marks SUPERSEDED the other pending requests of an AI system, of the same sort (pins, or
    configuration changes when `configuration`), once one is approved (or, with `approved`
    None, once its configuration changed otherwise)."""
    sort = "configuration IS NOT NULL" if configuration else "configuration IS NULL"
    why = f"superseded by {approved}" if approved else "superseded by a direct change"
    cur = await conn.execute(
        "UPDATE pin_requests SET state = 'SUPERSEDED', decided_by = %s, decided_at = %s,"
        " decision_reason = %s"
        f" WHERE tenant_id = %s AND ai_system = %s AND state = 'PENDING' AND {sort}"
        " AND id IS DISTINCT FROM %s RETURNING id",
        (decided_by, decided_at, why, tenant_id, ai_system, approved),
    )
    return sorted(row[0] for row in await cur.fetchall())
