"""The review policy is re-proved from the events alone, and the database's check (SQL) and the
offline one (Python, for bundles) name the same violations (I1, I3; issue 12, item 2)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aval.audit_store import trail, verify, verify_facts
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import Actor, ActorType
from aval.audit_store.verify_ranges import RangePass
from aval.verifier.chain import utc_iso
from aval.verifier.chain_verifier import ChainVerifier
from aval.verifier.policy_replay import PolicyReplay

from .trail_access import connect
from .trail_history import insert_decision

APP = Actor("app-a", ActorType.APPLICATION)
SYSTEM = Actor("aval", ActorType.SYSTEM)
SUGGESTED = {"accord": True}
START = datetime(2026, 12, 1, 9, tzinfo=UTC)


def _human(name: str) -> Actor:
    return Actor(name, ActorType.HUMAN)


@dataclass(frozen=True)
class Event:
    """One event of a made-up life: who, what, and how long after the proposal."""

    kind: str
    actor: Actor
    data: dict[str, Any]
    after: timedelta = timedelta(minutes=1)


def _proposed(required: int = 2, deadline: timedelta = timedelta(days=1)) -> Event:
    data = {
        "decision_type": "aides.attribution",
        "required_approvals": required,
        "rejections_to_close": 1,
        "deadline": utc_iso(START + deadline),
        "suggestion": {"output": SUGGESTED, "confidence": 0.8},
        "decision_state": "PENDING_REVIEW",
        "decision_version": 1,
    }
    return Event("decision.proposed", APP, data, timedelta(0))


def _verdict(
    who: Actor,
    verdict: str = "APPROVE",
    amended: dict[str, Any] | None = None,
    roles: tuple[str, ...] = ("supervisor",),
    after: timedelta = timedelta(minutes=1),
) -> Event:
    data = {
        "verdict": verdict,
        "justification": "",
        "amended_output": amended,
        "reviewer_roles": list(roles),
        "eligible_roles": ["supervisor"],
        "decision_state": "PENDING_REVIEW",
        "decision_version": 2,
    }
    return Event("review.recorded", who, data, after)


S1, S2 = _human("sup-1"), _human("sup-2")


def _final(state: str, outcome: Any) -> Event:
    data = {"outcome": outcome, "decision_state": state, "decision_version": 9}
    return Event("decision.finalized", S1, data, timedelta(minutes=2))


LIVES: dict[str, tuple[list[Event], list[str]]] = {
    "two approvals": ([_proposed(), _verdict(S1), _verdict(S2), _final("APPROVED", SUGGESTED)], []),
    "one approval of two": (
        [_proposed(), _verdict(S1), _final("APPROVED", SUGGESTED)],
        ["policy_quorum_not_met"],
    ),
    "one approver twice": (
        [_proposed(), _verdict(S1), _verdict(S1), _final("APPROVED", SUGGESTED)],
        ["policy_quorum_not_met"],
    ),
    "the service approving": (
        [_proposed(), _verdict(S1), _verdict(SYSTEM), _final("APPROVED", SUGGESTED)],
        ["policy_quorum_not_met"],
    ),
    "the proposer approving": (
        [_proposed(), _verdict(S1), _verdict(APP), _final("APPROVED", SUGGESTED)],
        ["approver_is_proposer"],
    ),
    "a verdict after the deadline": (
        [
            _proposed(deadline=timedelta(minutes=5)),
            _verdict(S1),
            _verdict(S2, after=timedelta(minutes=10)),
            _final("APPROVED", SUGGESTED),
        ],
        ["verdict_after_deadline"],
    ),
    "a verdict from no eligible role": (
        [
            _proposed(),
            _verdict(S1),
            _verdict(S2, roles=("inspector",)),
            _final("APPROVED", SUGGESTED),
        ],
        ["verdict_role_not_eligible"],
    ),
    "an outcome that is not the suggestion": (
        [_proposed(), _verdict(S1), _verdict(S2), _final("APPROVED", {"accord": False})],
        ["outcome_not_derived"],
    ),
    "the last amendment": (
        [
            _proposed(),
            _verdict(S1, "AMEND", {"accord": False}),
            _verdict(S2, "AMEND", {"accord": True, "montant": 1}),
            _final("AMENDED", {"accord": True, "montant": 1}),
        ],
        [],
    ),
    "an earlier amendment": (
        [
            _proposed(),
            _verdict(S1, "AMEND", {"accord": False}),
            _verdict(S2, "AMEND", {"accord": True, "montant": 1}),
            _final("AMENDED", {"accord": False}),
        ],
        ["outcome_not_derived"],
    ),
    "approved though amended": (
        [
            _proposed(),
            _verdict(S1, "AMEND", {"accord": False}),
            _verdict(S2),
            _final("APPROVED", {"accord": False}),
        ],
        ["outcome_not_derived"],
    ),
    "a rejection": ([_proposed(), _verdict(S1, "REJECT"), _final("REJECTED", None)], []),
    "a rejection with an outcome": (
        [_proposed(), _verdict(S1, "REJECT"), _final("REJECTED", SUGGESTED)],
        ["outcome_not_derived"],
    ),
    "an expiry": (
        [
            _proposed(),
            Event("decision.expired", SYSTEM, {"decision_state": "EXPIRED", "decision_version": 2}),
        ],
        [],
    ),
    "an expiry with an outcome": (
        [
            _proposed(required=1),
            _verdict(S1),
            _final("APPROVED", SUGGESTED),
            Event("decision.expired", SYSTEM, {"decision_state": "EXPIRED", "decision_version": 4}),
        ],
        ["expired_with_outcome"],
    ),
    "approved with no proposal": (
        [_verdict(S1), _verdict(S2), _final("APPROVED", SUGGESTED)],
        ["policy_quorum_not_met", "outcome_not_derived"],
    ),
    "pending": ([_proposed(), _verdict(S1)], []),
}


async def _write(url: str, tenant: str, decision: uuid.UUID, life: list[Event]) -> None:
    async with await connect(url) as conn:
        elapsed = timedelta(0)
        for event in life:
            elapsed += event.after
            async with conn.transaction():
                await trail.append_events(
                    conn,
                    tenant,
                    [NewEvent(event.kind, event.actor, decision, event.data)],
                    occurred_at=START + elapsed,
                    trace_id="",
                )


async def _online(url: str, tenant: str) -> dict[str, list[tuple[str, int, str]]]:
    async with await connect(url) as conn, conn.transaction():
        found, unchecked = await verify_facts.facts_findings([conn], tenant)
    assert unchecked == 0
    return {f.decision_id: f.policy for f in found}


async def _offline(url: str, tenant: str) -> dict[str, list[tuple[str, int, str]]]:
    replay = PolicyReplay()
    async with await connect(url) as conn:
        async for event in trail.iter_events(conn, tenant):
            replay.feed(event)
    return replay.violations()


@pytest.mark.parametrize("life", sorted(LIVES))
def test_the_policy_is_re_proved_from_the_events_online_and_offline_I1(
    database_url: str, life: str
) -> None:
    events, expected = LIVES[life]
    tenant, decision = f"policy-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    asyncio.run(_write(database_url, tenant, decision, events))

    online = asyncio.run(_online(database_url, tenant))
    offline = asyncio.run(_offline(database_url, tenant))

    assert online == offline
    assert [kind for kind, _, _ in online.get(str(decision), [])] == expected


async def _online_from_columns(url: str, tenant: str) -> dict[str, list[tuple[str, int, str]]]:
    """The policy as verification judges it when the chain check found every range whole: the
    events' columns and states as it proved them, only their data parsed."""
    async with await connect(url) as conn, conn.transaction():
        verifier = ChainVerifier(tenant)
        ranges = RangePass(verifier, [conn], tenant, 1000)
        stored = await ranges.run(None, 10_000)
        assert ranges.whole
        proven = verify.trail_states(stored, verifier.last_state)
        found, unchecked = await verify_facts.facts_findings([conn], tenant, proven)
    assert unchecked == 0
    return {f.decision_id: f.policy for f in found}


@pytest.mark.parametrize("life", sorted(LIVES))
def test_the_policy_is_re_proved_alike_from_the_proven_columns_I1(
    database_url: str, life: str
) -> None:
    events, expected = LIVES[life]
    tenant, decision = f"policy-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    asyncio.run(_write(database_url, tenant, decision, events))

    online = asyncio.run(_online_from_columns(database_url, tenant))

    assert online == asyncio.run(_offline(database_url, tenant))
    assert [kind for kind, _, _ in online.get(str(decision), [])] == expected


def test_one_reviewer_twice_in_the_trail_is_not_two_stored_reviews_I3(database_url: str) -> None:
    """Two identical verdicts of one reviewer in the trail; the stored reviews hold that one
    and another reviewer's: as many, each verdict stored, and still not the same reviews."""
    tenant, decision = f"policy-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    twice = [_proposed(), _verdict(S1), _verdict(S1, after=timedelta(0))]
    asyncio.run(_write(database_url, tenant, decision, twice))

    async def store() -> None:
        async with await connect(database_url) as conn:
            await insert_decision(conn, tenant, decision, 3)
            for who in ("sup-1", "sup-2"):
                await conn.execute(
                    "INSERT INTO reviews (tenant_id, decision_id, reviewer_id, reviewer_roles,"
                    " verdict, justification, amended_output, decided_at)"
                    " VALUES (%s, %s, %s, '{supervisor}', 'APPROVE', '', NULL, %s)",
                    (tenant, decision, who, START + timedelta(minutes=1)),
                )

    asyncio.run(store())

    async def both() -> tuple[list[verify_facts.FactsFinding], list[verify_facts.FactsFinding]]:
        async with await connect(database_url) as conn, conn.transaction():
            verifier = ChainVerifier(tenant)
            ranges = RangePass(verifier, [conn], tenant, 1000)
            stored = await ranges.run(None, 10_000)
            proven = verify.trail_states(stored, verifier.last_state)
            by_columns, _ = await verify_facts.facts_findings([conn], tenant, proven)
            by_bytes, _ = await verify_facts.facts_findings([conn], tenant)
        return by_columns, by_bytes

    by_columns, by_bytes = asyncio.run(both())
    assert by_columns == by_bytes
    assert [f.decision_id for f in by_columns] == [str(decision)]
    assert "reviews" in by_columns[0].differing
