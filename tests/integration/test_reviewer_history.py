"""The reviewer registry keeps its history (R11, migration 0014): no row is deleted and no fact
of a qualification changes, even for the table's owner; the marks (superseded, revoked) are
set once; at most one qualification is in force per reviewer and decision type."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime

import psycopg
import pytest

from aval.audit_store import Store, reviewers
from aval.audit_store.reviewers import QualificationRecord

NOW = datetime(2026, 3, 1, 9, tzinfo=UTC)


def _record(tenant: str) -> QualificationRecord:
    return QualificationRecord(
        tenant_id=tenant,
        id=uuid.uuid4(),
        reviewer_id="sup-a1",
        decision_type="aides.attribution",
        trained_on=date(2026, 1, 5),
        delegated_by="Mme la Maire",
        valid_from=date(2026, 1, 10),
        valid_until=date(2026, 3, 10),
        granted_by="admin-a",
        granted_at=NOW,
        reason="formation",
    )


@pytest.fixture
def tenant() -> str:
    return f"registre-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE aval.reviewer_qualifications SET valid_until = '2099-12-31' WHERE tenant_id = %s",
        "UPDATE aval.reviewer_qualifications SET delegated_by = 'personne' WHERE tenant_id = %s",
        "DELETE FROM aval.reviewer_qualifications WHERE tenant_id = %s",
    ],
)
async def test_no_fact_changes_and_no_row_goes_even_for_the_owner_R11(
    store: Store, database_url: str, tenant: str, statement: str
) -> None:
    record = _record(tenant)
    async with store.transaction() as conn:
        await reviewers.insert(conn, record)
    async with await psycopg.AsyncConnection.connect(database_url) as owner:
        with pytest.raises(psycopg.errors.RaiseException):
            await owner.execute(statement, (tenant,))
    async with store.reading() as conn:
        assert await reviewers.get(conn, tenant, record.id) == record


async def test_a_revocation_is_set_once_and_one_qualification_is_in_force_R11(
    store: Store, tenant: str
) -> None:
    record = _record(tenant)
    async with store.transaction() as conn:
        await reviewers.insert(conn, record)
    with pytest.raises(psycopg.errors.UniqueViolation):
        async with store.transaction() as conn:
            await reviewers.insert(conn, dataclasses.replace(record, id=uuid.uuid4()))
    async with store.transaction() as conn:
        revoked = await reviewers.revoke(conn, record, "admin-a", NOW, "départ")
    assert revoked.revoked_by == "admin-a"
    with pytest.raises(psycopg.errors.RaiseException):
        async with store.transaction() as conn:
            await reviewers.revoke(conn, record, "admin-a2", NOW, "autre motif")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with store.transaction() as conn:  # the service role never deletes
            await conn.execute(
                "DELETE FROM reviewer_qualifications WHERE tenant_id = %s", (tenant,)
            )
