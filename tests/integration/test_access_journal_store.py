"""The access journal's table on real PostgreSQL: append-only but for its purge, which deletes
by age only, and a group commit that answers each read after its row is committed (R13)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from aval.audit_store import Store, access_journal
from aval.audit_store.access_journal import AccessRecord, JournalQuery
from aval.audit_store.journal_writer import JournalWriter


def _record(tenant: str, at: datetime, reader: str = "sup-a1") -> AccessRecord:
    return AccessRecord(
        tenant, uuid.uuid4(), at, reader, "human", "decision.get", uuid.uuid4(), "", ""
    )


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


async def _rows(store: Store, tenant: str) -> list[AccessRecord]:
    async with store.reading() as conn:
        return await access_journal.page(conn, JournalQuery(tenant), after=None, limit=1000)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE aval.access_journal SET reader = 'x' WHERE tenant_id = %s",
        "DELETE FROM aval.access_journal WHERE tenant_id = %s",
    ],
)
async def test_the_service_role_can_neither_edit_nor_delete_the_journal_R13(
    store: Store, tenant: str, statement: str
) -> None:
    async with store.single_statement() as conn:
        await access_journal.append(conn, [_record(tenant, datetime.now(UTC))])
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with store.transaction() as conn:
            await conn.execute(statement, (tenant,))
    assert len(await _rows(store, tenant)) == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE aval.access_journal SET reader = 'x' WHERE tenant_id = %s",
        "DELETE FROM aval.access_journal WHERE tenant_id = %s",
        "TRUNCATE aval.access_journal",
    ],
)
async def test_even_the_owner_only_deletes_through_the_purge_R13(
    database_url: str, store: Store, tenant: str, statement: str
) -> None:
    async with store.single_statement() as conn:
        await access_journal.append(conn, [_record(tenant, datetime.now(UTC))])
    async with await psycopg.AsyncConnection.connect(database_url) as owner:
        params = (tenant,) if "%s" in statement else None
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            await owner.execute(statement, params)
    assert len(await _rows(store, tenant)) == 1


async def test_the_purge_deletes_rows_older_than_its_cutoff_only_R13(
    store: Store, tenant: str
) -> None:
    now = datetime(2000, 1, 1, tzinfo=UTC)  # before every other test's rows: only these go
    old, edge, recent = now - timedelta(days=400), now - timedelta(days=365), now
    async with store.single_statement() as conn:
        await access_journal.append(conn, [_record(tenant, t) for t in (old, edge, recent)])
        purged = await access_journal.purge(conn, edge)
    assert purged == 1
    assert [r.at for r in await _rows(store, tenant)] == [edge, recent]
    async with store.single_statement() as conn:  # the purge's mark ends with it
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute("DELETE FROM access_journal WHERE tenant_id = %s", (tenant,))


async def test_concurrent_reads_are_committed_together_each_answered_after_R13(
    store: Store, tenant: str
) -> None:
    writer = JournalWriter(store)
    writer.start()
    try:
        at = datetime.now(UTC)
        await asyncio.gather(*(writer.write([_record(tenant, at, f"r{i}")]) for i in range(50)))
    finally:
        await writer.stop()
    assert sorted(r.reader for r in await _rows(store, tenant)) == sorted(
        f"r{i}" for i in range(50)
    )


async def test_a_write_the_database_refuses_raises_to_its_reader_R13(
    store: Store, tenant: str
) -> None:
    from aval.audit_store.errors import JournalUnavailable

    writer = JournalWriter(store)
    writer.start()
    try:
        bad = AccessRecord(tenant, uuid.uuid4(), datetime.now(UTC), "x", "robot", "a", None, "", "")
        with pytest.raises(JournalUnavailable):
            await writer.write([bad])  # reader_kind must be application or human
        await writer.write([_record(tenant, datetime.now(UTC))])  # the writer lives on
    finally:
        await writer.stop()
    assert len(await _rows(store, tenant)) == 1


async def test_a_bad_row_refuses_its_own_read_only_R13(store: Store, tenant: str) -> None:
    from aval.audit_store.errors import JournalUnavailable

    writer = JournalWriter(store)
    writer.start()
    bad = AccessRecord(tenant, uuid.uuid4(), datetime.now(UTC), "x", "robot", "a", None, "", "")
    try:
        results = await asyncio.gather(
            *(writer.write([_record(tenant, datetime.now(UTC), f"r{i}")]) for i in range(5)),
            writer.write([bad]),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
    assert results[:5] == [None] * 5 and isinstance(results[5], JournalUnavailable)
    assert sorted(r.reader for r in await _rows(store, tenant)) == [f"r{i}" for i in range(5)]
