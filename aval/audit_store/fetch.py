"""One statement's rows made records: its one row (or None), or every row in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from psycopg import AsyncConnection
from psycopg.abc import Params
from psycopg.rows import AsyncRowFactory

T = TypeVar("T")


async def one(
    conn: AsyncConnection[Any],
    query: str,
    params: Params | None,
    make: Callable[[Any], T],
    *,
    row_factory: AsyncRowFactory[Any] | None = None,
) -> T | None:
    """The record `make` makes of the statement's first row; None when it returns no row."""
    cursor = conn.cursor() if row_factory is None else conn.cursor(row_factory=row_factory)
    async with cursor as cur:
        await cur.execute(query, params)
        row = await cur.fetchone()
    return None if row is None else make(row)


async def every(
    conn: AsyncConnection[Any],
    query: str,
    params: Params | None,
    make: Callable[[Any], T],
) -> list[T]:
    """The records `make` makes of the statement's rows, in their order."""
    cur = await conn.execute(query, params)
    return [make(row) for row in await cur.fetchall()]
