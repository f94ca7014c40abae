"""Verification by ranges (PostgreSQL checks whole ranges, on several connections in one snapshot)
finds exactly what checking one event at a time finds (I3); new kinds of events raise no alarm."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aval.audit_store import digests, trail, verify, verify_ranges
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import Actor, ActorType
from aval.service.audit import verification
from aval.service.deployment import Deployment
from aval.verifier import merkle
from aval.verifier.chain import GENESIS_HASH, chain_hash
from aval.verifier.chain_verifier import ChainVerifier

from .test_tamper import KEY, TAMPERINGS, Checkpoint, parse_note, signature_ok
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
    async with shared_snapshot(url, connections) as conns:
        return await verify.verify_tenant(
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


async def drop_decision(url: str, tenant: str, seq: int, size: int) -> None:
    """A decision removed: its events now name a decision that does not exist."""
    async with await connect(url) as conn:
        await conn.execute(
            "DELETE FROM decisions WHERE tenant_id = %s AND id = (SELECT max(id::text)::uuid"
            " FROM decisions WHERE tenant_id = %s)",
            (tenant, tenant),
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


async def move_seq_far(url: str, tenant: str, seq: int, size: int) -> None:
    """An event moved far along the sequence numbers, leaving a long hole."""
    await as_superuser(
        url,
        (
            "UPDATE audit_events SET seq = seq + 1000000 WHERE tenant_id = %s AND seq = %s",
            (tenant, seq),
        ),
    )


MORE: dict[str, Tampering] = {
    "state changed": change_state,
    "actor edited": edit_actor,
    "trace id edited": edit_trace,
    "time edited": edit_time,
    "decision dropped": drop_decision,
    "odd version": odd_version,
    "deleted, chain recomputed": delete_and_rechain,
    "float version": float_version,
    "consistent rewrite, any event": spaced_rewrite,
    "seq moved far": move_seq_far,
}
ALL: dict[str, Tampering] = {name: tamper for name, (tamper, _) in TAMPERINGS.items()} | MORE

steps = st.builds(
    Step,
    kind=st.sampled_from(["state", "state", "state", "ai", "admin", "other"]),
    decision=st.integers(min_value=0, max_value=3),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    batches=st.lists(st.lists(steps, min_size=1, max_size=5), min_size=1, max_size=6),
    kind=st.sampled_from([None, *sorted(ALL)]),
    where=st.floats(min_value=0, max_value=1),
    signed_share=st.floats(min_value=0, max_value=1),
    since_batch=st.none() | st.integers(min_value=0, max_value=6),
    range_size=st.sampled_from([1, 2, 3, 5, 1000]),
    connections=st.sampled_from([1, 2, 3]),
)
def test_ranges_find_what_one_event_at_a_time_finds_I3(
    database_url: str,
    batches: list[list[Step]],
    kind: str | None,
    where: float,
    signed_share: float,
    since_batch: int | None,
    range_size: int,
    connections: int,
) -> None:
    tenant = f"ranges-{uuid.uuid4().hex[:8]}"
    size = sum(len(batch) for batch in batches)

    async def scenario() -> tuple[verify.Report, verify.Report]:
        await write_history(database_url, tenant, batches, decisions=4)
        signed = [
            await sign(database_url, tenant, int(signed_share * size)),
            await sign(database_url, tenant, size),
        ]
        since = None
        if since_batch is not None:
            async with await connect(database_url) as conn:
                cur = await conn.execute(
                    "SELECT DISTINCT occurred_at FROM audit_events WHERE tenant_id = %s ORDER BY 1",
                    (tenant,),
                )
                times = [row[0] for row in await cur.fetchall()]
            since = times[min(since_batch, len(times) - 1)]
        if kind is not None and size >= 2:
            smallest = 2 if kind == "truncated tail" else 1
            await ALL[kind](database_url, tenant, smallest + int(where * (size - smallest)), size)
        reference = await one_at_a_time(database_url, tenant, signed, since)
        ranged = await by_ranges(
            database_url, tenant, signed, since, connections=connections, range_size=range_size
        )
        return reference, ranged

    reference, ranged = asyncio.run(scenario())
    assert summary(ranged) == summary(reference)
    if kind is None:
        assert reference.ok, reference.problems


def test_new_kinds_without_state_raise_no_alarm_and_states_still_count_I3(
    database_url: str,
) -> None:
    """admin.* events (no decision) and ai.consulted events (a decision, no state change) are
    verified like any event and leave the decisions' check alone; the state events still
    decide, even after an AI event."""
    tenant = f"ranges-{uuid.uuid4().hex[:8]}"
    plan = [
        [Step("admin", 0), Step("state", 0), Step("ai", 0)],
        [Step("ai", 1), Step("state", 1), Step("admin", 0), Step("state", 0)],
        [Step("ai", 0), Step("other", 1), Step("admin", 0)],
    ]

    async def scenario() -> tuple[verify.Report, verify.Report]:
        await write_history(database_url, tenant, plan, decisions=2)
        clean = await by_ranges(database_url, tenant, [], None, connections=2, range_size=2)
        await change_state(database_url, tenant, 2, 10)
        return clean, await by_ranges(database_url, tenant, [], None, connections=2, range_size=4)

    clean, changed = asyncio.run(scenario())
    assert clean.ok, clean.problems
    assert clean.events_checked == 10 and clean.decisions_checked == 2
    assert [p.kind for p in changed.problems] == ["state_mismatch"]


def test_an_ai_event_for_a_decision_without_a_row_is_not_an_orphan_I3(database_url: str) -> None:
    """Only events that say a decision's state make it exist in the trail."""
    tenant = f"ranges-{uuid.uuid4().hex[:8]}"

    async def scenario() -> verify.Report:
        await write_history(database_url, tenant, [[Step("ai", 0), Step("other", 0)]], 1)
        return await by_ranges(database_url, tenant, [], None, connections=2, range_size=1)

    report = asyncio.run(scenario())
    assert report.ok, report.problems
    assert report.events_checked == 2 and report.decisions_checked == 0


def test_a_checkpoint_of_an_empty_trail_is_checked_not_called_a_cut_I3(
    database_url: str,
) -> None:
    """A tenant signed before its first event: that checkpoint holds the empty tree, and the
    later ones are checked too."""
    tenant = f"ranges-{uuid.uuid4().hex[:8]}"

    async def scenario() -> tuple[verify.Report, verify.Report, verify.Report]:
        empty = await sign(database_url, tenant, 0)
        await write_history(database_url, tenant, [[Step("state", 0)] * 3], 1)
        later = await sign(database_url, tenant, 3)
        clean = await by_ranges(
            database_url, tenant, [empty, later], None, connections=2, range_size=2
        )
        forged = Checkpoint(0, os.urandom(32), GENESIS_HASH, empty.signed_note, empty.signature)
        lying = await by_ranges(
            database_url, tenant, [forged, later], None, connections=1, range_size=2
        )
        await spaced_rewrite(database_url, tenant, 2, 3)
        rewritten = await by_ranges(
            database_url, tenant, [empty, later], None, connections=2, range_size=1
        )
        return clean, lying, rewritten

    clean, lying, rewritten = asyncio.run(scenario())
    assert clean.ok, clean.problems
    assert clean.checkpoints_checked == 2
    assert {(p.kind, p.seq) for p in lying.problems} == {
        ("checkpoint_mismatch", 0),
        ("rewritten_history", 0),
    }
    assert [(p.kind, p.seq) for p in rewritten.problems] == [("rewritten_history", 3)]


@pytest.mark.parametrize(
    ("tamper", "seq"),
    [
        (float_version, 5),  # decision 0's last state
        (odd_version, 5),
        (edit_actor, 5),
        (edit_trace, 5),
        (edit_time, 5),
        (delete_and_rechain, 2),  # a hole inside the range [1, 5)
    ],
)
def test_doubtful_ranges_are_read_one_event_at_a_time_I3(
    database_url: str, tamper: Tampering, seq: int
) -> None:
    """What PostgreSQL doubts in a range (a version spelled 2.0, bytes it cannot read, a
    column that disagrees), that range is read again event by event: same report."""
    tenant = f"ranges-{uuid.uuid4().hex[:8]}"
    plan = [[Step("state", 0), Step("state", 1), Step("ai", 0)], [Step("state", 0)] * 2]

    async def scenario() -> tuple[verify.Report, verify.Report]:
        await write_history(database_url, tenant, plan, 2)
        await tamper(database_url, tenant, seq, 5)
        reference = await one_at_a_time(database_url, tenant, [], None)
        return reference, await by_ranges(
            database_url, tenant, [], None, connections=2, range_size=4
        )

    reference, ranged = asyncio.run(scenario())
    assert summary(ranged) == summary(reference)


def test_progress_grows_to_every_event_checked(database_url: str) -> None:
    tenant = f"ranges-{uuid.uuid4().hex[:8]}"
    seen: list[int] = []

    async def scenario() -> verify.Report:
        await write_history(database_url, tenant, [[Step("state", i % 4) for i in range(25)]], 4)
        return await by_ranges(
            database_url,
            tenant,
            [],
            None,
            connections=2,
            range_size=4,
            on_progress=seen.append,
            progress_every=5,
        )

    report = asyncio.run(scenario())
    assert report.ok, report.problems
    assert seen == sorted(seen) and len(seen) >= 4
    assert all(0 < n <= 25 for n in seen) and seen[-1] >= 20


def test_helpers_share_the_snapshot_so_later_writes_are_no_tampering_I3(
    database_url: str,
) -> None:
    tenant = f"ranges-{uuid.uuid4().hex[:8]}"

    async def scenario() -> verify.Report:
        await write_history(database_url, tenant, [[Step("state", 0)] * 6], 1)
        async with shared_snapshot(database_url, 2) as conns:
            # Written after the snapshot: neither connection may see it.
            await write_history(database_url, tenant, [[Step("state", 0)] * 6], 1)
            return await verify.verify_tenant(conns[0], tenant, helpers=conns[1:], range_size=2)

    report = asyncio.run(scenario())
    assert report.ok, report.problems
    assert report.events_checked == 6


async def test_the_service_checks_on_several_connections_in_one_snapshot_I3(
    deployment: Deployment, database_url: str
) -> None:
    """VerifyChain's use case: the pool's connections, as the service's role, in one
    snapshot; a tampered decision and column are named as the reference names them."""
    tenant = f"ranges-{uuid.uuid4().hex[:8]}"
    plan = [[Step("state", i % 3) for i in range(12)], [Step("ai", 1), Step("admin", 0)]]
    await write_history(database_url, tenant, plan, 3)
    await TAMPERINGS["edited column"][0](database_url, tenant, 5, 14)
    await change_state(database_url, tenant, 1, 14)
    report = await verification.verify_tenant_trail(deployment, tenant)
    reference = await one_at_a_time(database_url, tenant, [], None)
    assert summary(report) == summary(reference)
    assert {p.kind for p in report.problems} == {"canonical_mismatch", "state_mismatch"}


@pytest.mark.parametrize("size", [0, 1, 2, 3, 7, 8, 9, 100, 1000, 1025])
@pytest.mark.parametrize("start", [0, 1, 5, 8, 13])
def test_extending_a_frontier_equals_appending_each_leaf(size: int, start: int) -> None:
    leaves = [os.urandom(32) for _ in range(start + size)]
    one_by_one, extended = merkle.Frontier(), merkle.Frontier()
    for leaf in leaves:
        one_by_one.append(leaf)
    for leaf in leaves[:start]:
        extended.append(leaf)
    cut = start + size // 3
    extended.extend(leaves[start:cut])
    extended.extend(leaves[cut:])
    assert extended == one_by_one and extended.root() == one_by_one.root()
