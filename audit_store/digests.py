"""Events as verification reads them, their stored columns compared with their hashed bytes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection

from . import trail
from .chain import utc_iso
from .records import AuditEvent


@dataclass(frozen=True)
class EventDigest:
    """What verifying one event needs: the chain's fields, and the outcome of comparing the
    stored columns with the hashed bytes (done by PostgreSQL when verifying in the database)."""

    seq: int
    canonical: bytes
    prev_hash: bytes
    hash: bytes
    decision_id: str
    occurred_at: datetime
    # Names of the stored columns that disagree with the canonical bytes; "" when none.
    mismatched: str
    # The decision's (state, version) after this event, when the event says it.
    state: tuple[str, int] | None


# Columns stored beside the canonical bytes, and where the bytes say the same thing.
def _derived_mismatches(event: AuditEvent, parsed: dict[str, Any]) -> list[str]:
    actor = parsed.get("actor") or {}
    expected = {
        "tenant": (event.tenant_id, parsed.get("tenant")),
        "event_id": (str(event.event_id), parsed.get("event_id")),
        "decision_id": (
            str(event.decision_id) if event.decision_id else "",
            parsed.get("decision_id"),
        ),
        "kind": (event.kind, parsed.get("kind")),
        "actor.id": (event.actor_id, actor.get("id")),
        "actor.type": (event.actor_type, actor.get("type")),
        "trace_id": (event.trace_id, parsed.get("trace_id")),
        "schema_version": (event.schema_version, parsed.get("schema_version")),
        "body": (event.body, parsed),
    }
    return [name for name, (stored, canonical) in expected.items() if stored != canonical]


def digest_of(event: AuditEvent) -> EventDigest:
    """An event's digest, its columns compared with its canonical bytes in Python."""
    mismatched: list[str] = []
    state = None
    try:
        parsed = json.loads(event.canonical)
    except ValueError:
        mismatched.append("canonical bytes are not JSON")
    else:
        mismatched = _derived_mismatches(event, parsed)
        if parsed.get("occurred_at") != utc_iso(event.occurred_at):
            mismatched.append("occurred_at")
        data = parsed.get("data") or {}
        if "decision_state" in data:
            try:
                state = (str(data["decision_state"]), int(data.get("decision_version", 0)))
            except (TypeError, ValueError):
                mismatched.append("data.decision_version")
    return EventDigest(
        seq=event.seq,
        canonical=event.canonical,
        prev_hash=event.prev_hash,
        hash=event.hash,
        decision_id=str(event.decision_id) if event.decision_id else "",
        occurred_at=event.occurred_at,
        mismatched=", ".join(mismatched),
        state=state,
    )


# The same comparisons as digest_of, made by PostgreSQL: a verifier that reads millions of
# events must not parse their JSON in Python.
_DIGESTS = """
SELECT e.seq, e.canonical, e.prev_hash, e.hash, coalesce(e.decision_id::text, ''), e.occurred_at,
    concat_ws(', ',
        CASE WHEN e.tenant_id IS DISTINCT FROM j->>'tenant' THEN 'tenant' END,
        CASE WHEN e.event_id::text IS DISTINCT FROM j->>'event_id' THEN 'event_id' END,
        CASE WHEN coalesce(e.decision_id::text, '') IS DISTINCT FROM j->>'decision_id'
             THEN 'decision_id' END,
        CASE WHEN e.kind IS DISTINCT FROM j->>'kind' THEN 'kind' END,
        CASE WHEN e.actor_id IS DISTINCT FROM j->'actor'->>'id' THEN 'actor.id' END,
        CASE WHEN e.actor_type IS DISTINCT FROM j->'actor'->>'type' THEN 'actor.type' END,
        CASE WHEN e.trace_id IS DISTINCT FROM j->>'trace_id' THEN 'trace_id' END,
        CASE WHEN e.schema_version::text IS DISTINCT FROM j->>'schema_version'
             THEN 'schema_version' END,
        CASE WHEN e.body IS DISTINCT FROM j THEN 'body' END,
        CASE WHEN e.occurred_at IS DISTINCT FROM (j->>'occurred_at')::timestamptz
             THEN 'occurred_at' END),
    j->'data'->>'decision_state', (j->'data'->>'decision_version')::bigint
FROM audit_events e
-- OFFSET 0 keeps the planner from pasting the parse into each use of j (a dozen parses)
CROSS JOIN LATERAL (SELECT convert_from(e.canonical, 'UTF8')::jsonb AS j OFFSET 0) AS parsed
WHERE e.tenant_id = %s AND e.seq >= %s AND e.seq < %s
ORDER BY e.seq
"""


def _digest_of_row(row: tuple[Any, ...]) -> EventDigest:
    seq, canonical, prev, hash_, decision, occurred_at, mismatched, state, version = row
    return EventDigest(
        seq=seq,
        canonical=bytes(canonical),
        prev_hash=bytes(prev),
        hash=bytes(hash_),
        decision_id=decision,
        occurred_at=occurred_at,
        mismatched=mismatched,
        state=(state, version) if state is not None else None,
    )


async def iter_digests(
    conn: AsyncConnection[Any], tenant_id: str, *, batch: int = 5_000
) -> AsyncIterator[EventDigest]:
    """Every event of a tenant in sequence order, compared with its bytes by PostgreSQL.

    Reads by ranges of sequence numbers (each an index range scan, whatever the planner's
    statistics say), jumping over gaps. A range whose bytes PostgreSQL cannot read as JSON
    (tampered ones) is read again and compared in Python, which names the problem. The next
    range is fetched while the caller checks the current one.
    """

    async def fetch(start: int) -> tuple[list[EventDigest], int | None]:
        end = start + batch
        try:
            async with conn.transaction(), conn.cursor(binary=True) as cur:  # a savepoint
                await cur.execute(_DIGESTS, (tenant_id, start, end))
                digests = [_digest_of_row(row) for row in await cur.fetchall()]
        except psycopg.DataError:
            events = await trail.query_events(
                conn, trail.EventFilter(tenant_id), after_seq=start - 1, limit=batch
            )
            digests = [digest_of(event) for event in events if event.seq < end]
        return digests, await _next_seq(conn, tenant_id, end - 1)

    start = await _next_seq(conn, tenant_id, None)
    if start is None:
        return
    pending: asyncio.Future[tuple[list[EventDigest], int | None]] | None = asyncio.ensure_future(
        fetch(start)
    )
    try:
        while pending is not None:
            digests, start = await pending
            pending = asyncio.ensure_future(fetch(start)) if start is not None else None
            await asyncio.sleep(0)  # let the next fetch send its query before we get busy
            for digest in digests:
                yield digest
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending


async def _next_seq(conn: AsyncConnection[Any], tenant_id: str, after: int | None) -> int | None:
    """The smallest sequence number above `after` (any, when None), or None."""
    if after is None:
        cur = await conn.execute(
            "SELECT min(seq) FROM audit_events WHERE tenant_id = %s", (tenant_id,)
        )
    else:
        cur = await conn.execute(
            "SELECT min(seq) FROM audit_events WHERE tenant_id = %s AND seq > %s",
            (tenant_id, after),
        )
    row = await cur.fetchone()
    return None if row is None or row[0] is None else int(row[0])
