"""Appending to and reading the audit trail (SQL side of the hash chain)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from aval.audit_store import fetch, seals
from aval.audit_store.chain import NewEvent
from aval.verifier.chain import parse_json
from aval.verifier.events import AuditEvent

IDLE = TransactionStatus.IDLE

_EVENT_COLUMNS = (
    "tenant_id, seq, event_id, occurred_at, decision_id, kind, actor_id, actor_type, trace_id, "
    "schema_version, canonical, prev_hash, hash"
)


def parsed_body(canonical: bytes) -> dict[str, Any]:
    """An event's content as its hashed bytes say it; {} when they are not a JSON object
    (tampered bytes: verification names them)."""
    try:
        body = parse_json(canonical)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _event(row: dict[str, Any]) -> AuditEvent:
    canonical = bytes(row["canonical"])
    return AuditEvent(
        tenant_id=row["tenant_id"],
        seq=row["seq"],
        event_id=row["event_id"],
        occurred_at=row["occurred_at"],
        decision_id=row["decision_id"],
        kind=row["kind"],
        actor_id=row["actor_id"],
        actor_type=row["actor_type"],
        trace_id=row["trace_id"],
        schema_version=row["schema_version"],
        body=parsed_body(canonical),
        canonical=canonical,
        prev_hash=bytes(row["prev_hash"]),
        hash=bytes(row["hash"]),
    )


async def append_events(
    conn: AsyncConnection[Any],
    tenant_id: str,
    events: Sequence[NewEvent],
    *,
    occurred_at: datetime,
    trace_id: str,
) -> list[tuple[int, bytes]]:
    """Appends events to the tenant's chain, in order, within the caller's transaction.

    Takes the lock on the tenant's chain head until the transaction ends; returns each event's
    (seq, hash). Call it last in a transaction to hold that lock the shortest time.
    """
    return await append_encoded(
        conn, tenant_id, [e.canonical(tenant_id, occurred_at, trace_id) for e in events]
    )


async def append_encoded(
    conn: AsyncConnection[Any], tenant_id: str, canonical: Sequence[bytes]
) -> list[tuple[int, bytes]]:
    """Appends events already encoded by `NewEvent.canonical`; same contract as append_events.

    When the connection's store has a seal key (a signing key is configured), also seals the
    range appended, in the same transaction (`seals`), after checking that the database stored
    the bytes sent.

    Raises:
        SealRefused: The database did not store the events as sent.
    """
    sealer = seals.sealer_of(conn)
    if sealer is not None and conn.autocommit and conn.info.transaction_status == IDLE:
        async with conn.transaction():  # the events and their seal commit together
            return await _append(conn, sealer, tenant_id, canonical)
    return await _append(conn, sealer, tenant_id, canonical)


async def _append(
    conn: AsyncConnection[Any],
    sealer: seals.Sealer | None,
    tenant_id: str,
    canonical: Sequence[bytes],
) -> list[tuple[int, bytes]]:
    cur = await conn.execute(
        "SELECT seq, hash, prev_hash FROM append_audit_events(%s, %s::bytea[])",
        (tenant_id, list(canonical)),
    )
    rows = await cur.fetchall()
    appended = [(row[0], bytes(row[1])) for row in rows]
    if sealer is not None and rows:
        range_ = seals.Appended(tenant_id, rows[0][0], bytes(rows[0][2]), *appended[-1])
        seals.check_chain(range_, canonical)
        await seals.store_seals(conn, sealer, [range_])
    return appended


@dataclass(frozen=True)
class EventFilter:
    """What an inspector asks of the trail; unset fields do not filter."""

    tenant_id: str
    decision_id: uuid.UUID | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def query_events(
    conn: AsyncConnection[Any], flt: EventFilter, *, after_seq: int, limit: int
) -> list[AuditEvent]:
    """Events matching the filter with seq > after_seq, in sequence order (a stable cursor)."""
    clauses = ["tenant_id = %s", "seq > %s"]
    params: list[Any] = [flt.tenant_id, after_seq]
    if flt.decision_id is not None:
        clauses.append("decision_id = %s")
        params.append(flt.decision_id)
    if flt.kind:
        clauses.append("kind = %s")
        params.append(flt.kind)
    if flt.since is not None:
        clauses.append("occurred_at >= %s")
        params.append(flt.since)
    if flt.until is not None:
        clauses.append("occurred_at < %s")
        params.append(flt.until)
    params.append(limit)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE {' AND '.join(clauses)}"
            " ORDER BY seq LIMIT %s",
            params,
        )
        return [_event(r) for r in await cur.fetchall()]


async def iter_events(
    conn: AsyncConnection[Any], tenant_id: str, *, batch: int = 5000
) -> AsyncIterator[AuditEvent]:
    """Every event of a tenant in physical sequence order, read in batches by seq.

    Reads in (seq) order as stored; gaps and duplicates are for the verifier to find.
    """
    last = -1
    while True:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE tenant_id = %s AND seq > %s"
                " ORDER BY seq LIMIT %s",
                (tenant_id, last, batch),
            )
            rows = await cur.fetchall()
        if not rows:
            return
        for row in rows:
            yield _event(row)
        last = rows[-1]["seq"]


async def chain_head(conn: AsyncConnection[Any], tenant_id: str) -> tuple[int, bytes] | None:
    """The tenant's recorded (seq, hash) head, or None if it never appended."""
    cur = await conn.execute("SELECT seq, hash FROM chain_heads WHERE tenant_id = %s", (tenant_id,))
    row = await cur.fetchone()
    return None if row is None else (row[0], bytes(row[1]))


async def find_event(
    conn: AsyncConnection[Any],
    tenant_id: str,
    *,
    seq: int = 0,
    event_id: uuid.UUID | None = None,
) -> AuditEvent | None:
    """One event of a tenant, by sequence number (when not 0) or else by event id."""
    where, key = ("seq = %s", seq) if seq else ("event_id = %s", event_id)
    return await fetch.one(
        conn,
        f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE tenant_id = %s AND {where}"
        " ORDER BY seq LIMIT 1",
        (tenant_id, key),
        _event,
        row_factory=dict_row,
    )


async def last_event(
    conn: AsyncConnection[Any], tenant_id: str, decision_id: uuid.UUID, kind: str
) -> AuditEvent | None:
    """The latest event of one kind about a decision, or None."""
    return await fetch.one(
        conn,
        f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE tenant_id = %s"
        " AND decision_id = %s AND kind = %s ORDER BY seq DESC LIMIT 1",
        (tenant_id, decision_id, kind),
        _event,
        row_factory=dict_row,
    )


async def iter_leaf_hashes(
    conn: AsyncConnection[Any], tenant_id: str, up_to_seq: int, *, batch: int = 20_000
) -> AsyncGenerator[tuple[int, bytes], None]:
    """(seq, Merkle leaf hash) of the tenant's events with seq <= up_to_seq, in seq order.

    The leaf hash, SHA-256(0x00 || canonical) as in `merkle.leaf_hash`, is computed by
    PostgreSQL so that only 32 bytes per event cross the wire. Gaps are for the caller to find.
    """
    last = 0
    while last < up_to_seq:
        cur = await conn.execute(
            "SELECT seq, sha256('\\x00'::bytea || canonical) FROM audit_events"
            " WHERE tenant_id = %s AND seq > %s AND seq <= %s ORDER BY seq LIMIT %s",
            (tenant_id, last, up_to_seq, batch),
        )
        rows = await cur.fetchall()
        if not rows:
            return
        for seq, leaf in rows:
            yield seq, bytes(leaf)
        last = rows[-1][0]


async def actor_events(
    conn: AsyncConnection[Any],
    tenant_id: str,
    decision_id: uuid.UUID,
    actor_id: str,
    kinds: Sequence[str],
) -> list[AuditEvent]:
    """One actor's events of the given kinds about a decision, in sequence order."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_EVENT_COLUMNS} FROM audit_events WHERE tenant_id = %s"
            " AND decision_id = %s AND actor_id = %s AND kind = ANY(%s) ORDER BY seq",
            (tenant_id, decision_id, actor_id, list(kinds)),
        )
        return [_event(r) for r in await cur.fetchall()]


async def decisions_with_actor_event(
    conn: AsyncConnection[Any],
    tenant_id: str,
    decision_ids: Sequence[uuid.UUID],
    actor_id: str,
    kind: str,
) -> set[uuid.UUID]:
    """Those of the decisions about which the actor has an event of this kind."""
    cur = await conn.execute(
        "SELECT DISTINCT decision_id FROM audit_events WHERE tenant_id = %s AND actor_id = %s"
        " AND kind = %s AND decision_id = ANY(%s)",
        (tenant_id, actor_id, kind, list(decision_ids)),
    )
    return {row[0] for row in await cur.fetchall()}
