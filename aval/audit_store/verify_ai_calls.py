"""What verification checks of the AI calls: each row of `ai_calls` (the figures `Evaluate` and
`Usage` show) against the `ai.consulted` event written with it, and every such event against a
row (I3). See docs/trail_facts.md.

The calls are as many as the decisions an AI system advised: the comparison runs in
PostgreSQL, one query, each event's bytes parsed once. An event names its row by `call_id`;
events written before it did name the call by their decision and `role` (a decision has at
most one call of each role), and the columns they do not say (`id`, `decision_type`,
`started_at`) are not compared for them.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import AsyncConnection

from aval.audit_store.verify_facts import DATA
from aval.audit_store.verify_registry import REGISTRY_MISMATCH
from aval.verifier.chain_verifier import Problem

# Each column of a row compared with its event: (column, the event's data key, whether an
# older event may lack the key, in which case the column is not compared). JSON values and
# numbers are compared as JSON (`to_jsonb`), a JSON null and no value being the same.
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("decision_id", "", False),
    ("decision_type", "decision_type", True),
    ("ai_system", "ai_system", False),
    ("model_version", "model_version", False),
    ("role", "role", False),
    ("status", "status", False),
    ("detail", "detail", False),
    ("started_at", "started_at", True),
    ("latency_ms", "latency_ms", False),
    ("attempts", "attempts", False),
    ("input_tokens", "input_tokens", False),
    ("output_tokens", "output_tokens", False),
    ("energy_mwh", "energy_mwh", False),
    ("cost_micro_eur", "cost_micro_eur", False),
    ("output", "output", False),
)


def _differs(column: str, key: str, optional: bool) -> str:
    if column == "decision_id":  # the event's own decision, as its bytes say it
        differs = "s.decision_id IS DISTINCT FROM t.decision_id"
    elif column == "started_at":
        differs = "s.started_at IS DISTINCT FROM (t.d->>'started_at')::timestamptz"
    else:
        differs = (
            f"coalesce(to_jsonb(s.{column}), 'null') IS DISTINCT FROM "
            f"coalesce(t.d->'{key}', 'null')"
        )
    if optional:
        differs = f"t.d ? '{key}' AND {differs}"
    return f"CASE WHEN {differs} THEN '{column}' END"


_DIFFERING = "array_remove(ARRAY[" + ", ".join(_differs(*c) for c in COLUMNS) + "], NULL)"


# The row as a recent event says it, whole: when that is exactly the event's data (and the
# decisions are the same), no column differs, and the columns are not compared one by one.
# Any other spelling (an older event, a key more or less, a time written otherwise) is only
# compared column by column, which names what differs, if anything.
_UTC_ISO = """to_char(s.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
_SAID = [("call_id", "s.id::text")] + [
    (key, _UTC_ISO if column == "started_at" else f"s.{column}")
    for column, key, _ in COLUMNS
    if key
]
_AS_EVENT_SAYS = "jsonb_build_object(" + ", ".join(f"'{k}', {v}" for k, v in _SAID) + ")"
_ROW_DIFFERS = (
    f"CASE WHEN s.decision_id = t.decision_id AND {_AS_EVENT_SAYS} = t.d"
    f" THEN '{{}}'::text[] ELSE {_DIFFERING} END"
)

# The tenant's ai.consulted events, each parsed once. When the chain check proved that every
# event's columns say what its bytes say, only the data is parsed, cut out of the bytes where
# the columns put it (`verify_facts.DATA`); else the whole event. Its kind column is the bytes'
# kind either way (the chain check compares it), and is indexed.
_EVENTS_FROM_COLUMNS = f"""
    SELECT e.seq, e.decision_id, {DATA} AS d
    FROM audit_events e WHERE e.tenant_id = %(tenant)s AND e.kind = 'ai.consulted'"""
_EVENTS_FROM_BYTES = """
    SELECT e.seq, (p.j->>'decision_id')::uuid AS decision_id, p.j->'data' AS d
    FROM audit_events e
    CROSS JOIN LATERAL (SELECT convert_from(e.canonical, 'UTF8')::jsonb AS j OFFSET 0) AS p
    WHERE e.tenant_id = %(tenant)s AND e.kind = 'ai.consulted'"""

# `t`: those events, but one that says neither a call nor a role, which records no call (the
# service never wrote one). `pairs`: each event with the row it names, and
# the columns that differ (computed in the join itself: the planner knows nothing of a CTE's
# rows, and would otherwise pair every row with every event).
_CALLS_SQL = f"""
WITH t AS MATERIALIZED (
    SELECT * FROM (@EVENTS@ OFFSET 0) AS e
    -- a record of a call (every one the service wrote says its role)
    WHERE e.d ? 'call_id' OR e.d ? 'role'
), pairs AS MATERIALIZED (
    SELECT s.id, t.seq, {_ROW_DIFFERS} AS differing
    FROM t JOIN ai_calls s ON s.tenant_id = %(tenant)s AND s.id::text = t.d->>'call_id'
    UNION ALL
    SELECT s.id, t.seq, {_DIFFERING}
    FROM t JOIN ai_calls s ON s.tenant_id = %(tenant)s AND NOT t.d ? 'call_id'
        AND s.decision_id = t.decision_id AND s.role = t.d->>'role'
)
SELECT 'id=' || p.id, p.seq, p.differing, 'differs'
FROM pairs p WHERE cardinality(p.differing) > 0
UNION ALL
SELECT 'id=' || s.id, 0, NULL, 'no event'
FROM ai_calls s
WHERE s.tenant_id = %(tenant)s AND NOT EXISTS (SELECT 1 FROM pairs p WHERE p.id = s.id)
UNION ALL
SELECT coalesce('id=' || (t.d->>'call_id'),
        'decision_id=' || t.decision_id || ', role=' || (t.d->>'role')), t.seq, NULL, 'no row'
FROM t WHERE NOT EXISTS (SELECT 1 FROM pairs p WHERE p.seq = t.seq)
UNION ALL
SELECT 'id=' || p.id, min(p.seq), NULL, 'shared'
FROM pairs p GROUP BY p.id HAVING count(*) > 1
UNION ALL
SELECT 'id=' || p.id, p.seq, NULL, 'one of several'
FROM pairs p WHERE p.seq IN (SELECT seq FROM pairs GROUP BY seq HAVING count(*) > 1)
"""
_FROM_COLUMNS = _CALLS_SQL.replace("@EVENTS@", _EVENTS_FROM_COLUMNS)
_FROM_BYTES = _CALLS_SQL.replace("@EVENTS@", _EVENTS_FROM_BYTES)

_DETAILS = {
    "no event": "no event of the trail records this row",
    "no row": "the trail records this row; the table does not hold it",
    "shared": "several events of the trail record this one row",
    "one of several": "the trail records one call of this decision and role; the table holds "
    "several",
}


async def ai_call_problems(
    conn: AsyncConnection[Any], tenant_id: str, *, columns_proven: bool = False
) -> list[Problem]:
    """Every row of the tenant's `ai_calls` that differs from its `ai.consulted` event (one
    problem per differing column), that no event records, or whose event the table lacks.
    Run it in the verification's snapshot.

    `columns_proven`: the chain check, in the same snapshot, found every event's columns
    saying what its bytes say (`RangePass.whole`); then only each event's data is parsed.
    Events whose bytes are not JSON (which the chain check names) leave the calls unchecked.
    """
    try:
        async with conn.transaction(), conn.cursor() as cur:  # a savepoint
            # Compiling this query takes PostgreSQL's JIT longer than running it.
            await cur.execute("SET LOCAL jit = off")
            await cur.execute("SET LOCAL work_mem = '64MB'")
            query = _FROM_COLUMNS if columns_proven else _FROM_BYTES
            await cur.execute(query, {"tenant": tenant_id})
            rows = await cur.fetchall()
    except psycopg.DataError:
        # Data that is not JSON, or a value of the wrong type (a time that is none): bytes
        # whose hash does not match, which the chain check names, or a chain rewritten from
        # there on, which a checkpoint names if it covers them. Said, not passed over.
        return [
            Problem(
                "projection_unchecked",
                tenant_id,
                0,
                "",
                "some ai.consulted event cannot be read (data that is not JSON, or a value "
                "of the wrong type): the AI calls were not compared with the trail",
            )
        ]
    problems = []
    for row, seq, differing, what in sorted(rows, key=lambda r: (str(r[0]), r[1], r[3])):
        name = f"ai_calls[{row}]"
        details = (
            [f"{column} differs from the trail" for column in differing]
            if what == "differs"
            else [_DETAILS[what]]
        )
        problems += [
            Problem(REGISTRY_MISMATCH, tenant_id, seq, "", f"{name}: {detail}")
            for detail in details
        ]
    return problems
