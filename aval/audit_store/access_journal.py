"""The access journal's table (R13): append rows of reads, page through them, purge by age.

Apart from the trail (migration 0015): not hash-chained, never read by statistics. The service's
role may only SELECT and INSERT; rows go away only through `purge_access_journal`.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

_COLUMNS = (
    "tenant_id",
    "id",
    "at",
    "reader",
    "reader_kind",
    "action",
    "decision_id",
    "filters",
    "purpose",
    "outcome",
)
_TYPES = ("text", "uuid", "timestamptz", "text", "text", "text", "uuid", "text", "text", "text")


@dataclass(frozen=True)
class AccessRecord:
    """One served read: who read what in which tenant, when, and why if they said."""

    tenant_id: str
    id: uuid.UUID
    at: datetime
    reader: str
    reader_kind: str  # "application" or "human"
    action: str  # e.g. "decision.get", "queue.list", "events.export", "journal.query"
    decision_id: uuid.UUID | None
    filters: str  # the query's filters, summarised; never the data read
    purpose: str
    outcome: str = "served"


@dataclass(frozen=True)
class JournalQuery:
    """What a privacy officer asks of one tenant's journal; None or empty means any."""

    tenant: str
    reader: str | None = None
    decision_id: uuid.UUID | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def append(conn: AsyncConnection[Any], records: Sequence[AccessRecord]) -> None:
    """Inserts `records` in one statement; all of them or none (one statement commits whole)."""
    if not records:
        return
    arrays = [[getattr(r, c) for r in records] for c in _COLUMNS]
    unnest = ", ".join(f"%s::{t}[]" for t in _TYPES)
    await conn.execute(
        f"INSERT INTO access_journal ({', '.join(_COLUMNS)}) SELECT * FROM unnest({unnest})",
        arrays,
    )


def encode_page_token(at: datetime, record_id: uuid.UUID) -> str:
    raw = f"{at.isoformat()}|{record_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[datetime, uuid.UUID]:
    """Raises ValueError on a token this store did not make."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    at, record_id = raw.split("|", 1)
    parsed = datetime.fromisoformat(at)
    if parsed.tzinfo is None:
        raise ValueError("a page token holds an aware time")
    return parsed, uuid.UUID(record_id)


async def page(
    conn: AsyncConnection[Any],
    query: JournalQuery,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[AccessRecord]:
    """Up to `limit` rows of the query, oldest first, in (at, id) order after `after`."""
    conditions = ["tenant_id = %(tenant)s"]
    params: dict[str, Any] = {"tenant": query.tenant, "limit": limit}
    for column, value in (
        ("reader", query.reader),
        ("decision_id", query.decision_id),
        ("action", query.action),
    ):
        if value:
            conditions.append(f"{column} = %({column})s")
            params[column] = value
    if query.since is not None:
        conditions.append("at >= %(since)s")
        params["since"] = query.since
    if query.until is not None:
        conditions.append("at < %(until)s")
        params["until"] = query.until
    if after is not None:
        conditions.append("(at, id) > (%(after_at)s, %(after_id)s)")
        params["after_at"], params["after_id"] = after
    cur = await conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM access_journal WHERE {' AND '.join(conditions)} "
        "ORDER BY at, id LIMIT %(limit)s",
        params,
    )
    return [AccessRecord(*row) for row in await cur.fetchall()]


async def purge(conn: AsyncConnection[Any], before: datetime) -> int:
    """Deletes every tenant's rows read before `before`; returns how many went."""
    cur = await conn.execute("SELECT purge_access_journal(%s)", (before,))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])
