"""The review flow through the use cases, on real PostgreSQL: invariants I1, I2, I4, I5, I6."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from aval.audit_store import decisions, trail, verify
from aval.audit_store.records import DecisionState
from aval.service.clock import MovableClock
from aval.service.decisions import proposals, reading, reviewing
from aval.service.deployment import Deployment
from aval.service.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
)
from aval.service.identity import Principal
from aval.service.requests.decisions import ClaimIn, DecideIn, DecisionRef, ListQueueIn, ProposeIn


def propose_in(decision_type: str = "aides.attribution", **changes: Any) -> ProposeIn:
    fields: dict[str, Any] = {
        "decision_type": decision_type,
        "subject_ref": f"usager:{uuid.uuid4().hex[:8]}",
        "input": {"quotient_familial": 640, "demande": "aide cantine"},
        "idempotency_key": str(uuid.uuid4()),
        "attested_suggestion": {
            "output": {"accord": True, "montant_centimes": 12000},
            "confidence": 0.82,
            "explanation": "quotient familial sous le seuil de 700",
            "model": {"name": "bareme-ccas", "version": "2026.1"},
        },
    }
    fields.update(changes)
    return ProposeIn.model_validate(fields)


def verdict(decision_id: uuid.UUID, name: str, **changes: Any) -> DecideIn:
    return DecideIn.model_validate(
        {"decision_id": decision_id, "verdict": f"VERDICT_{name.upper()}", **changes}
    )


async def events_of(deployment: Deployment, tenant: str, decision_id: uuid.UUID) -> list[str]:
    async with deployment.store.reading() as conn:
        found = await trail.query_events(
            conn, trail.EventFilter(tenant, decision_id=decision_id), after_seq=0, limit=100
        )
    return [e.kind for e in found]


async def test_quorum_of_distinct_approvers_releases_the_outcome_I1(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    d = (await proposals.propose(deployment, principals["app-a"], propose_in())).decision
    assert d.state is DecisionState.PENDING_REVIEW
    first = await reviewing.decide(deployment, principals["sup-a1"], verdict(d.id, "approve"))
    assert first.state is DecisionState.PENDING_REVIEW and first.outcome is None
    with pytest.raises(FailedPrecondition, match="another person"):
        await reviewing.decide(deployment, principals["sup-a1"], verdict(d.id, "approve"))
    final = await reviewing.decide(deployment, principals["sup-a2"], verdict(d.id, "approve"))
    assert final.state is DecisionState.APPROVED
    assert final.outcome == {"accord": True, "montant_centimes": 12000}
    assert [r.reviewer_id for r in final.reviews] == ["sup-a1", "sup-a2"]


async def test_proposer_can_never_approve_its_own_proposal_I1(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    proposer = principals["appsup-a"]  # holds the supervisor role too
    d = (await proposals.propose(deployment, proposer, propose_in("voirie.signalement"))).decision
    with pytest.raises(PermissionDenied, match="proposer"):
        await reviewing.decide(deployment, proposer, verdict(d.id, "approve"))
    with pytest.raises(PermissionDenied, match="proposer"):
        await reviewing.claim(deployment, proposer, ClaimIn(decision_id=d.id))
    async with deployment.store.reading() as conn:
        assert (await decisions.get(conn, "ville-a", d.id)).state is DecisionState.PENDING_REVIEW


async def test_deadline_never_approves_I1(
    timed: Deployment, clock: MovableClock, principals: dict[str, Principal]
) -> None:
    from aval.service.decisions.expiry import expire_overdue

    d = (await proposals.propose(timed, principals["app-a"], propose_in("express.test"))).decision
    clock.advance(2.1)
    with pytest.raises(FailedPrecondition, match="deadline"):
        await reviewing.decide(timed, principals["sup-a1"], verdict(d.id, "approve"))
    assert await expire_overdue(timed.store, clock) >= 1
    async with timed.store.reading() as conn:
        expired = await decisions.get(conn, "ville-a", d.id)
    assert expired.state is DecisionState.EXPIRED
    assert expired.outcome is None and not expired.state.takes_effect
    assert await events_of(timed, "ville-a", d.id) == ["decision.proposed", "decision.expired"]


async def test_ineligible_role_cannot_decide_I1(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    d = (await proposals.propose(deployment, principals["app-a"], propose_in())).decision
    with pytest.raises(PermissionDenied):
        await reviewing.decide(deployment, principals["insp-a"], verdict(d.id, "approve"))


async def test_every_change_has_its_events_and_verifies_I2(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    d = (await proposals.propose(deployment, principals["app-a"], propose_in())).decision
    await reviewing.claim(deployment, principals["sup-a1"], ClaimIn(decision_id=d.id))
    await reviewing.decide(
        deployment,
        principals["sup-a1"],
        verdict(
            d.id,
            "amend",
            justification="montant plafonné par la délibération 2026-14",
            amended_output={"accord": True, "montant_centimes": 10000},
        ),
    )
    done = await reviewing.decide(deployment, principals["sup-a2"], verdict(d.id, "approve"))
    assert done.state is DecisionState.AMENDED
    assert done.outcome == {"accord": True, "montant_centimes": 10000}
    assert await events_of(deployment, "ville-a", d.id) == [
        "decision.proposed",
        "decision.claimed",
        "review.recorded",
        "review.recorded",
        "decision.finalized",
    ]
    async with deployment.store.reading() as conn:
        report = await verify.verify_tenant(conn, "ville-a")
    assert report.ok, report.problems


async def test_refused_verdict_writes_nothing_I2_I6(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    d = (await proposals.propose(deployment, principals["app-a"], propose_in())).decision
    with pytest.raises(InvalidArgument) as refused:
        await reviewing.decide(deployment, principals["sup-a1"], verdict(d.id, "reject"))
    assert [v.field for v in refused.value.violations] == ["justification"]
    async with deployment.store.reading() as conn:
        again = await decisions.get(conn, "ville-a", d.id)
    assert again.version == d.version and again.reviews == []
    assert await events_of(deployment, "ville-a", d.id) == ["decision.proposed"]


async def test_first_reject_closes_the_decision(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    d = (await proposals.propose(deployment, principals["app-a"], propose_in())).decision
    done = await reviewing.decide(
        deployment,
        principals["sup-a1"],
        verdict(d.id, "reject", justification="pièces justificatives manquantes"),
    )
    assert done.state is DecisionState.REJECTED and done.outcome is None
    with pytest.raises(FailedPrecondition, match="REJECTED"):
        await reviewing.decide(deployment, principals["sup-a2"], verdict(d.id, "approve"))


async def test_amend_refused_when_the_policy_forbids_it(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    d = (
        await proposals.propose(deployment, principals["app-a"], propose_in("sans.amendement"))
    ).decision
    with pytest.raises(FailedPrecondition, match="does not allow amending"):
        await reviewing.decide(
            deployment,
            principals["sup-a1"],
            verdict(d.id, "amend", justification="x", amended_output={"accord": False}),
        )


async def test_same_key_same_body_returns_the_first_decision_I4(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    request = propose_in()
    first = await proposals.propose(deployment, principals["app-a"], request)
    again = await proposals.propose(deployment, principals["app-a"], request)
    assert again.replayed and again.decision.id == first.decision.id
    changed = propose_in(idempotency_key=request.idempotency_key, input={"autre": 1})
    with pytest.raises(AlreadyExists, match="different"):
        await proposals.propose(deployment, principals["app-a"], changed)


async def test_concurrent_retries_make_one_decision_I4(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    request = propose_in()
    results = await asyncio.gather(
        *(proposals.propose(deployment, principals["app-a"], request) for _ in range(8))
    )
    assert len({r.decision.id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1


async def test_other_tenants_cannot_read_or_act_I5(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    d = (await proposals.propose(deployment, principals["app-a"], propose_in())).decision
    ref = DecisionRef(tenant="ville-a", decision_id=d.id)
    with pytest.raises(PermissionDenied):
        await reading.get_decision(deployment, principals["app-b"], ref)
    with pytest.raises(PermissionDenied):
        await reviewing.decide(
            deployment, principals["sup-b"], verdict(d.id, "approve", tenant="ville-a")
        )
    with pytest.raises(PermissionDenied):
        await reading.list_queue(deployment, principals["sup-b"], ListQueueIn(tenant="ville-a"))
    # The pooled inspector was granted ville-a explicitly.
    assert (await reading.get_decision(deployment, principals["insp-pool"], ref)).id == d.id
    # Without naming a tenant, a caller only ever sees its own.
    with pytest.raises(Exception, match="no decision"):
        await reading.get_decision(deployment, principals["app-b"], DecisionRef(decision_id=d.id))


async def test_claim_keeps_other_supervisors_off(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    d = (await proposals.propose(deployment, principals["app-a"], propose_in())).decision
    await reviewing.claim(deployment, principals["sup-a1"], ClaimIn(decision_id=d.id))
    with pytest.raises(FailedPrecondition, match="claimed by sup-a1"):
        await reviewing.decide(deployment, principals["sup-a2"], verdict(d.id, "approve"))
    page, _, _ = await reading.list_queue(
        deployment, principals["sup-a2"], ListQueueIn(actionable_only=True, page_size=500)
    )
    assert d.id not in {x.id for x in page}


async def test_queue_pages_cover_every_pending_decision_once(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    made = {
        (
            await proposals.propose(
                deployment, principals["app-a"], propose_in("voirie.signalement")
            )
        ).decision.id
        for _ in range(7)
    }
    seen: list[uuid.UUID] = []
    token = ""
    while True:
        page, token, _ = await reading.list_queue(
            deployment,
            principals["sup-a3"],
            ListQueueIn(decision_type="voirie.signalement", page_size=3, page_token=token),
        )
        seen += [d.id for d in page]
        if not token:
            break
    assert made <= set(seen) and len(seen) == len(set(seen))


async def test_oversized_payload_is_refused_I6(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    big = propose_in(input={"texte": "x" * 5000})
    with pytest.raises(InvalidArgument) as refused:
        await proposals.propose(deployment, principals["app-a"], big)
    assert refused.value.violations[0].field == "input"


async def test_unknown_decision_type_is_invalid_and_unknown_tenant_not_granted_I6_I5(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await proposals.propose(deployment, principals["app-a"], propose_in("inconnu.type"))
    assert refused.value.violations[0].field == "decision_type"
    with pytest.raises(PermissionDenied) as denied:  # refused like not granted (I5)
        await proposals.propose(deployment, principals["app-a"], propose_in(tenant="ville-zz"))
    assert denied.value.reason == "NOT_GRANTED"


async def test_state_changed_without_events_is_caught_I3(
    deployment: Deployment, principals: dict[str, Principal], database_url: str
) -> None:
    import psycopg

    d = (await proposals.propose(deployment, principals["app-a"], propose_in())).decision
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute(
            "UPDATE aval.decisions SET state = 'APPROVED', outcome = '{}'::jsonb"
            " WHERE tenant_id = 'ville-a' AND id = %s",
            (d.id,),
        )
        await conn.commit()
    try:
        async with deployment.store.reading() as conn:
            report = await verify.verify_tenant(conn, "ville-a")
        assert sorted((p.kind, p.decision_id, p.detail) for p in report.problems) == [
            ("decision_projection_mismatch", str(d.id), "outcome differs from the trail"),
            (
                "state_mismatch",
                str(d.id),
                "decision is APPROVED v1, its trail says PENDING_REVIEW v1",
            ),
        ]
    finally:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            await conn.execute(
                "UPDATE aval.decisions SET state = 'PENDING_REVIEW', outcome = NULL"
                " WHERE tenant_id = 'ville-a' AND id = %s",
                (d.id,),
            )
            await conn.commit()
