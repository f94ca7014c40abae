"""What verification checks of the decisions besides the chain: every fact the service shows
(decisions and reviews) against what the trail implies, and the review policy re-proved from
the events alone (I1, I3). See docs/trail_facts.md for which column comes from which event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection

from aval.verifier.events import DECISION_EVENT_KINDS
from aval.verifier.policy_replay import PolicyFacts, violation

# PostgreSQL replays each decision's events, grouped by decision, into the facts they imply,
# reads the same facts from the stored row and its reviews, and compares them one by one (JSON
# values as jsonb, so no spelling of a number or order of keys makes equal values differ): only
# the decisions where a fact differs, or where the policy does not hold, come back. The work is
# split by ranges of decision ids, one per connection of the shared snapshot.
#
# The events' data is parsed here (the chain check does not parse it): a hash that matches
# proves the bytes are the ones written, so what they say can be taken as the trail's word.
# Parsing is most of this check's cost (docs/trail_facts.md).
_KINDS = ", ".join(f"'{kind}'" for kind in DECISION_EVENT_KINDS)
_REVIEW = "kind = 'review.recorded'"
_APPROVAL = f"{_REVIEW} AND d->>'verdict' IN ('APPROVE', 'AMEND')"
_REJECTION = f"{_REVIEW} AND d->>'verdict' = 'REJECT'"
_PROPOSED = "kind = 'decision.proposed'"
_CLAIMED = "kind = 'decision.claimed'"


def _last(value: str, where: str) -> str:
    """The text `value` of the last event (by seq) of the decision that matches `where`.

    The largest of seq (19 digits, zero-padded) followed by the value: no sort per decision,
    as an aggregate with ORDER BY would make (PostgreSQL 15 sorts each group for it).
    """
    return (
        f"substr(max(lpad(seq::text, 19, '0') || ({value}) COLLATE \"C\")"
        f" FILTER (WHERE {where}), 20)"
    )


def _last_json(value: str, where: str) -> str:
    """`_last` of a jsonb value."""
    return f"{_last(f'({value})::text', where)}::jsonb"


def _review_json(reviewer: str, roles: str, verdict: str, justification: str, amended: str,
                 decided_at: str) -> str:  # fmt: skip
    """A decision's verdicts as a jsonb array, in no particular order (see `_SAME_REVIEWS`)."""
    return (
        f"jsonb_agg(jsonb_build_object('reviewer_id', {reviewer}, 'reviewer_roles', {roles},"
        f" 'verdict', {verdict}, 'justification', {justification}, 'amended_output', {amended},"
        f" 'decided_at', {decided_at}))"
    )


# Two arrays of verdicts hold the same ones when each contains the other and they are as long:
# every verdict has the same keys, so one contains another only if it equals it. No sort.
_SAME_REVIEWS = (
    "coalesce(jsonb_array_length(s.reviews) = jsonb_array_length(t.reviews)"
    " AND s.reviews @> t.reviews AND t.reviews @> s.reviews,"
    " s.reviews IS NULL AND t.reviews IS NULL)"
)


# Each fact, as the stored row says it (left) and as the trail implies it (right), of the same
# type; the names are those of the columns (and `reviews`, the decision's rows of `reviews`).
# A JSON null and no value are the same fact.
_NULL = "'null'::jsonb"
FACTS: dict[str, tuple[str, str]] = {
    "decision_type": ("s.decision_type", "p->>'decision_type'"),
    "subject_ref": ("s.subject_ref", "p->>'subject_ref'"),
    "input_sha256": ("s.input_sha256", "p->>'input_sha256'"),
    "suggestion": (f"coalesce(s.suggestion, {_NULL})", f"coalesce(p->'suggestion', {_NULL})"),
    "proposer_id": ("s.proposer_id", "t.proposer"),
    "idempotency_key": ("s.idempotency_key", "p->>'idempotency_key'"),
    "policy_revision": ("s.policy_revision", "p->>'policy_revision'"),
    "required_approvals": ("s.required_approvals", "t.required"),
    "rejections_to_close": ("s.rejections_to_close", "t.to_close"),
    "deadline": ("s.deadline", "t.deadline"),
    "created_at": ("s.created_at", "t.created_at"),
    "trace_id": ("s.trace_id", "t.trace_id"),
    "advice_status": ("s.advice_status", "coalesce(p->'advice'->>'status', 'ATTESTED')"),
    "advice_reason": ("s.advice_reason", "coalesce(p->'advice'->>'reason', '')"),
    "advice_detail": ("s.advice_detail", "coalesce(p->'advice'->>'detail', '')"),
    "approvals": ("s.approvals", "t.approvals::int"),
    "rejections": ("s.rejections", "t.rejections::int"),
    "pending_output": (f"coalesce(s.pending_output, {_NULL})", f"coalesce(t.derived, {_NULL})"),
    "outcome": (f"coalesce(s.outcome, {_NULL})", f"coalesce(t.outcome, {_NULL})"),
    "updated_at": ("s.updated_at", "t.updated_at"),
    "finalized_at": ("s.finalized_at", "t.finalized_at"),
    "claimed_by": ("s.claimed_by", "CASE WHEN t.claim_ended THEN NULL ELSE t.claimed_by END"),
    "claim_expires_at": (
        "s.claim_expires_at",
        "CASE WHEN t.claim_ended THEN NULL ELSE t.claim_expires_at::timestamptz END",
    ),
}
_DIFFERING = (
    "array_remove(ARRAY["
    + ", ".join(f"CASE WHEN {a} IS DISTINCT FROM {b} THEN '{k}' END" for k, (a, b) in FACTS.items())
    + f", CASE WHEN NOT {_SAME_REVIEWS} THEN 'reviews' END], NULL)"
)


_FACTS_SQL = f"""
WITH ev AS (
    -- what the hashed bytes say, not the columns beside them (which only copy the bytes: a
    -- copy that differs is the chain check's canonical_mismatch)
    SELECT e.decision_id AS id, e.seq, said.kind, j->'actor'->>'id' AS actor_id,
        j->'actor'->>'type' AS actor_type, (j->>'occurred_at')::timestamptz AS occurred_at,
        j->>'trace_id' AS trace_id, d,
        CASE WHEN said.kind = 'review.recorded' AND d ? 'eligible_roles' THEN NOT EXISTS (
            SELECT 1 FROM jsonb_array_elements_text(d->'eligible_roles') AS role
            WHERE d->'reviewer_roles' ? role) END AS role_refused
    FROM audit_events e
    CROSS JOIN LATERAL (SELECT convert_from(e.canonical, 'UTF8')::jsonb AS j OFFSET 0) AS parsed
    CROSS JOIN LATERAL (SELECT j->>'kind' AS kind, j->'data' AS d) AS said
    WHERE e.tenant_id = %(tenant)s AND e.decision_id >= %(low)s AND e.decision_id <= %(high)s
        AND said.kind IN ({_KINDS})
), trail AS (
    SELECT id,
        count(*) FILTER (WHERE {_PROPOSED}) AS proposals,
        -- one proposal (more is a problem of its own): any aggregate gives its values
        (jsonb_agg(d) FILTER (WHERE {_PROPOSED}))->0 AS p,
        max(actor_id) FILTER (WHERE {_PROPOSED}) AS proposer,
        max(occurred_at) FILTER (WHERE {_PROPOSED}) AS created_at,
        max(trace_id) FILTER (WHERE {_PROPOSED}) AS trace_id,
        max(occurred_at) AS updated_at,
        min(occurred_at) FILTER (WHERE kind IN ('decision.finalized', 'decision.expired'))
            AS finalized_at,
        {_last("d->>'decision_state'", "d ? 'decision_state'")} AS state,
        count(*) FILTER (WHERE {_APPROVAL}) AS approvals,
        count(*) FILTER (WHERE {_REJECTION}) AS rejections,
        array_agg(actor_id) FILTER (WHERE {_APPROVAL} AND actor_type <> 'system') AS approved_by,
        array_agg(actor_id) FILTER (WHERE {_REJECTION} AND actor_type <> 'system')
            AS rejected_by,
        count(*) FILTER (WHERE {_REVIEW} AND d->>'verdict' = 'AMEND') AS amendments,
        {_last_json("d->'amended_output'", f"{_REVIEW} AND d->>'verdict' = 'AMEND'")}
            AS amendment,
        {_last_json("d->'outcome'", "kind = 'decision.finalized'")} AS outcome,
        max(seq) FILTER (WHERE kind = 'decision.finalized') AS outcome_seq,
        {_last("d->>'claimed_by'", _CLAIMED)} AS claimed_by,
        {_last("d->>'claim_expires_at'", _CLAIMED)} AS claim_expires_at,
        max(seq) FILTER (WHERE {_CLAIMED}) AS claim_seq,
        max(seq) FILTER (WHERE kind IN ('decision.released', 'decision.expired')) AS unclaimed_seq,
        {
    _review_json(
        "actor_id",
        "d->'reviewer_roles'",
        "d->>'verdict'",
        "d->>'justification'",
        "d->'amended_output'",
        "occurred_at",
    )
}
            FILTER (WHERE {_REVIEW}) AS reviews,
        -- in the same order, whatever it is: the aggregates of a group take its rows together
        array_agg(seq) FILTER (WHERE {_REVIEW}) AS review_seqs,
        array_agg(actor_id) FILTER (WHERE {_REVIEW}) AS reviewers,
        array_agg(occurred_at) FILTER (WHERE {_REVIEW}) AS review_times,
        min(seq) FILTER (WHERE role_refused) AS role_refused_seq
    FROM ev
    GROUP BY id
), stored_reviews AS (
    SELECT r.decision_id,
        {
    _review_json(
        "r.reviewer_id",
        "to_jsonb(r.reviewer_roles)",
        "r.verdict",
        "r.justification",
        "r.amended_output",
        "r.decided_at",
    )
} AS reviews
    FROM reviews r
    WHERE r.tenant_id = %(tenant)s AND r.decision_id >= %(low)s AND r.decision_id <= %(high)s
    GROUP BY r.decision_id
), stored AS (
    SELECT d.*, r.reviews
    FROM decisions d LEFT JOIN stored_reviews r ON r.decision_id = d.id
    WHERE d.tenant_id = %(tenant)s AND d.id >= %(low)s AND d.id <= %(high)s
), replayed AS (
    SELECT t.*, t.p->'advice' AS advice,
        (t.p->>'required_approvals')::int AS required,
        (t.p->>'rejections_to_close')::int AS to_close,
        (t.p->>'deadline')::timestamptz AS deadline,
        CASE WHEN t.amendments > 0 THEN t.amendment ELSE t.p->'suggestion'->'output' END
            AS derived,
        -- a claim ends with a release, an expiry, or a verdict of its holder
        t.unclaimed_seq > t.claim_seq OR EXISTS (
            SELECT 1 FROM unnest(t.review_seqs, t.reviewers) AS u(s, who)
            WHERE s > t.claim_seq AND who = t.claimed_by) AS claim_ended
    FROM trail t
), compared AS (
    SELECT t.id, t.state, t.proposals, t.required, t.to_close,
        -- distinct (a forged trail may name one reviewer twice); most have one or none
        CASE WHEN cardinality(t.approved_by) > 1 THEN (SELECT count(DISTINCT who)
            FROM unnest(t.approved_by) AS who) ELSE coalesce(cardinality(t.approved_by), 0)
            END AS approvers,
        CASE WHEN cardinality(t.rejected_by) > 1 THEN (SELECT count(DISTINCT who)
            FROM unnest(t.rejected_by) AS who) ELSE coalesce(cardinality(t.rejected_by), 0)
            END AS rejecters,
        t.role_refused_seq, t.outcome_seq, t.amendments,
        CASE WHEN s.id IS NOT NULL THEN {_DIFFERING} END AS differing,
        t.state IN ('APPROVED', 'AMENDED', 'REJECTED', 'EXPIRED') AS final,
        (SELECT min(s) FROM unnest(t.review_seqs, t.reviewers) AS u(s, who)
            WHERE who = t.proposer) AS proposer_seq,
        (SELECT min(s) FROM unnest(t.review_seqs, t.review_times) AS u(s, at)
            WHERE at >= t.deadline) AS late_seq,
        t.outcome IS NOT NULL AND t.outcome <> 'null'::jsonb AS has_outcome,
        coalesce(t.outcome, {_NULL}) = coalesce(t.derived, {_NULL}) AS derived
    FROM replayed t LEFT JOIN stored s ON s.id = t.id
), judged AS (
    SELECT c.*,
        -- the review policy re-proved from the events (I1); the same rules as
        -- aval.verifier.policy_replay, which applies them offline
        array_remove(ARRAY[
            CASE WHEN c.proposer_seq IS NOT NULL THEN 'approver_is_proposer' END,
            CASE WHEN c.late_seq IS NOT NULL THEN 'verdict_after_deadline' END,
            CASE WHEN c.role_refused_seq IS NOT NULL THEN 'verdict_role_not_eligible' END,
            CASE WHEN c.final AND (c.proposals <> 1
                OR (c.state IN ('APPROVED', 'AMENDED')
                    AND c.approvers < greatest(coalesce(c.required, 0), 1))
                OR (c.state = 'REJECTED' AND c.rejecters < greatest(coalesce(c.to_close, 0), 1)))
                THEN 'policy_quorum_not_met' END,
            CASE WHEN c.state = 'EXPIRED' AND c.has_outcome THEN 'expired_with_outcome' END,
            CASE WHEN (c.state IN ('APPROVED', 'AMENDED') AND (c.outcome_seq IS NULL
                    OR NOT c.derived OR (c.state = 'AMENDED') <> (c.amendments > 0)))
                OR (c.state = 'REJECTED' AND c.has_outcome)
                THEN 'outcome_not_derived' END
        ], NULL) AS violations
    FROM compared c
)
SELECT id, differing, violations, state, proposals, required, to_close, approvers, rejecters,
    proposer_seq, late_seq, role_refused_seq, outcome_seq
FROM judged
WHERE differing <> '{{}}' OR violations <> '{{}}'
"""


@dataclass(frozen=True)
class FactsFinding:
    """One decision where the stored facts and the trail disagree, or the policy fails."""

    decision_id: str
    # Names of the stored facts that differ from what the trail implies; () when none.
    differing: tuple[str, ...]
    policy: list[tuple[str, int, str]]  # (problem kind, seq, detail)


def _slices(count: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """`count` ranges of decision ids, inclusive, that cover every id."""
    top = 1 << 128
    bounds = [top * i // count for i in range(count + 1)]
    return [(uuid.UUID(int=bounds[i]), uuid.UUID(int=bounds[i + 1] - 1)) for i in range(count)]


async def _slice_findings(
    conn: AsyncConnection[Any], tenant_id: str, low: uuid.UUID, high: uuid.UUID
) -> list[FactsFinding] | None:
    params = {"tenant": tenant_id, "low": low, "high": high}
    try:
        async with conn.transaction(), conn.cursor() as cur:  # a savepoint
            # Compiling this query takes PostgreSQL's JIT seconds, far more than running it;
            # the decisions' events are sorted in memory rather than on disk.
            await cur.execute("SET LOCAL jit = off")
            await cur.execute("SET LOCAL work_mem = '64MB'")
            await cur.execute(_FACTS_SQL, params)
            rows = await cur.fetchall()
    except psycopg.DataError:  # bytes that are not JSON: the chain check names them
        return None
    return [
        FactsFinding(
            str(decision),
            tuple(differing or ()),
            [violation(kind, PolicyFacts(*judged)) for kind in violations],
        )
        for decision, differing, violations, *judged in rows
    ]


async def facts_findings(
    conns: Sequence[AsyncConnection[Any]], tenant_id: str
) -> tuple[list[FactsFinding], int]:
    """Every decision of a tenant whose stored facts differ from its trail or whose policy
    does not hold, by decision id; and how many slices of decisions could not be checked
    (events whose bytes are not JSON). Runs on all `conns` at once (one shared snapshot)."""
    slices = _slices(len(conns))
    results = await asyncio.gather(
        *(
            _slice_findings(c, tenant_id, low, high)
            for c, (low, high) in zip(conns, slices, strict=True)
        )
    )
    found = [f for result in results if result is not None for f in result]
    return sorted(found, key=lambda f: f.decision_id), sum(r is None for r in results)
