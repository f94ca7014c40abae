"""GetStats: volumes, override and agreement rates, time to decision, rubber-stamping flags."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from aval.service.deployment import Deployment
from aval.service.errors import FieldViolation, InvalidArgument, PermissionDenied
from aval.service.identity import Principal
from aval.service.requests.audit import StatsIn

DEFAULT_APPROVAL_RATE = 0.95
DEFAULT_REVIEW_SECONDS = 30.0
# The key of the "model" row of decisions that had no AI suggestion.
NO_MODEL = "none"
DIMENSIONS = ("tenant", "decision_type", "model", "reviewer")

# The decisions of the request, each with its model key and its time to decision (seconds, for
# final human outcomes only), and the human verdicts on them. A verdict agrees with the AI when
# it approves the suggestion unchanged: APPROVE on a decision that has a suggestion, with no
# AMEND before it. A reviewer's review time runs from the first time the case was shown to
# them (GetCase: `review.case_displayed`, the verdict's `seconds_on_task`) or they claimed it,
# whichever came first before their verdict, else from the proposal.
_BASE = """
WITH d AS (
    SELECT tenant_id, id, decision_type, state, created_at,
           suggestion IS NOT NULL AS has_ai,
           CASE WHEN suggestion IS NULL THEN %(no_model)s
                ELSE coalesce(nullif(suggestion->'model'->>'name', ''), '?')
                     || coalesce('@' || nullif(suggestion->'model'->>'version', ''), '')
           END AS model,
           CASE WHEN state IN ('APPROVED', 'AMENDED', 'REJECTED')
                THEN extract(epoch FROM finalized_at - created_at)::float8
           END AS ttd
    FROM decisions
    WHERE tenant_id = ANY(%(tenants)s)
      AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s::timestamptz)
      AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s::timestamptz)
), v AS (
    SELECT r.tenant_id, r.decision_id, r.reviewer_id, r.verdict,
           d.decision_type, d.model, d.state, d.ttd, d.has_ai,
           d.has_ai AND r.verdict = 'APPROVE' AND NOT coalesce(bool_or(r.verdict = 'AMEND') OVER (
               PARTITION BY r.tenant_id, r.decision_id ORDER BY r.decided_at, r.reviewer_id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false) AS agrees,
           extract(epoch FROM r.decided_at - coalesce(c.first_look, d.created_at))::float8
               AS review_seconds
    FROM reviews r
    JOIN d ON d.tenant_id = r.tenant_id AND d.id = r.decision_id
    LEFT JOIN LATERAL (
        SELECT min(e.occurred_at) AS first_look FROM audit_events e
        WHERE e.tenant_id = r.tenant_id AND e.decision_id = r.decision_id
          AND e.kind IN ('decision.claimed', 'review.case_displayed')
          AND e.actor_id = r.reviewer_id
          AND e.occurred_at <= r.decided_at
    ) c ON true
)"""

_DIMENSION = """CASE WHEN grouping(decision_type) = 0 THEN 'decision_type'
         WHEN grouping(model) = 0 THEN 'model' ELSE 'tenant' END"""
_SETS = "GROUPING SETS ((tenant_id), (tenant_id, decision_type), (tenant_id, model))"
_P50 = "percentile_cont(0.5) WITHIN GROUP (ORDER BY {0})"
_P90 = "percentile_cont(0.9) WITHIN GROUP (ORDER BY {0})"

# Columns: dimension, tenant, key, decisions, approved, amended, rejected, expired, pending,
# AI verdicts, agreeing verdicts, time to decision p50 and p90, verdicts, review p50.
_GROUPS = f"""{_BASE}, dd AS (
    SELECT {_DIMENSION} AS dimension, tenant_id, coalesce(decision_type, model, tenant_id) AS key,
           count(*) AS decisions,
           count(*) FILTER (WHERE state = 'APPROVED') AS approved,
           count(*) FILTER (WHERE state = 'AMENDED') AS amended,
           count(*) FILTER (WHERE state = 'REJECTED') AS rejected,
           count(*) FILTER (WHERE state = 'EXPIRED') AS expired,
           count(*) FILTER (WHERE state = 'PENDING_REVIEW') AS pending,
           {_P50.format("ttd")} AS p50, {_P90.format("ttd")} AS p90
    FROM d GROUP BY {_SETS}
), vv AS (
    SELECT {_DIMENSION} AS dimension, tenant_id, coalesce(decision_type, model, tenant_id) AS key,
           count(*) FILTER (WHERE has_ai) AS ai_verdicts, count(*) FILTER (WHERE agrees) AS agreed
    FROM v GROUP BY {_SETS}
)
SELECT dd.dimension, dd.tenant_id, dd.key, decisions, approved, amended, rejected, expired,
       pending, coalesce(ai_verdicts, 0), coalesce(agreed, 0), p50, p90, 0, NULL::float8
FROM dd LEFT JOIN vv USING (dimension, tenant_id, key)
UNION ALL
SELECT 'reviewer', tenant_id, reviewer_id, count(DISTINCT decision_id),
       count(*) FILTER (WHERE verdict = 'APPROVE'), count(*) FILTER (WHERE verdict = 'AMEND'),
       count(*) FILTER (WHERE verdict = 'REJECT'), count(*) FILTER (WHERE state = 'EXPIRED'),
       count(*) FILTER (WHERE state = 'PENDING_REVIEW'),
       count(*) FILTER (WHERE has_ai), count(*) FILTER (WHERE agrees),
       {_P50.format("ttd")}, {_P90.format("ttd")}, count(*), {_P50.format("review_seconds")}
FROM v GROUP BY tenant_id, reviewer_id
"""


@dataclass(frozen=True)
class StatsRow:
    """The figures of one group of decisions; fields as in `aval.v1.StatsRow`.

    For dimension "reviewer", `decisions` counts the decisions the reviewer gave a verdict on,
    `approved`, `amended` and `rejected` count the reviewer's verdicts, `expired` and `pending`
    the decisions they reviewed that expired or still wait (e.g. for a second approval), and the
    rates are those of the reviewer's own verdicts.
    """

    dimension: str
    key: str
    tenant: str
    decisions: int
    approved: int
    amended: int
    rejected: int
    expired: int
    pending: int
    override_rate: float
    agreement_rate: float
    time_to_decision_p50_seconds: float
    time_to_decision_p90_seconds: float
    verdicts: int = 0
    review_seconds_p50: float = 0.0
    rubber_stamping: bool = False

    def fields(self) -> dict[str, Any]:
        """The row's fields by name, which are those of the wire message."""
        return asdict(self)


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _row(values: tuple[Any, ...], approval_rate: float, review_seconds: float) -> StatsRow:
    (dimension, tenant, key, decisions, approved, amended, rejected, expired, pending) = values[:9]
    ai_verdicts, agreed, p50, p90, verdicts, review_p50 = values[9:]
    # A reviewer's outcomes are their verdicts; a group's are its decisions' final states.
    overridden = amended + rejected
    stamping = (
        dimension == "reviewer"
        and verdicts > 0
        and _ratio(approved, verdicts) >= approval_rate
        and (review_p50 or 0.0) < review_seconds
    )
    return StatsRow(
        dimension=dimension,
        key=key,
        tenant=tenant,
        decisions=decisions,
        approved=approved,
        amended=amended,
        rejected=rejected,
        expired=expired,
        pending=pending,
        override_rate=_ratio(overridden, approved + overridden),
        agreement_rate=_ratio(agreed, ai_verdicts),
        time_to_decision_p50_seconds=p50 or 0.0,
        time_to_decision_p90_seconds=p90 or 0.0,
        verdicts=verdicts,
        review_seconds_p50=review_p50 or 0.0,
        rubber_stamping=stamping,
    )


# Supervisors may see their colleagues' reviewer figures and rubber-stamping flags (R12: someone
# watches that review stays meaningful), never their own: a flagged reviewer's screens stay the
# same. A deployment that does not want it removes the grant from its grants file.
TEAM_ACTION = "stats.team"


def _tenants(
    deployment: Deployment, principal: Principal, request: StatsIn
) -> list[tuple[str, bool]]:
    """The tenants asked for, each checked against the caller's grants (I5), with whether the
    caller sees all of it (`audit.query`) or only its colleagues' reviewer rows (`stats.team`)."""
    asked = [("tenant", request.tenant)] if request.tenant else []
    asked += [(f"tenants[{i}]", name) for i, name in enumerate(request.tenants)]
    tenants: list[tuple[str, bool]] = []
    for field, name in asked or [("tenant", "")]:
        try:
            checked = (deployment.tenant_for(principal, name, "audit.query", field), True)
        except PermissionDenied:
            checked = (deployment.tenant_for(principal, name, TEAM_ACTION, field), False)
        if checked[0] not in [t for t, _ in tenants]:
            tenants.append(checked)
    return tenants


def _team_view(rows: list[StatsRow], team: set[str], caller: str) -> list[StatsRow]:
    """In the tenants the caller sees as a team member: the reviewer rows of others only."""
    return [
        r for r in rows if r.tenant not in team or (r.dimension == "reviewer" and r.key != caller)
    ]


async def query_stats(
    conn: AsyncConnection[Any],
    tenants: list[str],
    since: datetime | None,
    until: datetime | None,
    *,
    approval_rate: float = DEFAULT_APPROVAL_RATE,
    review_seconds: float = DEFAULT_REVIEW_SECONDS,
) -> list[StatsRow]:
    """Computes the statistics of some tenants' decisions in one SQL statement.

    Args:
        conn: A connection of the store (any transaction; the statement only reads).
        tenants: The tenants, already authorised.
        since: Only decisions created at or after this time, when set.
        until: Only decisions created before this time, when set.
        approval_rate: A reviewer is flagged when their share of APPROVE verdicts is at least
            this...
        review_seconds: ...and their median review time is below this many seconds.

    Returns:
        The rows by dimension (tenant, decision_type, model, reviewer), tenant and key.
    """
    params = {"tenants": tenants, "since": since, "until": until, "no_model": NO_MODEL}
    cur = await conn.execute(_GROUPS, params)
    rows = [_row(values, approval_rate, review_seconds) for values in await cur.fetchall()]
    return sorted(rows, key=lambda r: (DIMENSIONS.index(r.dimension), r.tenant, r.key))


async def get_stats(
    deployment: Deployment, principal: Principal, request: StatsIn
) -> list[StatsRow]:
    """Statistics per tenant, decision type, model and reviewer of the decisions asked for.

    Args:
        deployment: The running deployment.
        principal: The caller; it needs `audit.query` in every tenant asked for, or
            `stats.team` (supervisors), which shows only the other reviewers' rows.
        request: The tenants (the caller's by default), the period and the thresholds.

    Returns:
        The rows, as `query_stats` orders them.

    Raises:
        InvalidArgument: an unknown tenant, or `until` not after `since`.
        PermissionDenied: the caller may not query one of the tenants (I5).

    Example:
        A supervisor of ville-a asking for ville-a's statistics gets the reviewer rows of
        their colleagues (with their rubber-stamping flags), and none about themselves.
    """
    checked = _tenants(deployment, principal, request)
    tenants = [t for t, _ in checked]
    team = {t for t, full in checked if not full}
    if request.since and request.until and request.until <= request.since:
        detail = "until must be after since"
        raise InvalidArgument([FieldViolation("until", "OUT_OF_RANGE", {"detail": detail})])
    async with deployment.store.reading() as conn:
        rows = await query_stats(
            conn,
            tenants,
            request.since,
            request.until,
            approval_rate=request.rubber_stamp_approval_rate or DEFAULT_APPROVAL_RATE,
            review_seconds=request.rubber_stamp_review_seconds or DEFAULT_REVIEW_SECONDS,
        )
    return _team_view(rows, team, principal.id) if team else rows
