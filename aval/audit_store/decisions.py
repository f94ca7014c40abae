"""SQL for decisions and reviews. Every function runs on the caller's connection and transaction.

Writers call these inside `Store.transaction()` together with `trail.append_events`, so that a
state change and its audit events commit or roll back together (I2).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from aval.audit_store import seals
from aval.audit_store.errors import ConcurrentUpdate, DecisionNotFound, ReviewAlreadyRecorded
from aval.audit_store.records import (
    AdviceStatus,
    AICall,
    Decision,
    DecisionState,
    Review,
    Suggestion,
    Verdict,
)

# The trail's record of a case's first display to a reviewer (GetCase).
CASE_DISPLAYED = "review.case_displayed"

# Signalled by a trigger on every insert or update of a decision (migration 0002), with the
# payload "tenant/decision id"; delivered when the transaction commits.
NOTIFY_CHANNEL = "aval_decision_changed"

_COLUMNS = (
    "tenant_id, id, decision_type, subject_ref, state, input, input_sha256, suggestion, "
    "proposer_id, idempotency_key, request_sha256, policy_revision, required_approvals, "
    "rejections_to_close, approvals, rejections, pending_output, outcome, created_at, updated_at, "
    "deadline, finalized_at, claimed_by, claim_expires_at, trace_id, version, "
    "advice_status, advice_detail, advice_reason, advice_params"
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
        advice_status=AdviceStatus(row["advice_status"]),
        advice_detail=row["advice_detail"],
        advice_reason=row["advice_reason"],
        advice_params=row["advice_params"],
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


def _row_json(d: Decision) -> dict[str, Any]:
    """A decision as a JSON object keyed by column, for jsonb_populate_recordset."""

    def when(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    return {
        "tenant_id": d.tenant_id,
        "id": str(d.id),
        "decision_type": d.decision_type,
        "subject_ref": d.subject_ref,
        "state": d.state.value,
        "input": d.input,
        "input_sha256": d.input_sha256,
        "suggestion": d.suggestion.to_json() if d.suggestion else None,
        "proposer_id": d.proposer_id,
        "idempotency_key": d.idempotency_key,
        "request_sha256": d.request_sha256,
        "policy_revision": d.policy_revision,
        "required_approvals": d.required_approvals,
        "rejections_to_close": d.rejections_to_close,
        "approvals": d.approvals,
        "rejections": d.rejections,
        "pending_output": d.pending_output,
        "outcome": d.outcome,
        "created_at": when(d.created_at),
        "updated_at": when(d.updated_at),
        "deadline": when(d.deadline),
        "finalized_at": when(d.finalized_at),
        "claimed_by": d.claimed_by,
        "claim_expires_at": when(d.claim_expires_at),
        "trace_id": d.trace_id,
        "version": d.version,
        "advice_status": d.advice_status.value,
        "advice_detail": d.advice_detail,
        "advice_reason": d.advice_reason,
        "advice_params": d.advice_params,
    }


@dataclass(frozen=True)
class ProposalColumns:
    """A batch of proposals as the arguments of the SQL functions that record them."""

    rows: list[dict[str, Any]]
    events: list[bytes]
    tenants: list[str]  # each event's tenant
    owners: list[uuid.UUID]  # each event's decision
    calls: list[dict[str, Any]]


def proposal_columns(
    batch: Sequence[tuple[Decision, Sequence[bytes], Sequence[AICall]]],
) -> ProposalColumns:
    """The arguments of record_proposals (and of its sealed form) for a batch."""
    found = ProposalColumns([], [], [], [], [])
    for decision, encoded, made in batch:
        found.rows.append(_row_json(decision))
        found.events.extend(encoded)
        found.tenants.extend([decision.tenant_id] * len(encoded))
        found.owners.extend([decision.id] * len(encoded))
        found.calls.extend(call.to_row(decision.tenant_id) for call in made)
    return found


async def record_proposals(
    conn: AsyncConnection[Any],
    batch: Sequence[tuple[Decision, Sequence[bytes], Sequence[AICall]]],
    *,
    heads: dict[str, tuple[int, bytes]] | None = None,
) -> set[uuid.UUID]:
    """Inserts new decisions with their first audit events (and the AI calls made for them) in
    one statement; returns the ids inserted.

    Run on an autocommit connection, the statement is its own transaction: each decision and
    its events commit together (I2) when this returns (I7). A decision whose (tenant, proposer,
    idempotency key) is taken — by a committed row or an earlier one of the batch — is skipped
    with its events and calls; another proposer's key never is (I4). When the connection's
    store seals what it appends (`seals`), run it in a transaction: the seals of the ranges
    appended are stored by a second statement (`sealed_proposals` does both in one when the
    heads are known).

    Args:
        conn: The connection.
        batch: (decision, its canonical events, its AI calls) for each proposal.
        heads: When given, updated with each tenant's new head (last seq, hash) once sealed.

    Raises:
        SealRefused: The database did not store the events as sent.
    """
    args = proposal_columns(batch)
    if args.calls:
        cur = await conn.execute(
            "SELECT * FROM record_proposals_with_calls("
            "%s, %s::bytea[], %s::text[], %s::uuid[], %s)",
            (Jsonb(args.rows), args.events, args.tenants, args.owners, Jsonb(args.calls)),
        )
    else:
        cur = await conn.execute(
            "SELECT * FROM record_proposals(%s, %s::bytea[], %s::text[], %s::uuid[])",
            (Jsonb(args.rows), args.events, args.tenants, args.owners),
        )
    found = await cur.fetchall()
    inserted = {row[0] for row in found if row[0] is not None}
    sealer = seals.sealer_of(conn)
    if sealer is not None:
        ranges = [
            seals.Appended(row[1], row[2], bytes(row[3]), row[4], bytes(row[5]))
            for row in found
            if row[0] is None
        ]
        for range_ in ranges:
            seals.check_chain(
                range_,
                [
                    event
                    for decision, encoded, _ in batch
                    if decision.tenant_id == range_.tenant_id and decision.id in inserted
                    for event in encoded
                ],
            )
        await seals.store_seals(conn, sealer, ranges)
        if heads is not None:
            heads.update((r.tenant_id, (r.last_seq, r.last_hash)) for r in ranges)
    return inserted


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
            raise DecisionNotFound(tenant_id, decision_id)
    decision = _decision(row)
    decision.reviews = await _reviews(conn, tenant_id, decision_id)
    return decision


async def by_idempotency_key(
    conn: AsyncConnection[Any], tenant_id: str, proposer_id: str, key: str
) -> Decision | None:
    """The decision `proposer_id` first recorded under its idempotency key in the tenant, if any.

    Keys belong to their proposer: another's decision under the same key is never returned.
    """
    cur = await conn.execute(
        "SELECT id FROM decisions"
        " WHERE tenant_id = %s AND proposer_id = %s AND idempotency_key = %s",
        (tenant_id, proposer_id, key),
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
            d.state.value,
            d.approvals,
            d.rejections,
            _jsonb(d.pending_output),
            _jsonb(d.outcome),
            d.updated_at,
            d.finalized_at,
            d.claimed_by,
            d.claim_expires_at,
            d.tenant_id,
            d.id,
            d.version,
        ),
    )
    if cur.rowcount != 1:
        raise ConcurrentUpdate(d.id)
    d.version += 1


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
                    tenant_id,
                    decision_id,
                    review.reviewer_id,
                    list(review.reviewer_roles),
                    review.verdict.value,
                    review.justification,
                    _jsonb(review.amended_output),
                    review.decided_at,
                ),
            )
    except errors.UniqueViolation as exc:
        raise ReviewAlreadyRecorded(review.reviewer_id, decision_id) from exc


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
    claimed_by: str | None = None,
    deadline_before: datetime | None = None,
    not_seen_by: str | None = None,
) -> list[Decision]:
    """Pending decisions of a tenant, earliest deadline first (then id), after a page cursor.

    With `actionable_for`, leaves out what that principal proposed, already reviewed, or what
    someone else holds a live claim on. With `claimed_by`, only what that principal holds a
    live claim on; with `deadline_before`, only deadlines before that moment; with
    `not_seen_by`, only what was never displayed to that principal (no `CASE_DISPLAYED` event
    of theirs in the trail).
    """
    clauses = ["d.tenant_id = %s", "d.state = 'PENDING_REVIEW'"]
    params: list[Any] = [tenant_id]
    if decision_type:
        clauses.append("d.decision_type = %s")
        params.append(decision_type)
    if claimed_by:
        clauses.append("d.claimed_by = %s AND d.claim_expires_at > %s")
        params.extend([claimed_by, now])
    if deadline_before is not None:
        clauses.append("d.deadline < %s")
        params.append(deadline_before)
    if not_seen_by:
        # Served by audit_events_case_displayed (migration 0020), a partial index: the kind is
        # written as a literal so that a prepared (generic) plan still matches its predicate.
        clauses.append(
            "NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.tenant_id = d.tenant_id"
            f" AND e.kind = '{CASE_DISPLAYED}' AND e.actor_id = %s AND e.decision_id = d.id)"
        )
        params.append(not_seen_by)
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


@dataclass(frozen=True)
class QueueCounts:
    """The size of a tenant's queue as one principal sees it."""

    pending: int
    near_deadline: int
    claimed_by_me: int
    claimed_by_me_near_deadline: int


async def queue_counts(
    conn: AsyncConnection[Any], tenant_id: str, principal_id: str, now: datetime, near: datetime
) -> QueueCounts:
    """How many decisions of the tenant are pending, due before `near`, claimed (live lease)
    by the principal, and both; one pass over the pending-by-deadline index."""
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT count(*),"
            " count(*) FILTER (WHERE deadline < %(near)s),"
            " count(*) FILTER (WHERE claimed_by = %(me)s AND claim_expires_at > %(now)s),"
            " count(*) FILTER (WHERE claimed_by = %(me)s AND claim_expires_at > %(now)s"
            "   AND deadline < %(near)s)"
            " FROM decisions WHERE tenant_id = %(tenant)s AND state = 'PENDING_REVIEW'",
            {"tenant": tenant_id, "me": principal_id, "now": now, "near": near},
        )
        row = await cur.fetchone()
    assert row is not None
    return QueueCounts(*(int(n) for n in row))


async def _reviews(
    conn: AsyncConnection[Any], tenant_id: str, decision_id: uuid.UUID
) -> list[Review]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT reviewer_id, reviewer_roles, verdict, justification, amended_output, decided_at"
            " FROM reviews WHERE tenant_id = %s AND decision_id = %s"
            " ORDER BY decided_at, reviewer_id",
            (tenant_id, decision_id),
        )
        return [_review(r) for r in await cur.fetchall()]


async def lock_overdue(conn: AsyncConnection[Any], now: datetime, limit: int) -> list[Decision]:
    """Locks pending decisions whose deadline has passed, skipping those another replica holds."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM decisions WHERE state = 'PENDING_REVIEW' AND deadline <= %s"
            " ORDER BY deadline LIMIT %s FOR UPDATE SKIP LOCKED",
            (now, limit),
        )
        return [_decision(r) for r in await cur.fetchall()]
