"""GetStats through the use cases on real PostgreSQL: every figure, rubber-stamping, I5 (R5, R6).

The decisions are made on a database of their own, with the service's clock set by the test,
so that every count, rate and duration is known in advance.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aval.audit_store import verify
from aval.service.audit import statistics
from aval.service.audit.statistics import StatsRow
from aval.service.clock import SYSTEM_CLOCK
from aval.service.decisions import proposals, reviewing
from aval.service.decisions.expiry import expire_overdue
from aval.service.deployment import Deployment
from aval.service.errors import InvalidArgument, PermissionDenied
from aval.service.identity import Principal, load_principals
from aval.service.requests.audit import StatsIn
from aval.service.requests.decisions import ClaimIn, DecideIn, ProposeIn
from tests.in_process import deployment_running

# Two hours ago, to the second: the express.test decision (2 s deadline) is overdue for the
# real clock of the expiry sweep, the others (days) are not.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def propose_in(decision_type: str, model: str | None, tenant: str = "") -> ProposeIn:
    name, _, version = (model or "").partition("@")
    suggestion = {
        "output": {"service": "voirie"},
        "confidence": 0.9,
        "explanation": "mots-clés de la demande",
        "model": {"name": name, "version": version},
    }
    return ProposeIn.model_validate(
        {
            "tenant": tenant,
            "decision_type": decision_type,
            "subject_ref": f"usager:{uuid.uuid4().hex[:8]}",
            "input": {"objet": "nid-de-poule"},
            "idempotency_key": str(uuid.uuid4()),
            "attested_suggestion": suggestion if model else None,
        }
    )


def verdict(decision_id: uuid.UUID, name: str) -> DecideIn:
    changes: dict[str, Any] = {"justification": "vu le dossier"}
    if name == "amend":
        changes["amended_output"] = {"service": "propreté"}
    return DecideIn.model_validate(
        {"decision_id": decision_id, "verdict": f"VERDICT_{name.upper()}", **changes}
    )


class SetClock:
    """The service's clock in this story: it reads what the story last set."""

    def __init__(self) -> None:
        self.time = T0

    def now(self) -> datetime:
        return self.time


class World:
    """A deployment on a fresh database, its principals, and the service's clock."""

    def __init__(
        self, deployment: Deployment, principals: dict[str, Principal], clock: SetClock
    ) -> None:
        self.deployment, self.principals, self.clock = deployment, principals, clock

    def at(self, seconds: float) -> None:
        self.clock.time = T0 + timedelta(seconds=seconds)

    async def propose(self, at: float, decision_type: str, model: str | None, by: str) -> uuid.UUID:
        self.at(at)
        request = propose_in(decision_type, model)
        done = await proposals.propose(self.deployment, self.principals[by], request)
        return done.decision.id

    async def decide(self, at: float, who: str, decision_id: uuid.UUID, name: str) -> None:
        self.at(at)
        await reviewing.decide(self.deployment, self.principals[who], verdict(decision_id, name))

    async def stats(self, who: str, **fields: Any) -> list[StatsRow]:
        request = StatsIn.model_validate(fields)
        return await statistics.get_stats(self.deployment, self.principals[who], request)


@pytest.fixture(scope="module")
async def world(new_database: Callable[..., str], config_dir: Path) -> AsyncIterator[World]:
    """The story every test reads (times in seconds after T0):

    voirie.signalement (1 approval), model voirie-ia@2.0 unless said:
      D1 proposed 0, sup-a1 approves at 10                      -> APPROVED, 10 s
      D2 proposed 100, sup-a1 approves at 120                   -> APPROVED, 20 s
      D3 proposed 200, sup-a2 claims at 260, amends at 500      -> AMENDED, 300 s
      D4 without AI, proposed 300, sup-a2 rejects at 900        -> REJECTED, 600 s
    aides.attribution (2 approvals), model bareme-ccas@2026.1:
      D5 proposed 1000, sup-a1 approves 1005, sup-a2 at 1400    -> APPROVED, 400 s
      D6 proposed 2000, sup-a2 amends 2100, sup-a1 approves 2110 -> AMENDED, 110 s
      D7 proposed 3000, sup-a1 approves 3008                    -> PENDING_REVIEW
    express.test (2 s deadline), bareme-ccas@2026.1:
      D8 proposed 3100, never reviewed                          -> EXPIRED
    ville-b: one decision, one verdict of sup-b (it needs two)  -> PENDING_REVIEW
    """
    url = new_database()
    loaded = load_principals(config_dir / "principals.yaml")
    clock = SetClock()
    async with deployment_running(url, config_dir, clock=clock) as deployment:
        w = World(deployment, {p.id: p for p, _ in loaded}, clock)
        voirie = "voirie.signalement"
        d1 = await w.propose(0, voirie, "voirie-ia@2.0", "app-a")
        await w.decide(10, "sup-a1", d1, "approve")
        d2 = await w.propose(100, voirie, "voirie-ia@2.0", "app-a")
        await w.decide(120, "sup-a1", d2, "approve")
        d3 = await w.propose(200, voirie, "voirie-ia@2.0", "app-a")
        w.at(260)
        await reviewing.claim(deployment, w.principals["sup-a2"], ClaimIn(decision_id=d3))
        await w.decide(500, "sup-a2", d3, "amend")
        d4 = await w.propose(300, voirie, None, "app-a")
        await w.decide(900, "sup-a2", d4, "reject")
        d5 = await w.propose(1000, "aides.attribution", "bareme-ccas@2026.1", "app-a")
        await w.decide(1005, "sup-a1", d5, "approve")
        await w.decide(1400, "sup-a2", d5, "approve")
        d6 = await w.propose(2000, "aides.attribution", "bareme-ccas@2026.1", "app-a")
        await w.decide(2100, "sup-a2", d6, "amend")
        await w.decide(2110, "sup-a1", d6, "approve")
        d7 = await w.propose(3000, "aides.attribution", "bareme-ccas@2026.1", "app-a")
        await w.decide(3008, "sup-a1", d7, "approve")
        await w.propose(3100, "express.test", "bareme-ccas@2026.1", "app-a")
        assert await expire_overdue(deployment.store, SYSTEM_CLOCK) == 1
        b1 = await w.propose(50, voirie, "voirie-ia@2.0", "app-b")
        await w.decide(60, "sup-b", b1, "approve")
        yield w


def row(rows: list[StatsRow], dimension: str, key: str, tenant: str = "ville-a") -> StatsRow:
    found = [r for r in rows if (r.dimension, r.key, r.tenant) == (dimension, key, tenant)]
    assert len(found) == 1, (dimension, key, rows)
    return found[0]


def expect(
    r: StatsRow, counts: tuple[int, int, int, int, int, int], rates: tuple[float, ...]
) -> None:
    """counts: decisions, approved, amended, rejected, expired, pending; rates: override,
    agreement, time to decision p50 and p90."""
    assert (r.decisions, r.approved, r.amended, r.rejected, r.expired, r.pending) == counts
    figures = (
        r.override_rate,
        r.agreement_rate,
        r.time_to_decision_p50_seconds,
        r.time_to_decision_p90_seconds,
    )
    assert figures == pytest.approx(rates, rel=1e-9, abs=1e-9)


async def test_the_story_is_a_valid_trail(world: World) -> None:
    async with world.deployment.store.reading() as conn:
        report = await verify.verify_tenant(conn, "ville-a")
    assert report.ok, report.problems


async def test_figures_per_tenant_type_and_model_R5(world: World) -> None:
    rows = await world.stats("insp-a", tenant="ville-a")
    assert [r.dimension for r in rows] == sorted(
        (r.dimension for r in rows), key=statistics.DIMENSIONS.index
    )
    assert {(r.dimension, r.key) for r in rows} == {
        ("tenant", "ville-a"),
        ("decision_type", "voirie.signalement"),
        ("decision_type", "aides.attribution"),
        ("decision_type", "express.test"),
        ("model", "voirie-ia@2.0"),
        ("model", "bareme-ccas@2026.1"),
        ("model", "none"),
        ("reviewer", "sup-a1"),
        ("reviewer", "sup-a2"),
    }
    # Final human outcomes: 10, 20, 110, 300, 400, 600 s; agreeing verdicts 5 of the 8 on AI
    # suggestions (sup-a1's approval of D6 came after sup-a2's amendment).
    expect(row(rows, "tenant", "ville-a"), (8, 3, 2, 1, 1, 1), (3 / 6, 5 / 8, 205, 500))
    voirie = row(rows, "decision_type", "voirie.signalement")
    expect(voirie, (4, 2, 1, 1, 0, 0), (2 / 4, 2 / 3, 160, 510))
    aides = row(rows, "decision_type", "aides.attribution")
    expect(aides, (3, 1, 1, 0, 0, 1), (1 / 2, 3 / 5, 255, 371))
    expect(row(rows, "decision_type", "express.test"), (1, 0, 0, 0, 1, 0), (0, 0, 0, 0))
    expect(row(rows, "model", "voirie-ia@2.0"), (3, 2, 1, 0, 0, 0), (1 / 3, 2 / 3, 20, 244))
    expect(row(rows, "model", "none"), (1, 0, 0, 1, 0, 0), (1, 0, 600, 600))
    bareme = row(rows, "model", "bareme-ccas@2026.1")
    expect(bareme, (4, 1, 1, 0, 1, 1), (1 / 2, 3 / 5, 255, 371))
    assert all(r.verdicts == 0 and not r.rubber_stamping for r in rows if r.dimension != "reviewer")


async def test_figures_per_reviewer_with_claims_R6(world: World) -> None:
    rows = await world.stats("insp-a")
    a1, a2 = row(rows, "reviewer", "sup-a1"), row(rows, "reviewer", "sup-a2")
    # sup-a1: five approvals in 10, 20, 5, 110 and 8 s from the proposal; D7 still pending.
    expect(a1, (5, 5, 0, 0, 0, 1), (0, 4 / 5, 65, 313))
    assert (a1.verdicts, a1.review_seconds_p50, a1.rubber_stamping) == (5, 10, True)
    # sup-a2: D3 240 s from the claim, D4 600 s, D5 400 s, D6 100 s from the proposal.
    expect(a2, (4, 1, 2, 1, 0, 0), (3 / 4, 1 / 3, 350, 540))
    assert (a2.verdicts, a2.review_seconds_p50, a2.rubber_stamping) == (4, 320, False)


@pytest.mark.parametrize(
    ("rate", "seconds", "flagged"),
    [
        (0, 0, {"sup-a1"}),  # defaults: 95 %, 30 s
        (0, 10, set()),  # sup-a1's median is 10 s, not below 10 s
        (1.0, 11, {"sup-a1"}),  # an approval rate of 100 % is at the threshold
        (0.2, 1000, {"sup-a1", "sup-a2"}),  # sup-a2 approves 25 % in a median 320 s
        (0.3, 1000, {"sup-a1"}),
    ],
)
async def test_rubber_stamping_flag_follows_the_thresholds_R12(
    world: World, rate: float, seconds: float, flagged: set[str]
) -> None:
    rows = await world.stats(
        "insp-a", rubber_stamp_approval_rate=rate, rubber_stamp_review_seconds=seconds
    )
    assert {r.key for r in rows if r.rubber_stamping} == flagged


async def test_since_and_until_select_decisions_by_proposal_time(world: World) -> None:
    window = {"since": T0 + timedelta(seconds=1000), "until": T0 + timedelta(seconds=3000)}
    rows = await world.stats("insp-a", **window)
    expect(row(rows, "tenant", "ville-a"), (2, 1, 1, 0, 0, 0), (1 / 2, 2 / 4, 255, 371))
    assert {r.key for r in rows if r.dimension == "reviewer"} == {"sup-a1", "sup-a2"}
    assert await world.stats("insp-a", since=T0 + timedelta(days=1)) == []
    with pytest.raises(InvalidArgument) as refused:
        await world.stats("insp-a", since=window["until"], until=window["since"])
    assert [v.field for v in refused.value.violations] == ["until"]


async def test_each_tenant_sees_only_its_own_figures_I5(world: World) -> None:
    own = await world.stats("insp-a")
    assert {r.tenant for r in own} == {"ville-a"}
    theirs = await world.stats("insp-b")
    assert {r.tenant for r in theirs} == {"ville-b"}
    expect(row(theirs, "tenant", "ville-b", "ville-b"), (1, 0, 0, 0, 0, 1), (0, 1, 0, 0))
    for asked in ({"tenant": "ville-b"}, {"tenants": ["ville-a", "ville-b"]}):
        with pytest.raises(PermissionDenied):
            await world.stats("insp-a", **asked)
    # A supervisor does not query the trail: they see their colleagues' reviewer rows only
    # (stats.team, R12), never their own, and nothing of another tenant.
    team = await world.stats("sup-a1")
    assert {r.dimension for r in team} <= {"reviewer"}
    assert {r.tenant for r in team} <= {"ville-a"}
    assert not [r for r in team if r.key == "sup-a1"]
    with pytest.raises(PermissionDenied):
        await world.stats("sup-a1", tenant="ville-b")
    with pytest.raises(PermissionDenied):  # unknown is refused like not granted (I5)
        await world.stats("insp-pool", tenants=["ville-a", "ville-z"])


async def test_a_pooled_inspector_sees_several_tenants_I5(world: World) -> None:
    both = await world.stats("insp-pool", tenants=["ville-a", "ville-b", "ville-a"])
    assert {r.tenant for r in both} == {"ville-a", "ville-b"}
    assert [r for r in both if r.tenant == "ville-a"] == await world.stats("insp-a")
    assert row(both, "reviewer", "sup-b", "ville-b").verdicts == 1
