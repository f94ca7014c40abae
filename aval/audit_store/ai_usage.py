"""SQL over the AI calls: evaluation of model versions against human decisions, and usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection


@dataclass(frozen=True)
class VersionEvaluation:
    """How one model version in one role fared against the final human decisions."""

    model_version: str
    role: str  # PRIMARY or SHADOW
    calls: int
    suggestions: int
    unavailable: int
    invalid_outputs: int
    # Valid suggestions whose decision a human made final: approved, amended or rejected.
    decided: int
    # Of those, the suggestions equal to the released outcome.
    agreed: int
    # Of those decided, the ones a human overrode (see `evaluate`).
    overridden: int
    # Percentiles of the latency of the calls made (calls the kill switch prevented aside).
    latency_p50_ms: float
    latency_p90_ms: float
    input_tokens: int
    output_tokens: int
    energy_mwh: int
    cost_micro_eur: int

    @property
    def agreement_rate(self) -> float:
        return self.agreed / self.decided if self.decided else 0.0

    @property
    def override_rate(self) -> float:
        return self.overridden / self.decided if self.decided else 0.0


@dataclass(frozen=True)
class UsageRow:
    """The AI calls of one (decision type, AI system, model version, role) over a period."""

    decision_type: str
    ai_system: str
    model_version: str
    role: str
    calls: int
    failures: int
    input_tokens: int
    output_tokens: int
    total_latency_ms: int
    energy_mwh: int
    cost_micro_eur: int


_FINAL = "('APPROVED', 'AMENDED', 'REJECTED')"
_EFFECTIVE = "('APPROVED', 'AMENDED')"
_SUGGESTED = "c.status = 'SUGGESTED'"

# The largest bigint: sums are capped at it rather than fail a report.
_BIGINT = 2**63 - 1

_EVALUATE = f"""
SELECT c.model_version, c.role,
       count(*),
       count(*) FILTER (WHERE {_SUGGESTED}),
       count(*) FILTER (WHERE c.status = 'UNAVAILABLE'),
       count(*) FILTER (WHERE c.status = 'INVALID_OUTPUT'),
       count(*) FILTER (WHERE {_SUGGESTED} AND d.state IN {_FINAL}),
       count(*) FILTER (WHERE {_SUGGESTED} AND d.state IN {_EFFECTIVE} AND c.output = d.outcome),
       count(*) FILTER (WHERE {_SUGGESTED} AND CASE c.role
           WHEN 'PRIMARY' THEN d.state IN ('AMENDED', 'REJECTED')
           ELSE d.state = 'REJECTED'
                OR (d.state IN {_EFFECTIVE} AND c.output IS DISTINCT FROM d.outcome) END),
       coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY c.latency_ms)
                FILTER (WHERE c.status <> 'STOPPED'), 0),
       coalesce(percentile_cont(0.9) WITHIN GROUP (ORDER BY c.latency_ms)
                FILTER (WHERE c.status <> 'STOPPED'), 0),
       least(coalesce(sum(c.input_tokens), 0), {_BIGINT})::bigint,
       least(coalesce(sum(c.output_tokens), 0), {_BIGINT})::bigint,
       least(sum(c.energy_mwh), {_BIGINT})::bigint,
       least(sum(c.cost_micro_eur), {_BIGINT})::bigint
FROM ai_calls c
JOIN decisions d ON d.tenant_id = c.tenant_id AND d.id = c.decision_id
WHERE {{where}}
GROUP BY c.model_version, c.role
ORDER BY c.role, c.model_version
"""


async def evaluate(
    conn: AsyncConnection[Any],
    tenant_id: str,
    ai_system: str,
    *,
    decision_type: str = "",
    since: datetime | None = None,
) -> list[VersionEvaluation]:
    """Per (model version, role), the calls of an AI system and their agreement with the final
    human decisions; primary role first, then by version.

    A primary suggestion is overridden when its decision was amended or rejected; a shadow
    suggestion, when its decision was rejected or its output differs from the released outcome
    (what a human would have had to correct had it been shown).
    """
    clauses = ["c.tenant_id = %s", "c.ai_system = %s"]
    params: list[Any] = [tenant_id, ai_system]
    if decision_type:
        clauses.append("c.decision_type = %s")
        params.append(decision_type)
    if since is not None:
        clauses.append("c.started_at >= %s")
        params.append(since)
    cur = await conn.execute(_EVALUATE.format(where=" AND ".join(clauses)), params)
    return [VersionEvaluation(*row) for row in await cur.fetchall()]


async def usage(
    conn: AsyncConnection[Any],
    tenant_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[UsageRow]:
    """The AI calls of a tenant that started in [since, until), per decision type, AI system,
    model version and role, in that order. A failure is any call without a valid suggestion
    (including those the kill switch prevented)."""
    clauses = ["tenant_id = %s"]
    params: list[Any] = [tenant_id]
    if since is not None:
        clauses.append("started_at >= %s")
        params.append(since)
    if until is not None:
        clauses.append("started_at < %s")
        params.append(until)
    cur = await conn.execute(
        "SELECT decision_type, ai_system, model_version, role, count(*),"
        " count(*) FILTER (WHERE status <> 'SUGGESTED'),"
        # Sums capped at bigint's largest value: no report fails on counts a backend inflated.
        f" least(coalesce(sum(input_tokens), 0), {_BIGINT})::bigint,"
        f" least(coalesce(sum(output_tokens), 0), {_BIGINT})::bigint,"
        f" least(sum(latency_ms), {_BIGINT})::bigint, least(sum(energy_mwh), {_BIGINT})::bigint,"
        f" least(sum(cost_micro_eur), {_BIGINT})::bigint"
        f" FROM ai_calls WHERE {' AND '.join(clauses)}"
        " GROUP BY decision_type, ai_system, model_version, role"
        " ORDER BY decision_type, ai_system, role, model_version",
        params,
    )
    return [UsageRow(*row) for row in await cur.fetchall()]
