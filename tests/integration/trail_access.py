"""What integration tests do to a trail directly: append test events, and tamper as a superuser."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from aval.audit_store import Store, trail
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import SYSTEM_ACTOR
from aval.verifier.chain import GENESIS_HASH, chain_hash


async def append(store: Store, tenant: str, count: int = 1) -> list[tuple[int, bytes]]:
    """Appends `count` test events to a tenant's chain in one transaction."""
    async with store.transaction() as conn:
        return await trail.append_events(
            conn,
            tenant,
            [
                NewEvent("test.event", SYSTEM_ACTOR, uuid.uuid4(), {"n": i, "texte": "é"})
                for i in range(count)
            ],
            occurred_at=datetime.now(UTC),
            trace_id="",
        )


async def connect(url: str) -> psycopg.AsyncConnection[Any]:
    """A direct (superuser, autocommit) connection to the test database, in schema aval."""
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    await conn.execute("SET search_path = aval")
    return conn


async def as_superuser(
    url: str,
    *statements: tuple[str, tuple[Any, ...]],
    tables: tuple[str, ...] = ("audit_events", "chain_heads"),
) -> None:
    """What an attacker with full database access does: disable the guards of `tables`,
    change them, restore the guards, in one transaction."""
    async with await connect(url) as conn, conn.transaction():
        for table in tables:
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for sql, params in statements:
            await conn.execute(sql, params)
        for table in tables:
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


async def rewrite_from(url: str, tenant: str, seq: int, edit: Callable[[bytes], bytes]) -> None:
    """Edits the bytes of event `seq`, and recomputes every later hash and the head, as
    someone with full access would: only a signed checkpoint can tell."""
    async with await connect(url) as conn:
        events = [e async for e in trail.iter_events(conn, tenant)]
    statements: list[tuple[str, tuple[Any, ...]]] = []
    prev = events[seq - 2].hash if seq > 1 else GENESIS_HASH
    for event in events[seq - 1 :]:
        canonical = edit(event.canonical) if event.seq == seq else event.canonical
        digest = chain_hash(prev, event.seq, canonical)
        statements.append(
            (
                "UPDATE audit_events SET canonical = %s, prev_hash = %s, hash = %s"
                " WHERE tenant_id = %s AND seq = %s",
                (canonical, prev, digest, tenant, event.seq),
            )
        )
        prev = digest
    statements.append(("UPDATE chain_heads SET hash = %s WHERE tenant_id = %s", (prev, tenant)))
    await as_superuser(url, *statements)
