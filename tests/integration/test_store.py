"""The store on real PostgreSQL: append-only trail, hash chain, verification, migrations (I3)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import psycopg
import pytest

from aval.audit_store import Store, migrate, trail, verify
from aval.audit_store.migrate import SERVICE_ROLE, available_migrations
from aval.verifier.chain import GENESIS_HASH, chain_hash

from .trail_access import append, as_superuser


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


async def test_sql_append_hash_equals_the_python_chain_I3(store: Store, tenant: str) -> None:
    await append(store, tenant, 3)
    async with store.reading() as conn:
        events = [e async for e in trail.iter_events(conn, tenant)]
    prev = GENESIS_HASH
    for expected_seq, event in enumerate(events, start=1):
        assert event.seq == expected_seq
        assert event.prev_hash == prev
        assert event.hash == chain_hash(prev, event.seq, event.canonical)
        assert json.loads(event.canonical) == event.body
        prev = event.hash


async def test_concurrent_appends_keep_sequence_contiguous_I3(store: Store, tenant: str) -> None:
    await asyncio.gather(*(append(store, tenant, 2) for _ in range(20)))
    async with store.reading() as conn:
        report = await verify.verify_tenant(conn, tenant)
        head = await trail.chain_head(conn, tenant)
    assert report.ok, report.problems
    assert report.events_checked == 40 and head is not None and head[0] == 40


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET kind = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "INSERT INTO audit_events SELECT * FROM audit_events LIMIT 1",
        "UPDATE chain_heads SET seq = 0",
    ],
)
async def test_service_role_cannot_change_the_trail_I3(
    store: Store, tenant: str, statement: str
) -> None:
    await append(store, tenant)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with store.transaction() as conn:  # connections of the pool act as the service role
            await conn.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE aval.audit_events SET kind = 'x' WHERE tenant_id = %s",
        "DELETE FROM aval.audit_events WHERE tenant_id = %s",
    ],
)
async def test_even_the_owner_cannot_change_the_trail_I3(
    database_url: str, store: Store, tenant: str, statement: str
) -> None:
    await append(store, tenant)
    async with await psycopg.AsyncConnection.connect(database_url) as owner:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            await owner.execute(statement, (tenant,))


async def _problems(store: Store, tenant: str) -> list[tuple[str, int]]:
    async with store.reading() as conn:
        report = await verify.verify_tenant(conn, tenant)
    return [(p.kind, p.seq) for p in report.problems]


async def test_edited_event_is_named_by_verification_I3(
    database_url: str, store: Store, tenant: str
) -> None:
    await append(store, tenant, 5)
    await as_superuser(
        database_url,
        (
            "UPDATE aval.audit_events SET canonical = convert_to(replace("
            "convert_from(canonical, 'UTF8'), '\"n\":2', '\"n\":9'), 'UTF8')"
            " WHERE tenant_id = %s AND seq = 3",
            (tenant,),
        ),
    )
    assert ("hash_mismatch", 3) in await _problems(store, tenant)


async def test_edited_query_column_is_caught_I3(
    database_url: str, store: Store, tenant: str
) -> None:
    await append(store, tenant, 3)
    await as_superuser(
        database_url,
        ("UPDATE aval.audit_events SET kind = 'other' WHERE tenant_id = %s AND seq = 2", (tenant,)),
    )
    assert ("canonical_mismatch", 2) in await _problems(store, tenant)


async def test_deleted_event_and_cut_tail_are_caught_I3(
    database_url: str, store: Store, tenant: str
) -> None:
    await append(store, tenant, 5)
    await as_superuser(
        database_url,
        ("DELETE FROM aval.audit_events WHERE tenant_id = %s AND seq IN (2, 5)", (tenant,)),
    )
    problems = await _problems(store, tenant)
    assert ("sequence_gap", 3) in problems and ("broken_link", 3) in problems
    assert ("head_mismatch", 5) in problems


async def test_two_replicas_migrating_at_once_apply_each_migration_once(
    new_database: Callable[..., str],
) -> None:
    url = new_database(migrated=False)
    results = await asyncio.gather(migrate(url), migrate(url), migrate(url))
    applied = sorted(len(r) for r in results)
    assert applied == [0, 0, len(available_migrations())]
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT count(*) FROM aval.schema_migrations")
        row = await cur.fetchone()
        assert row is not None and row[0] >= 1
        cur = await conn.execute(
            "SELECT has_table_privilege(%s, 'aval.audit_events', 'UPDATE')", (SERVICE_ROLE,)
        )
        row = await cur.fetchone()
        assert row == (False,)
