"""Inspectors' queries over the trail: filters across tenants, stable paging, streaming reads."""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from aval.audit_store import trail
from aval.audit_store.records import AuditEvent, Verdict

# Read by position, see _record.
_COLUMNS = (
    "e.tenant_id, e.seq, e.event_id, e.occurred_at, e.decision_id, e.kind, e.actor_id, "
    "e.actor_type, e.trace_id, e.schema_version, e.canonical, e.prev_hash, e.hash"
)
_TOKEN_PREFIX = "ev1"
# Conditions on the event: (field of EventQuery, SQL on the event `e`).
_EVENT_FIELDS = (
    ("decision_id", "e.decision_id = %(decision_id)s"),
    ("kind", "e.kind = %(kind)s"),
    ("since", "e.occurred_at >= %(since)s"),
    ("until", "e.occurred_at < %(until)s"),
    ("reviewer", "e.actor_id = %(reviewer)s"),
)
# Conditions on the decision: (field, its value on the decision `d`, on its first event `p`).
# A decision's first event (decision.proposed) records its type and its suggestion.
_DECISION_FIELDS = (
    ("decision_type", "d.decision_type", "event_json(p.canonical)->'data'->>'decision_type'"),
    (
        "ai_system",
        "d.suggestion->'model'->>'name'",
        "event_json(p.canonical)->'data'->'suggestion'->'model'->>'name'",
    ),
    (
        "model_version",
        "d.suggestion->'model'->>'version'",
        "event_json(p.canonical)->'data'->'suggestion'->'model'->>'version'",
    ),
)
# The verdicts by which a human departs from the AI's suggestion.
_DEPARTING = "r.verdict IN ('AMEND', 'REJECT')"
_DEPARTED = (
    "EXISTS (SELECT 1 FROM reviews r WHERE r.tenant_id = d.tenant_id AND r.decision_id = d.id "
    f"AND {_DEPARTING})"
)
# Up to this many matching decisions in a tenant, a page reads their events and sorts them;
# beyond, it reads the tenant's events in order and looks up each one's decision, in windows
# of sequence numbers (contiguous): the first SCAN_WINDOW long, each twice the last, until
# the page is full or has taken about PAGE_SECONDS (it then comes back short, see `page`).
FEW_DECISIONS = 300
SCAN_WINDOW = 10_000
PAGE_SECONDS = 0.04
# A time range is turned into sequence numbers with summaries of blocks this long.
TIME_BLOCK = 1024


@dataclass(frozen=True)
class EventQuery:
    """What an inspector asks of the trail, across one or more tenants.

    Unset fields (None) do not filter. The filters on the decision (type, AI system, model
    version, overrode) select the events that name a decision matching them.

    Attributes:
        tenants: The tenants to read, already authorised.
        decision_id: Events of this decision.
        kind: Events of this kind, e.g. ``"review.recorded"``.
        since: Events that occurred at or after this time.
        until: Events that occurred before this time.
        decision_type: Events of decisions of this type.
        ai_system: Events of decisions whose suggestion came from this model name.
        model_version: Events of decisions whose suggestion came from this model version.
        reviewer: Events whose actor is this person (or program).
        verdict: ``review.recorded`` events that record this verdict.
        overrode: True: events of decisions that hold at least one AMEND or REJECT review, that
            is where a human departed from the AI's suggestion, whatever the decision's state
            (an AMENDED or REJECTED decision always holds one; a pending or expired one may).
            False: events of decisions that hold no such review (approved as suggested, not
            reviewed yet, or expired without a departing verdict). As the decisions are at the
            time of the query.
    """

    tenants: tuple[str, ...]
    decision_id: uuid.UUID | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    decision_type: str | None = None
    ai_system: str | None = None
    model_version: str | None = None
    reviewer: str | None = None
    verdict: Verdict | None = None
    overrode: bool | None = None

    @property
    def on_decisions(self) -> bool:
        """Whether the query filters on the events' decisions."""
        return bool(self.decision_type or self.ai_system or self.model_version) or (
            self.overrode is not None
        )


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in the order of every query: by tenant, then by sequence number."""

    tenant_id: str
    seq: int


def encode_cursor(cursor: Cursor) -> str:
    """The opaque, URL-safe page token that resumes after `cursor`."""
    raw = f"{_TOKEN_PREFIX}:{cursor.seq}:{cursor.tenant_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """Reads a token made by `encode_cursor`.

    Raises:
        ValueError: The token was not made by `encode_cursor`.
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not an event page token") from exc
    prefix, _, rest = raw.partition(":")
    seq, _, tenant = rest.partition(":")
    if prefix != _TOKEN_PREFIX or not tenant or not seq.isdigit():
        raise ValueError("not an event page token")
    return Cursor(tenant, int(seq))


def _event_conditions(q: EventQuery, params: dict[str, Any]) -> list[str]:
    """Conditions on the event (alias ``e``), their parameters put in `params`."""
    clauses = []
    for name, clause in _EVENT_FIELDS:
        value = getattr(q, name)
        if value is not None and value != "":
            clauses.append(clause)
            params[name] = value
    if q.verdict is not None:
        # The kind is spelled out so that the partial index (migration 0011) applies.
        clauses.append(
            "e.kind = 'review.recorded'"
            " AND event_json(e.canonical)->'data'->>'verdict' = %(verdict)s"
        )
        params["verdict"] = q.verdict.value
    return clauses


def _attribute_conditions(q: EventQuery, params: dict[str, Any], *, first_event: bool) -> list[str]:
    """Type, AI system and version, on the decision (``d``) or on its first event (``p``)."""
    clauses = []
    for name, on_decision, on_first_event in _DECISION_FIELDS:
        if getattr(q, name):
            clauses.append(f"({on_first_event if first_event else on_decision}) = %({name})s")
            params[name] = getattr(q, name)
    return clauses


def _decision_conditions(q: EventQuery, params: dict[str, Any]) -> list[str]:
    """Every condition on the decision (alias ``d``), `overrode` included."""
    clauses = _attribute_conditions(q, params, first_event=False)
    if q.overrode is not None:
        clauses.append(_DEPARTED if q.overrode else f"NOT {_DEPARTED}")
    return clauses


def _select(where: Sequence[str], order: str, limit: bool) -> str:
    tail = " LIMIT %(limit)s" if limit else ""
    return (
        f"SELECT {_COLUMNS} FROM audit_events e WHERE {' AND '.join(where)} ORDER BY {order}{tail}"
    )


def page_sql(q: EventQuery, after: Cursor | None, limit: int) -> tuple[str, dict[str, Any]] | None:
    """The one statement of a page of a query with no time range and no decision condition.

    The tenant of the cursor and the tenants after it are read in two branches, each one
    ordered index range scan that stops as soon as the page is full. None: nothing to read.
    """
    params: dict[str, Any] = {"limit": limit}
    shared = _event_conditions(q, params)
    tenants = sorted(set(q.tenants))
    branches = []
    if after is not None and after.tenant_id in tenants:
        params["cursor_tenant"], params["cursor_seq"] = after.tenant_id, after.seq
        where = ["e.tenant_id = %(cursor_tenant)s", "e.seq > %(cursor_seq)s", *shared]
        branches.append(_select(where, "e.seq", limit=True))
    params["tenants"] = [t for t in tenants if after is None or t > after.tenant_id]
    if params["tenants"]:
        where = ["e.tenant_id = ANY(%(tenants)s::text[])", *shared]
        branches.append(_select(where, "e.tenant_id, e.seq", limit=True))
    if len(branches) < 2:
        return (branches[0], params) if branches else None
    union = " UNION ALL ".join(f"({b})" for b in branches)
    return f"SELECT * FROM ({union}) page ORDER BY 1, 2 LIMIT %(limit)s", params


def tenant_sql(q: EventQuery, *, few: bool, limit: bool) -> tuple[str, dict[str, Any]]:
    """The statement that reads one tenant's matching events in a range of sequence numbers.

    Parameters left to set: ``tenant``, ``after_seq``, ``through_seq`` (and ``limit``).

    Args:
        q: The query.
        few: Few decisions match: read their events (index by decision) and sort them, rather
            than read the tenant's events in order and look up each one's decision.
        limit: Whether the statement ends with ``LIMIT %(limit)s``.
    """
    params: dict[str, Any] = {}
    where = ["e.tenant_id = %(tenant)s", "e.seq > %(after_seq)s", "e.seq <= %(through_seq)s"]
    # Times only filter here: `_time_bounds` has turned them into sequence numbers, and read
    # through the time index a window of sequence numbers would cost the whole time range.
    where += [
        c.replace("e.occurred_at", "(e.occurred_at + interval '0 s')")
        for c in _event_conditions(q, params)
    ]
    decided = " AND ".join(_decision_conditions(q, params))
    if decided and few:
        where.append(
            f"e.decision_id IN (SELECT d.id FROM decisions d WHERE d.tenant_id = %(tenant)s "
            f"AND {decided})"
        )
    elif decided:
        # A scalar subquery, not EXISTS: PostgreSQL keeps it per row, so the scan stays in
        # sequence order and stops with the page, instead of joining every event first.
        where.append(
            "coalesce((SELECT true FROM decisions d WHERE d.tenant_id = e.tenant_id "
            f"AND d.id = e.decision_id AND {decided}), false)"
        )
    return _select(where, "e.seq", limit=limit), params


@dataclass(frozen=True)
class TenantPlan:
    """How to read one tenant: its last sequence number, and what its decisions allow.

    Attributes:
        head: The tenant's last sequence number (0 with no event).
        decisions: Matching decisions, counted up to ``FEW_DECISIONS + 1`` (then: many).
        first: The first event of the first matching decision (0 when not known): no
            matching event comes before it.
    """

    head: int
    decisions: int
    first: int


async def plan(
    conn: AsyncConnection[Any], q: EventQuery, tenants: Sequence[str]
) -> dict[str, TenantPlan]:
    """Plans each tenant of a query, in one statement for all of them, from indexes only."""
    params: dict[str, Any] = {"tenants": list(tenants), "cap": FEW_DECISIONS + 1}
    count, first = "%(cap)s", "0"
    attributes = _attribute_conditions(q, params, first_event=False)
    if attributes:  # an upper bound when `overrode` is asked too
        count = "SELECT 1 FROM decisions d WHERE d.tenant_id = t.tenant AND " + " AND ".join(
            attributes
        )
        first = (
            "(SELECT p.seq FROM audit_events p WHERE p.tenant_id = t.tenant AND "
            "p.kind = 'decision.proposed' AND "
            + " AND ".join(_attribute_conditions(q, params, first_event=True))
            + " ORDER BY p.seq LIMIT 1)"
        )
    elif q.overrode:  # counts departing reviews: an upper bound of their decisions
        count = "SELECT 1 FROM reviews r WHERE r.tenant_id = t.tenant AND " + _DEPARTING
    if count != "%(cap)s":
        count = f"(SELECT count(*) FROM ({count} LIMIT %(cap)s) m)"
    cur = await conn.execute(
        "SELECT t.tenant, (SELECT h.seq FROM chain_heads h WHERE h.tenant_id = t.tenant), "
        f"{count}, {first} FROM unnest(%(tenants)s::text[]) AS t(tenant)".encode(),
        params,
        prepare=False,
    )
    return {row[0]: TenantPlan(row[1] or 0, row[2], row[3] or 0) for row in await cur.fetchall()}


def _record(row: Sequence[Any]) -> AuditEvent:
    canonical = bytes(row[10])
    # The body is what the hashed bytes say.
    fields = [*row[:10], trail.parsed_body(canonical), canonical, bytes(row[11]), bytes(row[12])]
    return AuditEvent(*fields)


# (database, tenant, TIME_BLOCK) -> (earliest, latest) time of each whole block of sequence
# numbers, in order. A whole block of an append-only trail never changes.
_TIME_BLOCKS: dict[tuple[str, str, int], list[tuple[datetime, datetime]]] = {}


async def _time_blocks(
    conn: AsyncConnection[Any], tenant: str, head: int
) -> list[tuple[datetime, datetime]] | None:
    """The earliest and latest times of each block of the tenant's sequence numbers.

    Block b holds sequence numbers b * TIME_BLOCK + 1 to (b + 1) * TIME_BLOCK, the last one
    up to `head`. Whole blocks are read once per process (then those the trail adds), the
    last one each time. Times and sequence numbers nearly agree but not exactly (clocks,
    concurrent transactions): these summaries turn a time range into exact sequence numbers.
    None when a block is missing (sequence numbers with gaps: verification will say why).
    """
    key = (f"{conn.info.host}:{conn.info.port}/{conn.info.dbname}", tenant, TIME_BLOCK)
    blocks = _TIME_BLOCKS.setdefault(key, [])
    done = len(blocks)
    cur = await conn.execute(
        "SELECT (seq - 1) / %(block)s, min(occurred_at), max(occurred_at) FROM audit_events "
        "WHERE tenant_id = %(tenant)s AND seq > %(done)s AND seq <= %(head)s GROUP BY 1 ORDER BY 1",
        {"block": TIME_BLOCK, "tenant": tenant, "done": done * TIME_BLOCK, "head": head},
        prepare=False,
    )
    found = [(row[1], row[2]) for row in await cur.fetchall()]
    if done + len(found) != -(-head // TIME_BLOCK):  # a gap: the trail was tampered with
        return None
    if len(blocks) == done:  # (unless a concurrent page has just added them)
        blocks.extend(found[: max(head // TIME_BLOCK - done, 0)])
    return blocks[:done] + found


async def _time_span(
    conn: AsyncConnection[Any], q: EventQuery, tenant: str, start: int, end: int
) -> tuple[int, int]:
    """Narrows (start, end] to the blocks that may hold events of the query's time range."""
    blocks = await _time_blocks(conn, tenant, end)
    if blocks is None:
        return start, end
    if q.since is not None:
        since = q.since
        first = (b for b in range(start // TIME_BLOCK, len(blocks)) if blocks[b][1] >= since)
        start = max(start, next(first, len(blocks)) * TIME_BLOCK)
    if q.until is not None:
        until = q.until
        last = (b for b in reversed(range(len(blocks))) if blocks[b][0] < until)
        end = min(end, (next(last, -1) + 1) * TIME_BLOCK)
    return start, end


@dataclass(frozen=True)
class _Range:
    """The sequence numbers (after, end] of a tenant that may hold matching events; `few`:
    read them by matching decision (see `tenant_sql`)."""

    after: int
    end: int
    few: bool


async def _range(
    conn: AsyncConnection[Any], q: EventQuery, tenant: str, found: TenantPlan, after: int
) -> _Range | None:
    """Which sequence numbers of a tenant to read after `after`; None when none can match."""
    if not found.head or not found.decisions or after >= found.head:
        return None
    if q.on_decisions and found.decisions <= FEW_DECISIONS:
        return _Range(after, found.head, few=True)
    start, end = max(after, found.first - 1), found.head
    if q.since is not None or q.until is not None:
        start, end = await _time_span(conn, q, tenant, start, end)
    return _Range(start, end, few=False) if start < end else None


async def _rows_by_tenant(
    conn: AsyncConnection[Any], q: EventQuery, after: Cursor | None, limit: int
) -> tuple[list[Sequence[Any]], Cursor | None]:
    """Up to `limit` rows, tenant after tenant, each read the way its plan makes cheapest.

    Unless few decisions match, a tenant is read in windows of sequence numbers, the first
    `SCAN_WINDOW` long, each twice the last, or shorter to end within `PAGE_SECONDS` of the
    start at the pace of the last one. When no worthwhile window is left, the rows so far
    come back with the cursor of the last window's end: a page may then hold fewer events than
    asked, even none, and it does not take much longer than `PAGE_SECONDS`.
    """
    tenants = [t for t in sorted(set(q.tenants)) if after is None or t >= after.tenant_id]
    deadline = time.monotonic() + PAGE_SECONDS
    plans: dict[str, TenantPlan] = {}
    rows: list[Sequence[Any]] = []
    for number, tenant in enumerate(tenants):
        start = after.seq if after is not None and after.tenant_id == tenant else 0
        if number and time.monotonic() > deadline + PAGE_SECONDS:  # tenants with no match
            return rows, Cursor(tenant, start)
        if tenant not in plans:  # planned 2, 4, 8... tenants at a time: the first may do
            plans.update(await plan(conn, q, tenants[number : number + 2 * len(plans) + 2]))
        span = await _range(conn, q, tenant, plans[tenant], start)
        if span is None:
            continue
        sql, params = tenant_sql(q, few=span.few, limit=True)
        params["tenant"], window, through = tenant, SCAN_WINDOW, span.after
        while through < span.end:
            start, through = through, span.end if span.few else min(span.end, through + window)
            params.update(after_seq=start, through_seq=through, limit=limit - len(rows))
            began = time.monotonic()
            cur = await conn.execute(sql.encode(), params, prepare=False)
            rows.extend(await cur.fetchall())
            if len(rows) >= limit:
                return rows, None
            # The next window: twice as long, or as long as the time left allows.
            now = time.monotonic()
            pace = (through - start) / max(now - began, 1e-6)
            window = min(2 * window, int((deadline - now) * pace))
            if through < span.end and window < SCAN_WINDOW // 10:
                return rows, Cursor(tenant, through)
    return rows, None


async def page(
    conn: AsyncConnection[Any], q: EventQuery, *, after: Cursor | None, size: int
) -> tuple[list[AuditEvent], Cursor | None]:
    """One page of matching events in (tenant, seq) order, and where the next page starts.

    A page holds `size` events, except the last one and one whose reading stopped early (see
    `_rows_by_tenant`): it may then hold fewer, even none, and the cursor says where to go on.

    Args:
        conn: A connection in a transaction.
        q: The query.
        after: Where the previous page ended, or None for the first page.
        size: Events per page.

    Returns:
        The events, and the cursor of the next page (None when every event has been read).
    """
    stopped: Cursor | None = None
    if q.on_decisions or q.since is not None or q.until is not None:
        rows, stopped = await _rows_by_tenant(conn, q, after, size + 1)
    else:
        statement = page_sql(q, after, size + 1)
        if statement is None:
            return [], None
        # Never prepared: each page is planned with its own values (tenants, filters).
        cur = await conn.execute(statement[0].encode(), statement[1], prepare=False)
        rows = await cur.fetchall()
    events = [_record(row) for row in rows[:size]]
    if len(rows) > size:
        return events, Cursor(events[-1].tenant_id, events[-1].seq)
    return events, stopped


async def stream(
    conn: AsyncConnection[Any], q: EventQuery, *, batch: int = 2000
) -> AsyncIterator[AuditEvent]:
    """Every matching event in (tenant, seq) order, read through server-side cursors.

    One cursor per tenant; only one batch of rows is in memory at a time, however many events
    match. Run it in one snapshot (`Store.snapshot`) for an export of one instant.

    Yields:
        The events, their body parsed from the canonical bytes.
    """
    tenants = sorted(set(q.tenants))
    plans = await plan(conn, q, tenants)
    for tenant in tenants:
        span = await _range(conn, q, tenant, plans[tenant], 0)
        if span is None:
            continue
        sql, params = tenant_sql(q, few=span.few, limit=False)
        params.update(tenant=tenant, after_seq=span.after, through_seq=span.end)
        async with conn.cursor(name=f"aval_export_{uuid.uuid4().hex[:12]}") as cur:
            cur.itersize = batch
            await cur.execute(sql.encode(), params)
            async for row in cur:
                yield _record(row)
