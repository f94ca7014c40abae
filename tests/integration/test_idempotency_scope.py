"""Idempotency keys per (tenant, proposer, key), and migration 0013 that scopes them (I4, I5)."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from aval.audit_store import migrate, verify
from aval.service.decisions import proposals
from aval.service.deployment import Deployment
from aval.service.errors import AlreadyExists
from aval.service.identity import Principal
from tests.in_process import deployment_running

from .test_flow import propose_in

SCOPING_MIGRATION = 13
# The module, not the function of the same name that the package exports.
migrate_module = importlib.import_module("aval.audit_store.migrate")


async def _constraints(url: str) -> set[str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'aval.decisions'::regclass AND contype = 'u'"
        )
        return {row[0] for row in await cur.fetchall()}


async def test_existing_decisions_migrate_and_keys_become_the_proposers_I4(
    new_database: Callable[..., str],
    config_dir: Path,
    principals: dict[str, Principal],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = new_database(migrated=False)
    shipped = migrate_module.available_migrations()
    assert SCOPING_MIGRATION in {m.version for m in shipped}
    with monkeypatch.context() as before:
        before.setattr(
            migrate_module,
            "available_migrations",
            lambda: [m for m in shipped if m.version < SCOPING_MIGRATION],
        )
        await migrate(url)
    assert await _constraints(url) == {"UNIQUE (tenant_id, idempotency_key)"}
    app, other = principals["app-a"], principals["appsup-a"]
    old = [propose_in() for _ in range(5)]
    first: list[uuid.UUID] = []
    async with deployment_running(url, config_dir) as deployment:
        for request in old:
            first.append((await proposals.propose(deployment, app, request)).decision.id)
        # Under the tenant-wide key another caller could not use it at all.
        with pytest.raises(AlreadyExists):
            await proposals.propose(deployment, other, old[0])

    applied = await migrate(url)
    # Later migrations (0015 on) come with it; the scoping one is the first.
    assert [m.version for m in applied][:1] == [SCOPING_MIGRATION]
    assert await _constraints(url) == {"UNIQUE (tenant_id, proposer_id, idempotency_key)"}
    async with deployment_running(url, config_dir) as deployment:
        for request, decision_id in zip(old, first, strict=True):
            replay = await proposals.propose(deployment, app, request)
            assert replay.replayed and replay.decision.id == decision_id
            mine = await proposals.propose(deployment, other, request)
            assert not mine.replayed and mine.decision.id not in first
            assert mine.decision.proposer_id == other.id
            again = await proposals.propose(deployment, other, request)
            assert again.replayed and again.decision.id == mine.decision.id
        changed = propose_in(idempotency_key=old[0].idempotency_key, input={"autre": 1})
        for who in (app, other):
            with pytest.raises(AlreadyExists):
                await proposals.propose(deployment, who, changed)
        async with deployment.store.reading() as conn:
            report = await verify.verify_tenant(conn, "ville-a")
        assert report.ok, report.problems


async def test_one_batch_with_one_key_from_two_proposers_keeps_both_I4(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    """Group commit: in one statement, the same key of two callers makes two decisions, and a
    caller's repeat of its own key one."""
    key = str(uuid.uuid4())
    requests = {who: propose_in(idempotency_key=key) for who in ("app-a", "appsup-a")}
    results = await asyncio.gather(
        *(
            proposals.propose(deployment, principals[who], requests[who])
            for who in ("app-a", "appsup-a") * 6
        )
    )
    by_caller: dict[str, set[uuid.UUID]] = {}
    for r in results:
        by_caller.setdefault(r.decision.proposer_id, set()).add(r.decision.id)
    assert {k: len(v) for k, v in by_caller.items()} == {"app-a": 1, "appsup-a": 1}
    assert by_caller["app-a"] != by_caller["appsup-a"]
    assert sum(not r.replayed for r in results) == 2
