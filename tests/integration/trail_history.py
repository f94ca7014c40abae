"""Histories of events written straight to PostgreSQL, the tamperings tried on them, and their
verification one event at a time or by ranges, for the verification tests."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from aval.audit_store import digests, trail, verify, verify_ranges
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import Actor, ActorType
from aval.verifier import merkle
from aval.verifier.chain import GENESIS_HASH, chain_hash
from aval.verifier.chain_verifier import FACT_KINDS, ChainVerifier

from .test_tamper import KEY, Checkpoint, parse_note, signature_ok
from .trail_access import as_superuser, connect, rewrite_from

STATES = ["PENDING_REVIEW", "APPROVED", "AMENDED", "REJECTED", "EXPIRED"]
APP = Actor("app-test", ActorType.APPLICATION)
HUMAN = Actor("agent-test", ActorType.HUMAN)


@dataclass(frozen=True)
class Step:
    """One event of a generated history."""

    kind: str  # "state", "ai", "admin" or "other"
    decision: int  # index of the decision it names (ignored by "admin")


def _event(step: Step, ids: list[uuid.UUID], versions: list[int]) -> NewEvent:
    if step.kind == "admin":  # registry changes, kill switch: no decision
        return NewEvent("admin.kill_switch", HUMAN, None, {"engaged": True, "reason": "test"})
    decision = ids[step.decision]
    if step.kind == "ai":  # an AI call about a decision, with no change of its state
        data = {"model": {"name": "m", "version": "1"}, "shadow": True, "latency_ms": 12.5}
        return NewEvent("ai.consulted", APP, decision, data)
    if step.kind == "other":
        return NewEvent("test.unknown_kind", HUMAN, decision, {"note": 'é\u2028\\"x'})
    versions[step.decision] += 1
    version = versions[step.decision]
    state = STATES[min(version - 1, len(STATES) - 1)]
    data = {"decision_state": state, "decision_version": version, "n": version}
    return NewEvent("decision.changed", HUMAN, decision, data)


async def write_history(url: str, tenant: str, batches: list[list[Step]], decisions: int) -> None:
    """Appends the steps (one transaction per batch, each a second apart) and writes each
    decision's row as its last event says, the way the service would."""
    ids = [uuid.uuid4() for _ in range(decisions)]
    versions = [0] * decisions
    moment = datetime.now(UTC) - timedelta(hours=1)
    async with await connect(url) as conn:
        for batch in batches:
            moment += timedelta(seconds=1)
            async with conn.transaction():
                await trail.append_events(
                    conn,
                    tenant,
                    [_event(step, ids, versions) for step in batch],
                    occurred_at=moment,
                    trace_id="",
                )
        for decision, version in zip(ids, versions, strict=True):
            if version:
                await insert_decision(conn, tenant, decision, version)


async def insert_decision(
    conn: psycopg.AsyncConnection[Any], tenant: str, decision: uuid.UUID, version: int
) -> None:
    await conn.execute(
        "INSERT INTO decisions (tenant_id, id, decision_type, subject_ref, state, input,"
        " input_sha256, proposer_id, idempotency_key, request_sha256, policy_revision,"
        " required_approvals, rejections_to_close, created_at, updated_at, deadline, version)"
        " VALUES (%s, %s, 'test', 'usager:test', %s, '{}', '', 'app-test', %s, '', 'r1', 1, 1,"
        " now(), now(), now() + interval '1 day', %s)",
        (tenant, decision, STATES[min(version - 1, len(STATES) - 1)], str(decision), version),
    )


async def sign(url: str, tenant: str, size: int) -> Checkpoint:
    """Signs the tenant's first `size` events (0 included) as an honest server would."""
    async with await connect(url) as conn:
        events = [e async for e in trail.iter_events(conn, tenant)][:size]
    root = merkle.root(merkle.leaf_hash(e.canonical) for e in events)
    head = events[-1].hash if events else GENESIS_HASH
    note = (
        f"aval.v1/checkpoint\ntenant: {tenant}\ntree_size: {size}\nroot_hash: {root.hex()}\n"
        f"head_hash: {head.hex()}\n"
    ).encode()
    return Checkpoint(size, root, head, note, KEY.sign(note))


async def one_at_a_time(
    url: str, tenant: str, checkpoints: list[Checkpoint], since: datetime | None
) -> verify.Report:
    """The reference: every event read and checked on its own, as verification always did."""
    verifier = ChainVerifier(
        tenant, checkpoints, signature_ok=signature_ok, parse_note=parse_note, since=since
    )
    async with await connect(url) as conn, conn.transaction():
        bounds = await verify_ranges.seq_bounds(conn, tenant)
        if bounds is not None:
            for event in await digests.range_digests(conn, tenant, bounds[0], bounds[1] + 1):
                verifier.check(event)
        verifier.finish_checkpoints()
        verifier.check_head(await trail.chain_head(conn, tenant))
        cur = await conn.execute(
            "SELECT id, state, version FROM decisions WHERE tenant_id = %s", (tenant,)
        )
        verifier.check_decisions(await cur.fetchall())
    return verifier.report


@contextlib.asynccontextmanager
async def shared_snapshot(
    url: str, count: int
) -> AsyncIterator[list[psycopg.AsyncConnection[Any]]]:
    """`count` superuser connections in one REPEATABLE READ snapshot."""
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(await connect(url))
        await stack.enter_async_context(first.transaction())
        await first.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = await verify.export_snapshot(first)
        conns = [first]
        for _ in range(count - 1):
            helper = await stack.enter_async_context(await connect(url))
            await stack.enter_async_context(helper.transaction())
            await verify.join_snapshot(helper, snapshot)
            conns.append(helper)
        yield conns


async def by_ranges(
    url: str,
    tenant: str,
    checkpoints: list[Checkpoint],
    since: datetime | None,
    *,
    connections: int,
    range_size: int,
    on_progress: verify.Progress | None = None,
    progress_every: int = 10_000,
) -> verify.Report:
    """The tenant verified in the database, its chain only: these trails are made of events
    alone, with no decision whose facts they would imply."""
    async with shared_snapshot(url, connections) as conns:
        report = await verify.verify_tenant(
            conns[0],
            tenant,
            checkpoints=checkpoints,
            signature_ok=signature_ok,
            parse_note=parse_note,
            since=since,
            helpers=conns[1:],
            range_size=range_size,
            on_progress=on_progress,
            progress_every=progress_every,
        )
    report.problems = [p for p in report.problems if p.kind not in FACT_KINDS]
    return report


def summary(report: verify.Report) -> tuple[Any, ...]:
    problems = sorted(
        (p.kind, p.tenant_id, p.seq, p.decision_id, p.detail) for p in report.problems
    )
    return (
        report.events_checked,
        report.decisions_checked,
        report.checkpoints_checked,
        report.head_hash,
        problems,
    )


# -- more ways to tamper, beside the tamper suite's ------------------------------------------

Tampering = Callable[[str, str, int, int], Awaitable[None]]


async def change_state(url: str, tenant: str, seq: int, size: int) -> None:
    """A decision's state changed without its events."""
    async with await connect(url) as conn:
        await conn.execute(
            "UPDATE decisions SET version = version + %s,"
            " state = CASE WHEN state = 'APPROVED' THEN 'REJECTED' ELSE 'APPROVED' END"
            " WHERE tenant_id = %s AND id = (SELECT min(id::text)::uuid FROM decisions"
            " WHERE tenant_id = %s)",
            (seq % 2, tenant, tenant),
        )


async def edit_actor(url: str, tenant: str, seq: int, size: int) -> None:
    """The queryable column says another actor than the bytes (by one character)."""
    await as_superuser(
        url,
        (
            "UPDATE audit_events SET actor_id = actor_id || 'x' WHERE tenant_id = %s AND seq = %s",
            (tenant, seq),
        ),
    )


async def edit_trace(url: str, tenant: str, seq: int, size: int) -> None:
    """A trace id the bytes do not hold, with a quote in it (text that JSON escapes)."""
    await as_superuser(
        url,
        (
            "UPDATE audit_events SET trace_id = 'a\"b' WHERE tenant_id = %s AND seq = %s",
            (tenant, seq),
        ),
    )


async def edit_time(url: str, tenant: str, seq: int, size: int) -> None:
    await as_superuser(
        url,
        (
            "UPDATE audit_events SET occurred_at = occurred_at - interval '1 day'"
            " WHERE tenant_id = %s AND seq = %s",
            (tenant, seq),
        ),
    )


async def delete_and_rechain(url: str, tenant: str, seq: int, size: int) -> None:
    """An event deleted and the chain recomputed over the hole: links and hashes hold, the
    sequence numbers do not."""
    async with await connect(url) as conn:
        events = [e async for e in trail.iter_events(conn, tenant)]
    statements: list[tuple[str, tuple[Any, ...]]] = [
        ("DELETE FROM audit_events WHERE tenant_id = %s AND seq = %s", (tenant, seq))
    ]
    prev = events[seq - 2].hash if seq > 1 else GENESIS_HASH
    for event in events[seq:]:
        digest = chain_hash(prev, event.seq, event.canonical)
        statements.append(
            (
                "UPDATE audit_events SET prev_hash = %s, hash = %s"
                " WHERE tenant_id = %s AND seq = %s",
                (prev, digest, tenant, event.seq),
            )
        )
        prev = digest
    statements.append(("UPDATE chain_heads SET hash = %s WHERE tenant_id = %s", (prev, tenant)))
    await as_superuser(url, *statements)


async def float_version(url: str, tenant: str, seq: int, size: int) -> None:
    """A version spelled 2.0 in the bytes, chain recomputed."""

    def edit(canonical: bytes) -> bytes:
        return re.sub(rb'"decision_version":(\d+)', rb'"decision_version":\1.0', canonical)

    await rewrite_from(url, tenant, seq, edit)


async def odd_version(url: str, tenant: str, seq: int, size: int) -> None:
    """A version PostgreSQL cannot cast (or bytes it cannot read), chain recomputed."""

    def edit(canonical: bytes) -> bytes:
        canonical = canonical.replace(b'"decision_version":', b'"decision_version":"x', 1)
        return canonical.replace(b'"kind":', b'"decision_version":1.5,"kind":', 1)

    await rewrite_from(url, tenant, seq, edit)


async def spaced_rewrite(url: str, tenant: str, seq: int, size: int) -> None:
    """Bytes that say the same, spelled otherwise, chain recomputed."""
    await rewrite_from(url, tenant, seq, lambda canonical: canonical.replace(b'":', b'": ', 1))
