"""Reading an inspector's query: each tenant planned, pages in stable order, the export's stream."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from aval.audit_store.query_sql import (
    DEPARTING,
    Cursor,
    EventQuery,
    attribute_conditions,
    page_sql,
    record,
    tenant_sql,
)
from aval.verifier.events import AuditEvent

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
    attributes = attribute_conditions(q, params, first_event=False)
    if attributes:  # an upper bound when `overrode` is asked too
        count = "SELECT 1 FROM decisions d WHERE d.tenant_id = t.tenant AND " + " AND ".join(
            attributes
        )
        first = (
            "(SELECT p.seq FROM audit_events p WHERE p.tenant_id = t.tenant AND "
            "p.kind = 'decision.proposed' AND "
            + " AND ".join(attribute_conditions(q, params, first_event=True))
            + " ORDER BY p.seq LIMIT 1)"
        )
    elif q.overrode:  # counts departing reviews: an upper bound of their decisions
        count = "SELECT 1 FROM reviews r WHERE r.tenant_id = t.tenant AND " + DEPARTING
    if count != "%(cap)s":
        count = f"(SELECT count(*) FROM ({count} LIMIT %(cap)s) m)"
    cur = await conn.execute(
        "SELECT t.tenant, (SELECT h.seq FROM chain_heads h WHERE h.tenant_id = t.tenant), "
        f"{count}, {first} FROM unnest(%(tenants)s::text[]) AS t(tenant)".encode(),
        params,
        prepare=False,
    )
    return {row[0]: TenantPlan(row[1] or 0, row[2], row[3] or 0) for row in await cur.fetchall()}


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
    events = [record(row) for row in rows[:size]]
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
                yield record(row)
