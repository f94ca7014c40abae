"""Verification's queries run at once on the connections of one snapshot (`together.all_of`):
when one fails, the others are cancelled and waited for, and the failure comes out as itself.

Before, `asyncio.gather` returned at the first error and left the other queries running on
connections that verification was about to hand back to the pool; and a task group alone
would turn a database that went away (`OperationalError`, UNAVAILABLE) into an
ExceptionGroup (UNKNOWN)."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest
from psycopg import AsyncConnection, errors

from aval.audit_store.together import all_of


async def _slow(conn: AsyncConnection[object]) -> int:
    await conn.execute("SELECT pg_sleep(30)")
    return 1


async def _failing(conn: AsyncConnection[object]) -> int:
    await asyncio.sleep(0.2)  # the other query is running by now
    await conn.execute("SELECT 1 / 0")
    return 2


async def test_one_failure_cancels_the_others_and_is_raised_as_itself(database_url: str) -> None:
    async with (
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as slow,
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as failing,
    ):
        started = time.monotonic()
        with pytest.raises(errors.DivisionByZero):
            await all_of(_slow(slow), _failing(failing))
        # The slow connection is usable at once: its query was cancelled, not left running
        # (psycopg would make this wait for it).
        cur = await slow.execute("SELECT 3")
        assert await cur.fetchone() == (3,)
        assert time.monotonic() - started < 20, "the slow query was waited out, not cancelled"
        cur = await slow.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'"
            " AND state = 'active'"
        )
        assert await cur.fetchone() == (0,)


async def test_results_come_in_the_order_given() -> None:
    async def after(seconds: float, value: str) -> str:
        await asyncio.sleep(seconds)
        return value

    assert await all_of(after(0.05, "a"), after(0.0, "b"), after(0.02, "c")) == ["a", "b", "c"]


async def test_an_operational_error_stays_one_for_the_edge_to_map() -> None:
    async def gone() -> int:
        raise psycopg.OperationalError("connection lost")

    async def waiting() -> int:
        await asyncio.sleep(30)
        return 0

    with pytest.raises(psycopg.OperationalError, match="connection lost"):
        async with asyncio.timeout(5):
            await all_of(waiting(), gone())
