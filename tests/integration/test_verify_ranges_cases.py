"""Verification by ranges in particular cases: new kinds of events raise no alarm, orphans, empty
checkpoints, doubtful ranges, progress, one snapshot, Merkle frontiers (I3)."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from aval.audit_store import verify
from aval.service.audit import verification
from aval.service.deployment import Deployment
from aval.verifier import merkle
from aval.verifier.chain import GENESIS_HASH

from .test_tamper import TAMPERINGS, Checkpoint
from .trail_history import (
    Step,
    Tampering,
    by_ranges,
    change_state,
    delete_and_rechain,
    edit_actor,
    edit_time,
    edit_trace,
    float_version,
    odd_version,
    one_at_a_time,
    shared_snapshot,
    sign,
    spaced_rewrite,
    summary,
    write_history,
)


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
