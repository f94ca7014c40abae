"""The changes of a tenant's review queue, read from its trail (WatchQueue)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from aval.audit_store import fetch
from aval.audit_store.trail import parsed_body

# The trail's event kinds that change a decision's place in the queue, and what a watcher is
# told of each. A verdict that closes the decision is told once, as "finalized" (the
# `decision.finalized` event that follows it in the same transaction).
CHANGES = {
    "decision.proposed": "proposed",
    "decision.claimed": "claimed",
    "decision.released": "released",
    "review.recorded": "decided",
    "decision.finalized": "finalized",
    "decision.expired": "expired",
}


@dataclass(frozen=True)
class QueueChange:
    """One change of a decision of the queue, at its place in the tenant's trail."""

    seq: int
    decision_id: uuid.UUID
    change: str
    version: int
    occurred_at: datetime
    decision_type: str


async def head(conn: AsyncConnection[Any], tenant_id: str) -> int:
    """The sequence number of the tenant's latest event (0 before its first)."""
    cur = await conn.execute(
        "SELECT coalesce(max(seq), 0) FROM audit_events WHERE tenant_id = %s", (tenant_id,)
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


def _change(row: tuple[Any, ...]) -> QueueChange | None:
    seq, decision_id, kind, occurred_at, canonical, decision_type = row
    data = parsed_body(bytes(canonical)).get("data")
    data = data if isinstance(data, dict) else {}
    if kind == "review.recorded" and data.get("decision_state") != "PENDING_REVIEW":
        return None  # its `decision.finalized` tells it
    version = data.get("decision_version")
    return QueueChange(
        seq=seq,
        decision_id=decision_id,
        change=CHANGES[kind],
        version=version if isinstance(version, int) else 0,
        occurred_at=occurred_at,
        decision_type=decision_type or "",
    )


# One statement, so one snapshot: the head it reports is the head of the events it searched.
_SINCE = """
WITH h AS (SELECT coalesce(max(seq), 0) AS head FROM audit_events WHERE tenant_id = %(tenant)s)
SELECT h.head, e.seq, e.decision_id, e.kind, e.occurred_at, e.canonical, d.decision_type
FROM h
LEFT JOIN LATERAL (
    SELECT seq, decision_id, kind, occurred_at, canonical FROM audit_events
    WHERE tenant_id = %(tenant)s AND seq > %(after)s AND kind = ANY(%(kinds)s)
    ORDER BY seq LIMIT %(limit)s
) e ON true
LEFT JOIN decisions d ON d.tenant_id = %(tenant)s AND d.id = e.decision_id
ORDER BY e.seq
"""


async def since(
    conn: AsyncConnection[Any], tenant_id: str, after_seq: int, *, limit: int = 500
) -> tuple[int, list[QueueChange]]:
    """The queue changes of the tenant after `after_seq`, in trail order (at most `limit`),
    and the sequence number to ask after next time.

    Appends of a tenant are serialised on its chain head until they commit, so a sequence
    number once read is never followed by a smaller one committed later.
    """
    params = {"tenant": tenant_id, "after": after_seq, "kinds": list(CHANGES), "limit": limit}
    rows = await fetch.every(conn, _SINCE, params, tuple)
    found = [row for row in rows if row[1] is not None]
    if len(found) >= limit:
        last = int(found[-1][1])
    else:
        last = max(after_seq, int(rows[0][0]) if rows else after_seq)
    changes = [_change(row[1:]) for row in found]
    return last, [c for c in changes if c is not None]
