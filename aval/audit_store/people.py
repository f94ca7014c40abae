"""SQL of the people directory (migration 0017): upsert people seen, resolve ids in a tenant,
purge people not seen since a moment. Operational data, never the trail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection


@dataclass(frozen=True)
class Seen:
    """One person's sign-in as the directory keeps it."""

    principal_id: str
    tenants: tuple[str, ...]
    display_name: str
    at: datetime


async def upsert(conn: AsyncConnection[Any], people: Sequence[Seen]) -> None:
    """Adds or refreshes people: their name, the tenants they were seen in (added to those
    known), and when they were last seen (never moved back)."""
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO people (principal_id, tenants, display_name, first_seen, last_seen)"
            " VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (principal_id) DO UPDATE SET"
            " display_name = EXCLUDED.display_name,"
            " tenants = ARRAY(SELECT DISTINCT t FROM"
            "   unnest(people.tenants || EXCLUDED.tenants) AS t ORDER BY t),"
            " last_seen = greatest(people.last_seen, EXCLUDED.last_seen)",
            [(p.principal_id, list(p.tenants), p.display_name, p.at, p.at) for p in people],
        )


async def resolve(conn: AsyncConnection[Any], tenant: str, ids: Sequence[str]) -> dict[str, str]:
    """The display names of those of `ids` seen in `tenant` (the others are absent)."""
    cursor = await conn.execute(
        "SELECT principal_id, display_name FROM people"
        " WHERE principal_id = ANY(%s) AND %s = ANY(tenants)",
        (list(ids), tenant),
    )
    return {str(row[0]): str(row[1]) for row in await cursor.fetchall()}


async def purge(conn: AsyncConnection[Any], *, now: datetime, months: int) -> int:
    """Deletes the people not seen for `months` calendar months before `now`; how many."""
    cursor = await conn.execute(
        "DELETE FROM people WHERE last_seen < %s::timestamptz - make_interval(months => %s)",
        (now, months),
    )
    return cursor.rowcount
