"""SQL of the webhook outbox (migration 0016): enqueue with a final event, lease, settle, list.

`enqueue` runs on the caller's connection, inside the transaction that appends the event that
makes the decision final, so that the row exists exactly when the event does. The others are
single statements of the delivery workers; several workers, in any number of replicas, never
take the same row at once (FOR UPDATE SKIP LOCKED and a lease).
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from aval.audit_store import seals
from aval.audit_store.seals import Sealer

# Why a row was settled dead without an attempt: its seal is missing or does not verify.
PAYLOAD_NOT_SEALED = "PAYLOAD_NOT_SEALED"

_COLUMNS = (
    "tenant_id, id, decision_id, application_id, payload, created_at, attempts, "
    "next_attempt_at, delivered_at, dead_at, last_error, body, seal"
)


@dataclass(frozen=True)
class OutboxEntry:
    """One outcome to deliver, as stored."""

    tenant_id: str
    id: uuid.UUID
    decision_id: uuid.UUID
    application_id: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None
    last_error: str
    # The exact bytes to POST and their seal (migration 0026); None without a signing key.
    body: bytes | None = None
    seal: bytes | None = None

    @property
    def status(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        return "dead" if self.dead_at is not None else "pending"


async def enqueue(
    conn: AsyncConnection[Any],
    *,
    tenant_id: str,
    event_id: uuid.UUID,
    decision_id: uuid.UUID,
    application_id: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Adds an outcome to deliver, due now, in the caller's transaction; an event id already
    enqueued is left as it is (ids are unique: this only makes a replay harmless).

    With the store's sealer (`seals.sealer_of`), also stores the bytes to POST and their seal,
    checked before delivery (`sealed_body`)."""
    body = seal = None
    sealer = seals.sealer_of(conn)
    if sealer is not None:
        body = body_of(payload)
        seal = sealer.outbox_mac(
            tenant_id, str(event_id), str(decision_id), application_id, body
        )
    await conn.execute(
        "INSERT INTO webhook_outbox (tenant_id, id, decision_id, application_id, payload,"
        " created_at, next_attempt_at, body, seal) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (tenant_id, event_id, decision_id, application_id, Jsonb(payload), now, now, body, seal),
    )


async def seal_pending(conn: AsyncConnection[Any], sealer: Sealer) -> dict[str, int]:
    """Seals the rows still to deliver that have no seal (enqueued before migration 0026 or
    without a key), in the caller's transaction; returns how many, by tenant. Only for the
    one-time adoption at the first start with seals (`webhooks.adoption`)."""
    cur = await conn.execute(
        "SELECT tenant_id, id, decision_id, application_id, payload FROM webhook_outbox"
        " WHERE body IS NULL AND delivered_at IS NULL AND dead_at IS NULL"
        " ORDER BY tenant_id, id FOR UPDATE"
    )
    counts: dict[str, int] = {}
    for tenant_id, row_id, decision_id, application_id, payload in await cur.fetchall():
        body = body_of(payload)
        seal = sealer.outbox_mac(tenant_id, str(row_id), str(decision_id), application_id, body)
        await conn.execute(
            "UPDATE webhook_outbox SET body = %s, seal = %s WHERE tenant_id = %s AND id = %s",
            (body, seal, tenant_id, row_id),
        )
        counts[tenant_id] = counts.get(tenant_id, 0) + 1
    return counts


def body_of(payload: dict[str, Any]) -> bytes:
    """The canonical JSON of a payload: the bytes signed and POSTed."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(
        "utf-8"
    )


def sealed_body(entry: OutboxEntry, sealer: Sealer | None) -> bytes | None:
    """The bytes to POST for a row, or None when the row must never be sent.

    Without a sealer (no signing key), the canonical JSON of `payload`, as before seals. With
    one, the stored `body` when its seal verifies and `payload` says the same (compared as
    values: jsonb may re-spell numbers); None when the seal is missing or does not verify.
    """
    if sealer is None:
        return body_of(entry.payload)
    if entry.body is None or entry.seal is None:
        return None
    expected = sealer.outbox_mac(
        entry.tenant_id, str(entry.id), str(entry.decision_id), entry.application_id, entry.body
    )
    if not hmac.compare_digest(expected, entry.seal):
        return None
    try:
        same = json.loads(entry.body) == entry.payload
    except ValueError:
        return None
    return entry.body if same else None


async def lease_due(
    conn: AsyncConnection[Any],
    *,
    now: datetime,
    until: datetime,
    limit: int,
    targets: Sequence[tuple[str, str]],
) -> list[OutboxEntry]:
    """Takes up to `limit` rows due at `now` for one attempt each: counts the attempt and moves
    them out of reach until `until`. Rows another worker is taking are skipped, and so are rows
    of applications outside `targets` ((tenant, application) pairs this worker has a webhook
    for): a worker whose configuration lacks a webhook (a replica not yet reloaded, another
    deployment on the same database) never takes, fails and delays what another can deliver.

    Run it alone (autocommit): once it returns, the lease is committed and visible to all.
    """
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "UPDATE webhook_outbox o SET attempts = o.attempts + 1, next_attempt_at = %s"
            " FROM (SELECT tenant_id, id FROM webhook_outbox"
            "       WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= %s"
            "       AND (tenant_id, application_id) IN"
            "           (SELECT * FROM unnest(%s::text[], %s::text[]))"
            "       ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED) due"
            " WHERE o.tenant_id = due.tenant_id AND o.id = due.id"
            f" RETURNING {', '.join('o.' + c for c in _COLUMNS.split(', '))}",
            (until, now, [t for t, _ in targets], [a for _, a in targets], limit),
        )
        return [OutboxEntry(**row) for row in await cur.fetchall()]


async def settle(
    conn: AsyncConnection[Any],
    entry: OutboxEntry,
    *,
    now: datetime,
    delivered: bool,
    error: str = "",
    retry_at: datetime | None = None,
) -> None:
    """Records an attempt's result: delivered, to retry at `retry_at`, or dead (no `retry_at`).

    Only the attempt that leased the row settles it (same attempt count), and a row delivered
    stays delivered."""
    params: list[Any]
    if delivered:
        assignments, params = "delivered_at = %s, last_error = ''", [now]
    elif retry_at is not None:
        assignments, params = "next_attempt_at = %s, last_error = %s", [retry_at, error[:100]]
    else:
        assignments, params = "dead_at = %s, last_error = %s", [now, error[:100]]
    await conn.execute(
        f"UPDATE webhook_outbox SET {assignments} WHERE tenant_id = %s AND id = %s"
        " AND attempts = %s AND delivered_at IS NULL AND dead_at IS NULL",
        (*params, entry.tenant_id, entry.id, entry.attempts),
    )


async def listing(
    conn: AsyncConnection[Any],
    tenant_id: str,
    *,
    status: str | None = None,
    decision_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[OutboxEntry]:
    """A tenant's outbox rows, newest first: all, or those of one status or decision."""
    clauses: list[str] = ["tenant_id = %s"]
    params: list[Any] = [tenant_id]
    if status == "delivered":
        clauses.append("delivered_at IS NOT NULL")
    elif status == "dead":
        clauses.append("dead_at IS NOT NULL")
    elif status == "pending":
        clauses.append("delivered_at IS NULL AND dead_at IS NULL")
    if decision_id is not None:
        clauses.append("decision_id = %s")
        params.append(str(decision_id))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM webhook_outbox WHERE {' AND '.join(clauses)}"
            " ORDER BY created_at DESC, id LIMIT %s",
            (*params, limit),
        )
        return [OutboxEntry(**row) for row in await cur.fetchall()]
