"""What verification checks of the decisions besides the chain: every fact the service shows
(decisions and reviews) against what the trail implies, and the review policy re-proved from
the events alone (I1, I3). See docs/trail_facts.md for which column comes from which event."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection

from aval.audit_store.together import all_of
from aval.verifier.events import DECISION_EVENT_KINDS
from aval.verifier.policy_replay import PolicyFacts, violation

# PostgreSQL replays each decision's events, grouped by decision, into the facts they imply,
# reads the same facts from the stored row and its reviews, and compares them: only the
# decisions where a fact differs, or where the policy does not hold, come back. The work is
# split by ranges of decision ids, one per connection of the shared snapshot.
#
# An event's kind, actor, time and trace id are read from its columns when the chain check
# has proved that they say what the hashed bytes say (`digests.range_digest`: the bytes open
# and close with exactly the text the columns make), and only its `data` is parsed, cut out
# of the bytes at the place those columns give; and only for the kinds whose data the facts
# need. The decisions' states are the trail's, as the chain check read them from the bytes
# (`TrailStates`). When the chain check read any range one event at a time (something was
# doubted), every event is parsed whole instead, as the bytes say everything. Either way, a
# hash that matches proves the bytes are the ones written, so what they say can be taken as
# the trail's word. Parsing is most of this check's cost (docs/trail_facts.md).
_KINDS = ", ".join(f"'{kind}'" for kind in DECISION_EVENT_KINDS)
_NULL = "'null'::jsonb"
# Kinds whose data says something the facts need besides the decision's state.
_DATA_KINDS = "'decision.proposed', 'review.recorded', 'decision.claimed', 'decision.finalized'"

# Where `data` sits in canonical bytes whose other fields are the columns (see digests._HEAD
# and _TAIL, which the chain check compared with the bytes): after the actor, and before
# the closing fields; its closing brace is the first byte of the tail. Times take 27 bytes
# (`utc_iso`), ids 36.
_HEAD_TEXT = ('{"actor":{"id":"', '","type":"', '"},"data":')
_TAIL_TEXT = (
    '},"decision_id":"',
    '","event_id":"',
    '","kind":"',
    '","occurred_at":"',
    '","schema_version":',
    ',"tenant":"',
    '","trace_id":"',
    '"}',
)
_DATA_START = (
    f"({1 + sum(map(len, _HEAD_TEXT))} + octet_length(e.actor_id) + octet_length(e.actor_type))"
)
# (An event of no decision has an empty decision id: the AI calls' check reads every
# ai.consulted event, whatever it holds.)
_TAIL_LENGTH = (
    f"({sum(map(len, _TAIL_TEXT)) + 36 + 27} + octet_length(e.kind)"
    " + octet_length(coalesce(e.decision_id::text, ''))"
    " + octet_length(e.schema_version::text) + octet_length(e.tenant_id)"
    " + octet_length(e.trace_id))"
)
DATA = (
    f"convert_from(substr(e.canonical, {_DATA_START},"
    f" octet_length(e.canonical) - {_TAIL_LENGTH} - {_DATA_START} + 2), 'UTF8')::jsonb"
)
"""SQL: an event's `data` (alias `e` for audit_events), cut out of its bytes where its columns
put it, and parsed: right only when the chain check proved that they say what its bytes say."""
_RANGE = "e.tenant_id = %(tenant)s AND e.decision_id >= %(low)s AND e.decision_id <= %(high)s"

# The decision events of the range of decisions, with what the trail says of each.
_EVENTS_FROM_COLUMNS = f"""
    SELECT e.decision_id AS id, e.seq, e.kind, e.actor_id, e.actor_type, e.occurred_at,
        e.trace_id, CASE WHEN e.kind IN ({_DATA_KINDS}) THEN {DATA} END AS d,
        NULL::text AS state, false AS says_state
    FROM audit_events e
    WHERE {_RANGE} AND e.kind IN ({_KINDS})
"""
_EVENTS_FROM_BYTES = f"""
    SELECT id, seq, kind, actor_id, actor_type, occurred_at, trace_id, d,
        d->>'decision_state' AS state, d ? 'decision_state' AS says_state
    FROM (
        SELECT e.decision_id AS id, e.seq, j->>'kind' AS kind, j->'actor'->>'id' AS actor_id,
            j->'actor'->>'type' AS actor_type, (j->>'occurred_at')::timestamptz AS occurred_at,
            j->>'trace_id' AS trace_id, j->'data' AS d
        FROM audit_events e
        -- OFFSET 0: each event parsed once
        CROSS JOIN LATERAL (SELECT convert_from(e.canonical, 'UTF8')::jsonb AS j OFFSET 0) AS p
        WHERE {_RANGE}
        OFFSET 0) AS e
    WHERE kind IN ({_KINDS})
"""


def _last(values: str, seqs: str, last: str) -> str:
    """The value of the decision's last event (by seq) among those two arrays hold: the
    aggregates of a group take its rows together, in the same order (whatever it is)."""
    return f"{values}[array_position({seqs}, {last})]"


# A decision's verdicts are its stored reviews when there are as many of each, every verdict is
# the stored review of its reviewer (`same_review`, joined event by event: no arrays to build),
# and no reviewer gave two (the stored ones are one per reviewer). No sort.
_SAME_REVIEWS = (
    "(t.verdicts = coalesce(s.reviews, 0) AND t.unmatched = 0 AND (t.verdicts <= 1"
    " OR (SELECT count(DISTINCT who) FROM unnest(t.reviewers) AS who) = t.verdicts))"
)

# Each fact, as the stored row says it (left) and as the trail implies it (right), of the same
# type; the names are those of the columns (and `reviews`, the decision's rows of `reviews`).
# A JSON null and no value are the same fact. `t.p` is the data of `decision.proposed`.
FACTS: dict[str, tuple[str, str]] = {
    "decision_type": ("s.decision_type", "t.p->>'decision_type'"),
    "subject_ref": ("s.subject_ref", "t.p->>'subject_ref'"),
    "input_sha256": ("s.input_sha256", "t.p->>'input_sha256'"),
    "suggestion": (f"coalesce(s.suggestion, {_NULL})", f"coalesce(t.p->'suggestion', {_NULL})"),
    "proposer_id": ("s.proposer_id", "t.proposer"),
    "idempotency_key": ("s.idempotency_key", "t.p->>'idempotency_key'"),
    "policy_revision": ("s.policy_revision", "t.p->>'policy_revision'"),
    "required_approvals": ("s.required_approvals", "t.required"),
    "rejections_to_close": ("s.rejections_to_close", "t.to_close"),
    "deadline": ("s.deadline", "t.deadline"),
    "created_at": ("s.created_at", "t.created_at"),
    "trace_id": ("s.trace_id", "t.trace_id"),
    "advice_status": ("s.advice_status", "coalesce(t.p->'advice'->>'status', 'ATTESTED')"),
    "advice_reason": ("s.advice_reason", "coalesce(t.p->'advice'->>'reason', '')"),
    "advice_detail": ("s.advice_detail", "coalesce(t.p->'advice'->>'detail', '')"),
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
# All the facts compared at once (each pair on its own: cheaper than comparing two rows); only
# a decision where one differs has them compared one by one, to name them.
_ALL_SAME = " AND ".join(
    [f"{a} IS NOT DISTINCT FROM {b}" for a, b in FACTS.values()] + [_SAME_REVIEWS]
)
_DIFFERING = (
    "array_remove(ARRAY["
    + ", ".join(f"CASE WHEN {a} IS DISTINCT FROM {b} THEN '{k}' END" for k, (a, b) in FACTS.items())
    + f", CASE WHEN NOT {_SAME_REVIEWS} THEN 'reviews' END], NULL)"
)
_STORED_COLUMNS = ", ".join(f"d.{column}" for column in FACTS)

# The SHA-256 (hex) of a stored input's canonical JSON (`chain.canonical_json`, as
# `proposals.py` hashed it), made by PostgreSQL when the input is an object whose values are
# strings, booleans, nulls or whole numbers below 2**53: the spellings both sides give those
# are the same (keys sorted by code point, which is UTF-8's byte order; strings escaped alike:
# `"`, `\`, \b \f \n \r \t, other controls as \u00xx). NULL for any other input: this
# process hashes those few (`verify_registry.input_sha256`). Hashing here, on every
# connection, rather than one input after another in this process, is most of what the input
# check saves.
_INPUT_SHA256 = """CASE WHEN jsonb_typeof(s.input) = 'object' THEN (
    SELECT CASE WHEN bool_and(jsonb_typeof(v) IN ('string', 'boolean', 'null')
            OR (jsonb_typeof(v) = 'number' AND scale(v::numeric) = 0
                AND abs(v::numeric) < 9007199254740992)) IS NOT false
        THEN encode(sha256(convert_to('{' || coalesce(string_agg(to_json(k)::text || ':'
            || v::text, ',' ORDER BY k COLLATE "C"), '') || '}', 'UTF8')), 'hex') END
    FROM jsonb_each(s.input) AS i(k, v)) END"""
# How a decision's stored input stands against its proposal's `input_sha256`: the same,
# different, or to be hashed by this process (`_INPUT_SHA256`). A decision with no row or no
# proposal is named otherwise (the chain check, the policy's `proposals`).
_INPUT_CHECK = f"""CASE WHEN s.id IS NULL OR t.p IS NULL THEN 'same'
    WHEN s.input IS NULL THEN 'differs'
    ELSE (SELECT CASE WHEN h IS NULL THEN 'hash' WHEN h = t.p->>'input_sha256' THEN 'same'
        ELSE 'differs' END FROM (SELECT {_INPUT_SHA256} AS h OFFSET 0) AS x) END"""

_REVIEW = "kind = 'review.recorded'"
_PROPOSED = "kind = 'decision.proposed'"
_CLAIMED = "kind = 'decision.claimed'"
_FINALIZED = "kind = 'decision.finalized'"

_FACTS_SQL = f"""
WITH said AS (
    -- what each event says, read once; which aggregates take it, decided once
    SELECT id, seq, kind, actor_id, actor_type, occurred_at, trace_id, state, says_state,
        {_PROPOSED} AS proposed, {_REVIEW} AS review, {_CLAIMED} AS claimed,
        {_FINALIZED} AS finalized,
        kind IN ('decision.finalized', 'decision.expired') AS closes,
        kind IN ('decision.released', 'decision.expired') AS unclaims,
        actor_type <> 'system' AS counted,
        CASE WHEN {_PROPOSED} THEN d END AS p,
        CASE WHEN {_REVIEW} THEN d->>'verdict' END AS verdict,
        CASE WHEN {_REVIEW} THEN d->'amended_output' END AS amended,
        CASE WHEN {_REVIEW} THEN d->'reviewer_roles' END AS roles,
        CASE WHEN {_REVIEW} THEN d->>'justification' END AS justification,
        CASE WHEN {_CLAIMED} THEN d->>'claimed_by' END AS claimed_by,
        CASE WHEN {_CLAIMED} THEN d->>'claim_expires_at' END AS claim_expires_at,
        CASE WHEN {_FINALIZED} THEN d->'outcome' END AS outcome,
        CASE WHEN {_REVIEW} AND d ? 'eligible_roles' THEN NOT EXISTS (
            SELECT 1 FROM jsonb_array_elements_text(d->'eligible_roles') AS role
            WHERE d->'reviewer_roles' ? role) END AS role_refused
    FROM (@EVENTS@ OFFSET 0) AS e
    OFFSET 0
), ev AS (
    -- each verdict with the stored review of its reviewer, if any
    SELECT e.*, e.review AND r.reviewer_id IS NOT NULL
        AND (r.verdict, r.justification, to_jsonb(r.reviewer_roles),
            coalesce(r.amended_output, {_NULL}), r.decided_at)
        IS NOT DISTINCT FROM (e.verdict, e.justification, coalesce(e.roles, {_NULL}),
            coalesce(e.amended, {_NULL}), e.occurred_at) AS same_review
    FROM said e
    LEFT JOIN (SELECT * FROM reviews r WHERE r.tenant_id = %(tenant)s
            AND r.decision_id >= %(low)s AND r.decision_id <= %(high)s) AS r
        ON r.decision_id = e.id AND r.reviewer_id = e.actor_id AND e.review
), trail AS (
    SELECT id,
        count(*) FILTER (WHERE proposed) AS proposals,
        -- one proposal (more is a problem of its own): any aggregate gives its values
        (array_agg(p) FILTER (WHERE proposed))[1] AS p,
        max(actor_id) FILTER (WHERE proposed) AS proposer,
        max(occurred_at) FILTER (WHERE proposed) AS created_at,
        max(trace_id) FILTER (WHERE proposed) AS trace_id,
        max(occurred_at) AS updated_at,
        min(occurred_at) FILTER (WHERE closes) AS finalized_at,
        array_agg(state) FILTER (WHERE says_state) AS states,
        array_agg(seq) FILTER (WHERE says_state) AS state_seqs,
        max(seq) FILTER (WHERE says_state) AS state_seq,
        count(*) FILTER (WHERE verdict IN ('APPROVE', 'AMEND')) AS approvals,
        count(*) FILTER (WHERE verdict = 'REJECT') AS rejections,
        array_agg(actor_id) FILTER (WHERE verdict IN ('APPROVE', 'AMEND') AND counted)
            AS approved_by,
        array_agg(actor_id) FILTER (WHERE verdict = 'REJECT' AND counted) AS rejected_by,
        count(*) FILTER (WHERE verdict = 'AMEND') AS amendments,
        array_agg(amended) FILTER (WHERE verdict = 'AMEND') AS amendeds,
        array_agg(seq) FILTER (WHERE verdict = 'AMEND') AS amendment_seqs,
        max(seq) FILTER (WHERE verdict = 'AMEND') AS amendment_seq,
        array_agg(outcome) FILTER (WHERE finalized) AS outcomes,
        array_agg(seq) FILTER (WHERE finalized) AS outcome_seqs,
        max(seq) FILTER (WHERE finalized) AS outcome_seq,
        array_agg(claimed_by) FILTER (WHERE claimed) AS claimers,
        array_agg(claim_expires_at) FILTER (WHERE claimed) AS claim_ends,
        array_agg(seq) FILTER (WHERE claimed) AS claim_seqs,
        max(seq) FILTER (WHERE claimed) AS claim_seq,
        max(seq) FILTER (WHERE unclaims) AS unclaimed_seq,
        count(*) FILTER (WHERE review) AS verdicts,
        count(*) FILTER (WHERE review AND NOT same_review) AS unmatched,
        array_agg(seq) FILTER (WHERE review) AS review_seqs,
        array_agg(actor_id) FILTER (WHERE review) AS reviewers,
        array_agg(occurred_at) FILTER (WHERE review) AS review_times,
        max(seq) FILTER (WHERE review) AS last_review_seq,
        max(occurred_at) FILTER (WHERE review) AS last_review_at,
        min(seq) FILTER (WHERE role_refused) AS role_refused_seq
    FROM ev
    GROUP BY id
), stored_reviews AS (
    SELECT r.decision_id, count(*) AS reviews
    FROM reviews r
    WHERE r.tenant_id = %(tenant)s AND r.decision_id >= %(low)s AND r.decision_id <= %(high)s
    GROUP BY r.decision_id
), stored AS (
    SELECT d.id, d.state, {_STORED_COLUMNS}, d.input, r.reviews
    FROM decisions d LEFT JOIN stored_reviews r ON r.decision_id = d.id
    WHERE d.tenant_id = %(tenant)s AND d.id >= %(low)s AND d.id <= %(high)s
), replayed AS (
    SELECT t.*,
        {_last("t.states", "t.state_seqs", "t.state_seq")} AS said_state,
        {_last("t.outcomes", "t.outcome_seqs", "t.outcome_seq")} AS outcome,
        {_last("t.claimers", "t.claim_seqs", "t.claim_seq")} AS claimed_by,
        {_last("t.claim_ends", "t.claim_seqs", "t.claim_seq")} AS claim_expires_at,
        (t.p->>'required_approvals')::int AS required,
        (t.p->>'rejections_to_close')::int AS to_close,
        (t.p->>'deadline')::timestamptz AS deadline,
        CASE WHEN t.amendments > 0
            THEN {_last("t.amendeds", "t.amendment_seqs", "t.amendment_seq")}
            ELSE t.p->'suggestion'->'output' END AS derived
    FROM trail t
    OFFSET 0
), ended AS (
    SELECT t.*,
        -- a claim ends with a release, an expiry, or a verdict of its holder
        CASE WHEN t.claim_seq IS NULL OR t.unclaimed_seq > t.claim_seq THEN true
            -- most often, the holder gave the last verdict
            WHEN t.last_review_seq > t.claim_seq AND t.claimed_by
                = {_last("t.reviewers", "t.review_seqs", "t.last_review_seq")} THEN true
            WHEN t.claimed_by = ANY(t.reviewers) THEN EXISTS (
                SELECT 1 FROM unnest(t.review_seqs, t.reviewers) AS u(s, who)
                WHERE s > t.claim_seq AND who = t.claimed_by)
            ELSE false END AS claim_ended
    FROM replayed t
), compared AS (
    SELECT t.id, @STATE@ AS state, t.proposals, t.required, t.to_close,
        -- distinct (a forged trail may name one reviewer twice); most have one or none
        CASE WHEN cardinality(t.approved_by) > 1 THEN (SELECT count(DISTINCT who)
            FROM unnest(t.approved_by) AS who) ELSE coalesce(cardinality(t.approved_by), 0)
            END AS approvers,
        CASE WHEN cardinality(t.rejected_by) > 1 THEN (SELECT count(DISTINCT who)
            FROM unnest(t.rejected_by) AS who) ELSE coalesce(cardinality(t.rejected_by), 0)
            END AS rejecters,
        t.role_refused_seq, t.outcome_seq, t.amendments,
        CASE WHEN s.id IS NULL OR ({_ALL_SAME}) THEN '{{}}'::text[] ELSE {_DIFFERING} END
            AS differing,
        CASE WHEN t.proposer = ANY(t.reviewers) THEN (SELECT min(s)
            FROM unnest(t.review_seqs, t.reviewers) AS u(s, who) WHERE who = t.proposer)
            END AS proposer_seq,
        CASE WHEN t.last_review_at >= t.deadline THEN (SELECT min(s)
            FROM unnest(t.review_seqs, t.review_times) AS u(s, at) WHERE at >= t.deadline)
            END AS late_seq,
        t.outcome IS NOT NULL AND t.outcome <> {_NULL} AS has_outcome,
        coalesce(t.outcome, {_NULL}) = coalesce(t.derived, {_NULL}) AS derived,
        {_INPUT_CHECK} AS input_check
    FROM ended t LEFT JOIN stored s ON s.id = t.id
        -- the trail's states where they are not the stored ones (`TrailStates`)
        LEFT JOIN unnest(%(ids)s::uuid[], %(states)s::text[]) AS o(id, state) ON o.id = t.id
    OFFSET 0
), judged AS (
    SELECT c.*,
        -- the review policy re-proved from the events (I1); the same rules as
        -- aval.verifier.policy_replay, which applies them offline
        array_remove(ARRAY[
            CASE WHEN c.proposer_seq IS NOT NULL THEN 'approver_is_proposer' END,
            CASE WHEN c.late_seq IS NOT NULL THEN 'verdict_after_deadline' END,
            CASE WHEN c.role_refused_seq IS NOT NULL THEN 'verdict_role_not_eligible' END,
            CASE WHEN c.state IN ('APPROVED', 'AMENDED', 'REJECTED', 'EXPIRED')
                AND (c.proposals <> 1
                    OR (c.state IN ('APPROVED', 'AMENDED')
                        AND c.approvers < greatest(coalesce(c.required, 0), 1))
                    OR (c.state = 'REJECTED'
                        AND c.rejecters < greatest(coalesce(c.to_close, 0), 1)))
                THEN 'policy_quorum_not_met' END,
            CASE WHEN c.state = 'EXPIRED' AND c.has_outcome THEN 'expired_with_outcome' END,
            CASE WHEN (c.state IN ('APPROVED', 'AMENDED') AND (c.outcome_seq IS NULL
                    OR NOT c.derived OR (c.state = 'AMENDED') <> (c.amendments > 0)))
                OR (c.state = 'REJECTED' AND c.has_outcome)
                THEN 'outcome_not_derived' END
        ], NULL) AS violations
    FROM compared c
)
SELECT id, differing, violations, input_check, state, proposals, required, to_close,
    approvers, rejecters, proposer_seq, late_seq, role_refused_seq, outcome_seq
FROM judged
WHERE differing <> '{{}}' OR violations <> '{{}}' OR input_check <> 'same'
"""
# Every event parsed whole; the states are those the events say.
_FROM_BYTES = _FACTS_SQL.replace("@EVENTS@", _EVENTS_FROM_BYTES).replace("@STATE@", "t.said_state")
# The columns proved by the chain check, only the data parsed; the states are the stored ones
# but where the trail's differ (`TrailStates`).
_FROM_COLUMNS = _FACTS_SQL.replace("@EVENTS@", _EVENTS_FROM_COLUMNS).replace(
    "@STATE@", "CASE WHEN o.id IS NULL THEN s.state ELSE o.state END"
)


@dataclass(frozen=True)
class TrailStates:
    """What the chain check proved of a tenant's events, for the facts check to rely on: that
    every event's columns say what its bytes say, and the state its trail gives each decision
    where the stored one is not it (None: no event says one)."""

    differing: dict[uuid.UUID, str | None]


@dataclass(frozen=True)
class FactsFinding:
    """One decision where the stored facts and the trail disagree, or the policy fails."""

    decision_id: str
    # Names of the stored facts that differ from what the trail implies; () when none.
    # `input` is among them when the stored input does not hash to its proposal's.
    differing: tuple[str, ...]
    policy: list[tuple[str, int, str]]  # (problem kind, seq, detail)
    # The stored input is of a kind PostgreSQL does not hash the service's way: this process
    # is to hash it (`verify_registry.input_sha256`) and compare.
    input_to_hash: bool = False


def _slices(count: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """`count` ranges of decision ids, inclusive, that cover every id."""
    top = 1 << 128
    bounds = [top * i // count for i in range(count + 1)]
    return [(uuid.UUID(int=bounds[i]), uuid.UUID(int=bounds[i + 1] - 1)) for i in range(count)]


async def _slice_findings(
    conn: AsyncConnection[Any],
    tenant_id: str,
    low: uuid.UUID,
    high: uuid.UUID,
    proven: TrailStates | None,
) -> list[FactsFinding] | None:
    ids = [] if proven is None else [i for i in proven.differing if low <= i <= high]
    params = {
        "tenant": tenant_id,
        "low": low,
        "high": high,
        "ids": ids,
        "states": [proven.differing[i] for i in ids] if proven is not None else [],
    }
    try:
        async with conn.transaction(), conn.cursor() as cur:  # a savepoint
            # Compiling this query takes PostgreSQL's JIT seconds, far more than running it;
            # the decisions' events are sorted in memory rather than on disk.
            await cur.execute("SET LOCAL jit = off")
            await cur.execute("SET LOCAL work_mem = '64MB'")
            await cur.execute(_FROM_BYTES if proven is None else _FROM_COLUMNS, params)
            rows = await cur.fetchall()
    except psycopg.DataError:  # bytes that are not JSON: the chain check names them
        return None
    return [
        FactsFinding(
            str(decision),
            tuple(differing or ()) + (("input",) if input_check == "differs" else ()),
            [violation(kind, PolicyFacts(*judged)) for kind in violations],
            input_check == "hash",
        )
        for decision, differing, violations, input_check, *judged in rows
    ]


async def facts_findings(
    conns: Sequence[AsyncConnection[Any]], tenant_id: str, proven: TrailStates | None = None
) -> tuple[list[FactsFinding], int]:
    """Every decision of a tenant whose stored facts differ from its trail or whose policy
    does not hold, by decision id; and how many slices of decisions could not be checked
    (events whose bytes are not JSON). Runs on all `conns` at once (one shared snapshot).

    Args:
        conns: connections that share one snapshot.
        tenant_id: the tenant.
        proven: what the chain check proved of the same events in the same snapshot, if it
            found every range whole; None reads everything from the events' bytes.
    """
    slices = _slices(len(conns))
    results = await all_of(
        *(
            _slice_findings(c, tenant_id, low, high, proven)
            for c, (low, high) in zip(conns, slices, strict=True)
        )
    )
    found = [f for result in results if result is not None for f in result]
    return sorted(found, key=lambda f: f.decision_id), sum(r is None for r in results)
