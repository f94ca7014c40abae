"""Verification reads no event's JSON when it can help it (audit_store/digests.py): it compares
the columns with the bytes that open and close each event, and finds the decision's state by
its key. These tests hold it to the two promises that make that sound: whatever it cannot
settle that way it hands to the full check (no false alarm), and any column that says other
than the bytes is caught."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from aval.audit_store import digests, trail
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import Actor, ActorType
from aval.verifier.events import RangeDigest, state_key

from .trail_access import as_superuser, connect
from .trail_history import by_ranges, insert_decision, one_at_a_time, summary

APP = Actor("app-test", ActorType.APPLICATION)
AWKWARD = Actor('agent "guillemets" \\ é\n\u2028', ActorType.HUMAN)


def _state(state: str, version: object, **more: object) -> dict[str, object]:
    return {"decision_state": state, "decision_version": version, **more}


async def _write(url: str, tenant: str, events: list[NewEvent], trace_id: str = "") -> None:
    async with await connect(url) as conn, conn.transaction():
        await trail.append_events(
            conn,
            tenant,
            events,
            occurred_at=datetime.now(UTC) - timedelta(hours=1),
            trace_id=trace_id,
        )


async def _plain_history(url: str, tenant: str) -> uuid.UUID:
    decision = uuid.uuid4()
    await _write(
        url,
        tenant,
        [
            NewEvent("decision.proposed", APP, decision, _state("PENDING_REVIEW", 1)),
            NewEvent("ai.consulted", APP, decision, {"model": {"name": "m", "version": "1"}}),
            NewEvent("decision.finalized", APP, decision, _state("APPROVED", 2)),
        ],
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
    )
    async with await connect(url) as conn:
        await insert_decision(conn, tenant, decision, 2)
    return decision


async def _fast(url: str, tenant: str) -> RangeDigest | None:
    async with await connect(url) as conn, conn.transaction():
        return await digests.range_digest(conn, tenant, 1, 1_000, leaves=True)


def test_plain_events_are_settled_without_reading_their_json(database_url: str) -> None:
    tenant = f"structure-{uuid.uuid4().hex[:8]}"
    decision = asyncio.run(_plain_history(database_url, tenant))
    fast = asyncio.run(_fast(database_url, tenant))
    assert fast is not None and fast.count == 3
    # The state said by the last of the two state events; the AI call says none.
    assert fast.decisions == [decision.bytes]
    assert fast.states == [state_key("APPROVED", 2)]
    report = asyncio.run(by_ranges(database_url, tenant, [], None, connections=2, range_size=2))
    assert report.ok and report.events_checked == 3


NESTED = {"decision_state": "APPROVED", "decision_version": 99}
# (actor, trace id, data of the proposal, data of the AI call): one thing out of the plain each.
UNSETTLED = {
    "text that JSON escapes, in a column": (AWKWARD, "", {}, {}),
    "a control character alone, in a column": (
        Actor("agent\tonglet", ActorType.HUMAN),
        "",
        {},
        {},
    ),
    "a trace id with quotes": (APP, 'trace "cité"', {}, {}),
    "a state key nested in a proposal": (APP, "", {"output": NESTED}, {}),
    "a state key in an AI call": (APP, "", {}, {"output": NESTED}),
    "a key that ends like the state's": (APP, "", {"suivi": {"review_state": "x"}}, {}),
    # the last bytes before the tail, where the search for a second key ends
    "a state key nested at the very end": (APP, "", {"zz": {"decision_state": ""}}, {}),
    "a version key nested at the very end": (APP, "", {"zz": {"decision_version": 0}}, {}),
}


@pytest.mark.parametrize("case", sorted(UNSETTLED))
def test_what_the_bytes_alone_cannot_settle_raises_no_alarm(database_url: str, case: str) -> None:
    """Each such range is doubted, read again and every event parsed, and found whole."""
    actor, trace_id, proposal, call = UNSETTLED[case]
    tenant = f"structure-{uuid.uuid4().hex[:8]}"
    decision = uuid.uuid4()
    events = [
        NewEvent("decision.proposed", actor, decision, _state("PENDING_REVIEW", 1, **proposal)),
        NewEvent("ai.consulted", APP, decision, {"model": {"name": "m"}, **call}),
        NewEvent("decision.finalized", APP, decision, _state("APPROVED", 2)),
    ]
    asyncio.run(_write(database_url, tenant, events, trace_id=trace_id))

    async def decisions() -> None:
        async with await connect(database_url) as conn:
            await insert_decision(conn, tenant, decision, 2)

    asyncio.run(decisions())
    assert asyncio.run(_fast(database_url, tenant)) is None
    reference = asyncio.run(one_at_a_time(database_url, tenant, [], None))
    by_range = asyncio.run(by_ranges(database_url, tenant, [], None, connections=2, range_size=1))
    assert reference.ok, reference.problems
    assert summary(by_range) == summary(reference)


def test_a_range_gives_the_last_state_of_each_decision(database_url: str) -> None:
    tenant = f"structure-{uuid.uuid4().hex[:8]}"
    first, second = uuid.uuid4(), uuid.uuid4()
    events = [
        NewEvent("decision.proposed", APP, first, _state("PENDING_REVIEW", 1)),
        NewEvent("decision.proposed", APP, second, _state("PENDING_REVIEW", 1)),
        NewEvent("decision.finalized", APP, first, _state("APPROVED", 2)),
        NewEvent("decision.claimed", APP, second, _state("PENDING_REVIEW", 2)),
        NewEvent("review.recorded", APP, second, _state("REJECTED", 3)),
    ]
    asyncio.run(_write(database_url, tenant, events))
    fast = asyncio.run(_fast(database_url, tenant))
    assert fast is not None and fast.count == 5
    assert dict(zip(fast.decisions, fast.states, strict=True)) == {
        first.bytes: state_key("APPROVED", 2),
        second.bytes: state_key("REJECTED", 3),
    }


# Versions the full check reads (any JSON number) but the bytes alone do not settle: each one
# doubts its range, which is then read in full and found whole.
ODD_VERSIONS = {
    "a version written as text, before the last event": ("1", 2),
    "a version with a fraction, on the last event": (1, 2.0),
    "a version with an exponent, on the last event": (1, 2e0),
}


@pytest.mark.parametrize("case", sorted(ODD_VERSIONS))
def test_a_version_spelled_otherwise_raises_no_alarm(database_url: str, case: str) -> None:
    proposed, finalized = ODD_VERSIONS[case]
    tenant = f"structure-{uuid.uuid4().hex[:8]}"
    decision = uuid.uuid4()
    events = [
        NewEvent("decision.proposed", APP, decision, _state("PENDING_REVIEW", proposed)),
        NewEvent("decision.finalized", APP, decision, _state("APPROVED", finalized)),
    ]
    asyncio.run(_write(database_url, tenant, events))

    async def decisions() -> None:
        async with await connect(database_url) as conn:
            await insert_decision(conn, tenant, decision, 2)

    asyncio.run(decisions())
    assert asyncio.run(_fast(database_url, tenant)) is None
    report = asyncio.run(by_ranges(database_url, tenant, [], None, connections=2, range_size=1))
    assert report.ok, report.problems
    assert report.decisions_checked == 1


COLUMN_EDITS = {
    "kind": "kind = 'decision.claimed'",
    "actor.id": "actor_id = 'app-tesT'",
    "actor.type": "actor_type = 'human'",
    "trace_id": "trace_id = '4bf92f3577b34da6a3ce929d0e0e4737'",
    "event_id": "event_id = gen_random_uuid()",
    "decision_id": "decision_id = NULL",
    "schema_version": "schema_version = 2",
    "occurred_at": "occurred_at = occurred_at + interval '1 microsecond'",
}


@pytest.mark.parametrize("column", sorted(COLUMN_EDITS))
def test_a_column_that_disagrees_with_the_bytes_is_named_I3(database_url: str, column: str) -> None:
    tenant = f"structure-{uuid.uuid4().hex[:8]}"
    asyncio.run(_plain_history(database_url, tenant))
    asyncio.run(
        as_superuser(
            database_url,
            (
                f"UPDATE audit_events SET {COLUMN_EDITS[column]} WHERE tenant_id = %s AND seq = 3",
                (tenant,),
            ),
        )
    )
    assert asyncio.run(_fast(database_url, tenant)) is None
    report = asyncio.run(by_ranges(database_url, tenant, [], None, connections=2, range_size=2))
    mismatches = [p for p in report.problems if p.kind == "canonical_mismatch"]
    assert [(p.seq, p.detail.rsplit(": ", 1)[-1]) for p in mismatches] == [(3, column)]
