"""SQL for pin requests: the four-eyes change of an AI system's pinned version (R18).

Every function runs on the caller's connection and transaction, beside the registry's
(`registry.py`) and the audit event of the change (I2).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

PIN_STATES = ("PENDING", "APPROVED", "REFUSED", "SUPERSEDED")


@dataclass(frozen=True)
class PinRequestRecord:
    """A request to change the pinned version of an AI system, and what became of it."""

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


_PIN = (
    "tenant_id, id, ai_system, version, reason, requested_by, requested_at, state, decided_by, "
    "decided_at, decision_reason, previous_version"
)


def _pin(row: Sequence[Any]) -> PinRequestRecord:
    return PinRequestRecord(*row)


async def insert_pin_request(conn: AsyncConnection[Any], request: PinRequestRecord) -> None:
    """Records a new pin request (state PENDING)."""
    placeholders = ", ".join(["%s"] * len(_PIN.split(", ")))
    await conn.execute(
        f"INSERT INTO pin_requests ({_PIN}) VALUES ({placeholders})", astuple(request)
    )


async def get_pin_request(
    conn: AsyncConnection[Any], tenant_id: str, request_id: uuid.UUID, *, for_update: bool = False
) -> PinRequestRecord | None:
    """One pin request of a tenant; FOR UPDATE locks it until the transaction ends."""
    lock = " FOR UPDATE" if for_update else ""
    cur = await conn.execute(
        f"SELECT {_PIN} FROM pin_requests WHERE tenant_id = %s AND id = %s{lock}",
        (tenant_id, request_id),
    )
    row = await cur.fetchone()
    return None if row is None else _pin(row)


async def list_pin_requests(
    conn: AsyncConnection[Any], tenant_id: str, *, pending_only: bool = False
) -> list[PinRequestRecord]:
    """A tenant's pin requests: pending ones first, then the others; latest first in each."""
    where = " AND state = 'PENDING'" if pending_only else ""
    cur = await conn.execute(
        f"SELECT {_PIN} FROM pin_requests WHERE tenant_id = %s{where}"
        " ORDER BY state <> 'PENDING', requested_at DESC, id",
        (tenant_id,),
    )
    return [_pin(row) for row in await cur.fetchall()]


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
    approved: uuid.UUID,
    decided_by: str,
    decided_at: datetime,
) -> list[uuid.UUID]:
    """Marks SUPERSEDED the other pending requests of an AI system once one is approved."""
    cur = await conn.execute(
        "UPDATE pin_requests SET state = 'SUPERSEDED', decided_by = %s, decided_at = %s,"
        " decision_reason = %s"
        " WHERE tenant_id = %s AND ai_system = %s AND state = 'PENDING' AND id <> %s"
        " RETURNING id",
        (decided_by, decided_at, f"superseded by {approved}", tenant_id, ai_system, approved),
    )
    return sorted(row[0] for row in await cur.fetchall())
