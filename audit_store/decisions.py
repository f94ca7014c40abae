"""SQL for decisions and reviews. Every function runs on the caller's connection and transaction.

Writers call these inside `Store.transaction()` together with `trail.append_events`, so that a
state change and its audit events commit or roll back together (I2).
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from .errors import ConcurrentUpdate, DecisionNotFound, ReviewAlreadyRecorded
from .records import Decision, DecisionState, Review, Suggestion, Verdict

NOTIFY_CHANNEL = "aval_decision_changed"

_COLUMNS = (
    "tenant_id, id, decision_type, subject_ref, state, input, input_sha256, suggestion, "
    "proposer_id, idempotency_key, request_sha256, policy_revision, required_approvals, "
    "rejections_to_close, approvals, rejections, pending_output, outcome, created_at, updated_at, "
    "deadline, finalized_at, claimed_by, claim_expires_at, trace_id, version"
)


def _jsonb(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def _decision(row: dict[str, Any]) -> Decision:
    suggestion = row["suggestion"]
    return Decision(
        tenant_id=row["tenant_id"],
        id=row["id"],
        decision_type=row["decision_type"],
        subject_ref=row["subject_ref"],
        state=DecisionState(row["state"]),
        input=row["input"],
        input_sha256=row["input_sha256"],
        suggestion=Suggestion.from_json(suggestion) if suggestion is not None else None,
        proposer_id=row["proposer_id"],
        idempotency_key=row["idempotency_key"],
        request_sha256=row["request_sha256"],
        policy_revision=row["policy_revision"],
        required_approvals=row["required_approvals"],
        rejections_to_close=row["rejections_to_close"],
        approvals=row["approvals"],
        rejections=row["rejections"],
        pending_output=row["pending_output"],
        outcome=row["outcome"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deadline=row["deadline"],
        finalized_at=row["finalized_at"],
        claimed_by=row["claimed_by"],
        claim_expires_at=row["claim_expires_at"],
        trace_id=row["trace_id"],
        version=row["version"],
    )


def _review(row: dict[str, Any]) -> Review:
    return Review(
        reviewer_id=row["reviewer_id"],
        reviewer_roles=tuple(row["reviewer_roles"]),
        verdict=Verdict(row["verdict"]),
        justification=row["justification"],
        amended_output=row["amended_output"],
        decided_at=row["decided_at"],
    )


async def insert(conn: AsyncConnection[Any], d: Decision) -> bool:
    """Inserts a new decision; returns False, writing nothing, if its idempotency key is taken."""
    cur = await conn.execute(
        f"INSERT INTO decisions ({_COLUMNS}) VALUES ("
        "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
        (
            d.tenant_id, d.id, d.decision_type, d.subject_ref, d.state.value, Jsonb(d.input),
            d.input_sha256, _jsonb(d.suggestion.to_json() if d.suggestion else None),
            d.proposer_id, d.idempotency_key, d.request_sha256, d.policy_revision,
            d.required_approvals, d.rejections_to_close, d.approvals, d.rejections,
            _jsonb(d.pending_output), _jsonb(d.outcome), d.created_at, d.updated_at, d.deadline,
            d.finalized_at, d.claimed_by, d.claim_expires_at, d.trace_id, d.version,
        ),
    )
    if cur.rowcount != 1:
        return False
    await notify(conn, d.tenant_id, d.id)
    return True


async def get(
    conn: AsyncConnection[Any], tenant_id: str, decision_id: uuid.UUID, *, for_update: bool = False
) -> Decision:
    """Reads one decision with its reviews; FOR UPDATE locks it until the transaction ends.

    Raises:
        DecisionNotFound: no such decision in that tenant.
    """
    lock = " FOR UPDATE" if for_update else ""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM decisions WHERE tenant_id = %s AND id = %s{lock}",
            (tenant_id, decision_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise DecisionNotFound(f"no decision {decision_id} in tenant {tenant_id}")
    decision = _decision(row)
    decision.reviews = await _reviews(conn, tenant_id, decision_id)
    return decision


async def by_idempotency_key(
    conn: AsyncConnection[Any], tenant_id: str, key: str
) -> Decision | None:
    """The decision first recorded under (tenant, idempotency key), if any."""
    cur = await conn.execute(
        "SELECT id FROM decisions WHERE tenant_id = %s AND idempotency_key = %s", (tenant_id, key)
    )
    row = await cur.fetchone()
    return None if row is None else await get(conn, tenant_id, row[0])


async def save(conn: AsyncConnection[Any], d: Decision) -> None:
    """Writes a changed decision and bumps its version.

    Raises:
        ConcurrentUpdate: the stored version is no longer the one `d` was read at.
    """
    cur = await conn.execute(
        "UPDATE decisions SET state = %s, approvals = %s, rejections = %s, pending_output = %s, "
        "outcome = %s, updated_at = %s, finalized_at = %s, claimed_by = %s, "
        "claim_expires_at = %s, version = version + 1 "
        "WHERE tenant_id = %s AND id = %s AND version = %s",
        (
            d.state.value, d.approvals, d.rejections, _jsonb(d.pending_output), _jsonb(d.outcome),
            d.updated_at, d.finalized_at, d.claimed_by, d.claim_expires_at,
            d.tenant_id, d.id, d.version,
        ),
    )
    if cur.rowcount != 1:
        raise ConcurrentUpdate(f"decision {d.id} changed while it was being updated")
    d.version += 1
    await notify(conn, d.tenant_id, d.id)


async def insert_review(
    conn: AsyncConnection[Any], tenant_id: str, decision_id: uuid.UUID, review: Review
) -> None:
    """Records one verdict.

    Raises:
        ReviewAlreadyRecorded: this reviewer already gave a verdict on this decision.
    """
    try:
        async with conn.transaction():  # a savepoint, so the caller's transaction survives
            await conn.execute(
                "INSERT INTO reviews (tenant_id, decision_id, reviewer_id, reviewer_roles, verdict,"
                " justification, amended_output, decided_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                (
                    tenant_id, decision_id, review.reviewer_id, list(review.reviewer_roles),
                    review.verdict.value, review.justification, _jsonb(review.amended_output),
                    review.decided_at,
                ),
            )
    except errors.UniqueViolation as exc:
        raise ReviewAlreadyRecorded(
            f"{review.reviewer_id} already gave a verdict on decision {decision_id}"
        ) from exc


async def notify(conn: AsyncConnection[Any], tenant_id: str, decision_id: uuid.UUID) -> None:
    """Queues a change notification, delivered to listeners when the transaction commits."""
    await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, f"{tenant_id}/{decision_id}"))


def encode_page_token(deadline: datetime, decision_id: uuid.UUID) -> str:
    raw = f"{deadline.isoformat()}|{decision_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[datetime, uuid.UUID]:
    """Raises ValueError on a token this store did not make."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    deadline, decision_id = raw.split("|", 1)
    return datetime.fromisoformat(deadline), uuid.UUID(decision_id)


async def list_pending(
    conn: AsyncConnection[Any],
    tenant_id: str,
    *,
    decision_type: str | None,
    actionable_for: str | None,
    now: datetime,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Decision]:
    """Pending decisions of a tenant, earliest deadline first (then id), after a page cursor.

    With `actionable_for`, leaves out what that principal proposed, already reviewed, or what
    someone else holds a live claim on.
    """
    clauses = ["d.tenant_id = %s", "d.state = 'PENDING_REVIEW'"]
    params: list[Any] = [tenant_id]
    if decision_type:
        clauses.append("d.decision_type = %s")
        params.append(decision_type)
    if after is not None:
        clauses.append("(d.deadline, d.id) > (%s, %s)")
        params.extend(after)
    if actionable_for:
        clauses.append("d.proposer_id <> %s")
        clauses.append(
            "NOT EXISTS (SELECT 1 FROM reviews r WHERE r.tenant_id = d.tenant_id"
            " AND r.decision_id = d.id AND r.reviewer_id = %s)"
        )
        clauses.append("(d.claimed_by IS NULL OR d.claimed_by = %s OR d.claim_expires_at <= %s)")
        params.extend([actionable_for, actionable_for, actionable_for, now])
    params.append(limit)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {', '.join('d.' + c for c in _COLUMNS.split(', '))} FROM decisions d"
            f" WHERE {' AND '.join(clauses)} ORDER BY d.deadline, d.id LIMIT %s",
            params,
        )
        found = [_decision(r) for r in await cur.fetchall()]
    for decision in found:
        decision.reviews = await _reviews(conn, tenant_id, decision.id)
    return found


async def _reviews(conn: AsyncConnection[Any], tenant_id: str, decision_id: uuid.UUID) -> list[Review]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT reviewer_id, reviewer_roles, verdict, justification, amended_output, decided_at"
            " FROM reviews WHERE tenant_id = %s AND decision_id = %s ORDER BY decided_at, reviewer_id",
            (tenant_id, decision_id),
        )
        return [_review(r) for r in await cur.fetchall()]


async def lock_overdue(
    conn: AsyncConnection[Any], now: datetime, limit: int
) -> list[Decision]:
    """Locks pending decisions whose deadline has passed, skipping those another replica holds."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM decisions WHERE state = 'PENDING_REVIEW' AND deadline <= %s"
            " ORDER BY deadline LIMIT %s FOR UPDATE SKIP LOCKED",
            (now, limit),
        )
        return [_decision(r) for r in await cur.fetchall()]
