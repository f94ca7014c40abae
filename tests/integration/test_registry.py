"""The registry's store on real PostgreSQL: records, the advice plan under every stop scope, pin
requests, energy and cost, and evaluation and usage over AI calls written with their proposals.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aval.audit_store import ai_usage, decisions, pin_requests, registry
from aval.audit_store.pin_requests import PinRequestRecord
from aval.audit_store.records import (
    AdviceStatus,
    AICall,
    CallRole,
    Decision,
)
from aval.audit_store.registry import AISystemRecord, ModelVersionRecord, StopRecord
from aval.service.decisions import reviewing
from aval.service.decisions.proposals import proposed_event
from aval.service.deployment import Deployment
from aval.service.identity import Principal, actor_of
from aval.service.requests.decisions import DecideIn
from tests.in_process import ai_proposal

NOW = datetime.now(UTC).replace(microsecond=0)


def new_system(tenant: str, name: str = "orienteur", **changes: Any) -> AISystemRecord:
    system = AISystemRecord(
        tenant_id=tenant,
        name=name,
        kind="ADVISOR",
        endpoint="127.0.0.1:50061",
        model="",
        api_key_env="",
        pinned_version=None,
        shadow_version=None,
        enabled=True,
        timeout_ms=10_000,
        max_attempts=2,
        energy_mwh_per_1k_tokens=10,
        energy_mwh_per_call=2,
        cost_micro_eur_per_1k_tokens=1000,
        cost_micro_eur_per_call=5,
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(system, **changes)


def new_version(name: str, version: str) -> ModelVersionRecord:
    return ModelVersionRecord(
        ai_system=name,
        version=version,
        intended_purpose="orienter les signalements de voirie",
        known_limits=("ne lit pas les photos", "français seulement"),
        accuracy_note="exactitude 0,91 sur 120 signalements",
        metrics={"accuracy": 0.91, "f1": 0.88},
        registered_by="admin-a",
        registered_at=NOW,
    )


async def registered(
    deployment: Deployment, tenant: str, name: str, *versions: str
) -> AISystemRecord:
    async with deployment.store.transaction() as conn:
        system = new_system(tenant, name)
        assert await registry.insert_system(conn, system)
        for version in versions:
            assert await registry.insert_version(conn, tenant, new_version(name, version))
    return system


def a_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


async def plan_of(
    deployment: Deployment, tenant: str, decision_type: str, name: str
) -> registry.AdvicePlan | None:
    async with deployment.store.reading() as conn:
        return await registry.advice_plan(conn, tenant, decision_type, name)


async def test_advice_plan_holds_the_system_with_its_pinned_and_shadow_versions(
    deployment: Deployment,
) -> None:
    tenant = a_tenant()
    assert await plan_of(deployment, tenant, "voirie.signalement", "orienteur") is None
    system = await registered(deployment, tenant, "orienteur", "1.0", "1.1")
    plan = await plan_of(deployment, tenant, "voirie.signalement", "orienteur")
    assert plan == registry.AdvicePlan(system=system, pinned=None, shadow=None, stop=None)

    async with deployment.store.transaction() as conn:
        locked = await registry.get_system(conn, tenant, "orienteur", for_update=True)
        assert locked is not None
        saved = await registry.update_system(
            conn, replace(locked, pinned_version="1.0", shadow_version="1.1")
        )
        with pytest.raises(registry.RegistryConflict):  # the record read before the update
            await registry.update_system(conn, replace(locked, enabled=False))
    assert saved.version == system.version + 1
    plan = await plan_of(deployment, tenant, "voirie.signalement", "orienteur")
    assert plan is not None and plan.system == saved
    assert plan.pinned == new_version("orienteur", "1.0")
    assert plan.shadow == new_version("orienteur", "1.1")
    assert plan.pinned.known_limits == ("ne lit pas les photos", "français seulement")
    assert plan.pinned.metrics == {"accuracy": 0.91, "f1": 0.88}
    # Another tenant's system of the same name is another system (I5).
    assert await plan_of(deployment, a_tenant(), "voirie.signalement", "orienteur") is None


@pytest.mark.parametrize(
    ("scope", "target", "covered", "not_covered"),
    [
        ("TENANT", "", [("voirie.signalement", "orienteur"), ("aides", "autre")], []),
        (
            "DECISION_TYPE",
            "voirie.signalement",
            [("voirie.signalement", "autre")],
            [("aides", "orienteur")],
        ),
        ("AI_SYSTEM", "orienteur", [("aides", "orienteur")], [("voirie.signalement", "autre")]),
    ],
)
async def test_a_stop_covers_exactly_its_scope_R9(
    deployment: Deployment,
    scope: str,
    target: str,
    covered: list[tuple[str, str]],
    not_covered: list[tuple[str, str]],
) -> None:
    tenant, other = a_tenant(), a_tenant()
    for name in ("orienteur", "autre"):
        await registered(deployment, tenant, name, "1.0")
        await registered(deployment, other, name, "1.0")
    stop = StopRecord(tenant, scope, target, "fuite de données", "admin-a", NOW)
    async with deployment.store.transaction() as conn:
        assert await registry.insert_stop(conn, stop) == (stop, True)
    for decision_type, name in covered:
        plan = await plan_of(deployment, tenant, decision_type, name)
        assert plan is not None and plan.stop == stop, (decision_type, name)
    for decision_type, name in not_covered:
        plan = await plan_of(deployment, tenant, decision_type, name)
        assert plan is not None and plan.stop is None, (decision_type, name)
    for decision_type, name in covered:  # another tenant's stop never covers (I5)
        plan = await plan_of(deployment, other, decision_type, name)
        assert plan is not None and plan.stop is None

    async with deployment.store.transaction() as conn:
        assert await registry.delete_stop(conn, tenant, scope, target) == stop
        assert await registry.delete_stop(conn, tenant, scope, target) is None
    for decision_type, name in covered:
        plan = await plan_of(deployment, tenant, decision_type, name)
        assert plan is not None and plan.stop is None


async def test_the_first_stop_is_kept_and_the_broadest_is_reported(
    deployment: Deployment,
) -> None:
    tenant = a_tenant()
    await registered(deployment, tenant, "orienteur")
    by_system = StopRecord(tenant, "AI_SYSTEM", "orienteur", "dérive", "admin-a", NOW)
    again = replace(by_system, reason="autre raison", stopped_by="admin-a2")
    by_type = StopRecord(tenant, "DECISION_TYPE", "voirie.signalement", "audit", "admin-a", NOW)
    everything = StopRecord(tenant, "TENANT", "", "incident", "admin-a2", NOW)
    async with deployment.store.transaction() as conn:
        assert await registry.insert_stop(conn, by_system) == (by_system, True)
        assert await registry.insert_stop(conn, again) == (by_system, False)
        await registry.insert_stop(conn, by_type)
    plan = await plan_of(deployment, tenant, "voirie.signalement", "orienteur")
    assert plan is not None and plan.stop == by_type
    async with deployment.store.transaction() as conn:
        await registry.insert_stop(conn, everything)
        listed = await registry.list_stops(conn, tenant)
    assert listed == [everything, by_type, by_system]
    plan = await plan_of(deployment, tenant, "voirie.signalement", "orienteur")
    assert plan is not None and plan.stop == everything


@pytest.mark.parametrize(
    ("tokens_in", "tokens_out", "expected"),
    [
        (None, None, (2, 5)),  # the backend reported no tokens: the per-call factors only
        (100, 20, (3, 125)),  # 120 tokens: 10 mWh/1k → 1.2 → 1; 1000 µ€/1k → 120
        (30, 20, (3, 55)),  # 50 tokens: 0.5 mWh rounds half up to 1
        (40, None, (2, 45)),  # 40 tokens: 0.4 mWh rounds down to 0
        (1000, 1000, (22, 2005)),
    ],
)
def test_energy_and_cost_add_the_per_call_and_per_token_factors_rounded_half_up(
    tokens_in: int | None, tokens_out: int | None, expected: tuple[int, int]
) -> None:
    assert registry.energy_and_cost(new_system("t"), tokens_in, tokens_out) == expected


async def test_pin_requests_list_pending_first_and_approval_supersedes_the_others(
    deployment: Deployment,
) -> None:
    tenant = a_tenant()
    await registered(deployment, tenant, "orienteur", "1.0", "1.1", "1.2")

    def request(version: str, minutes: int) -> PinRequestRecord:
        return PinRequestRecord(
            tenant_id=tenant,
            id=uuid.uuid4(),
            ai_system="orienteur",
            version=version,
            reason=f"passer en {version}",
            requested_by="admin-a",
            requested_at=NOW + timedelta(minutes=minutes),
        )

    first, second, third = request("1.0", 0), request("1.1", 1), request("1.2", 2)
    async with deployment.store.transaction() as conn:
        for r in (first, second, third):
            await pin_requests.insert_pin_request(conn, r)
        pending = await pin_requests.get_pin_request(conn, tenant, second.id, for_update=True)
        assert pending == second
        approved = await pin_requests.close_pin_request(
            conn, second, state="APPROVED", decided_by="admin-a2", decided_at=NOW, reason="ok"
        )
        superseded = await pin_requests.supersede_pending(
            conn, tenant, "orienteur", approved=second.id, decided_by="admin-a2", decided_at=NOW
        )
        fourth = request("1.0", 3)
        await pin_requests.insert_pin_request(conn, fourth)
        listed = await pin_requests.list_pin_requests(conn, tenant)
        only_pending = await pin_requests.list_pin_requests(conn, tenant, pending_only=True)
    assert (approved.state, approved.decided_by, approved.decision_reason) == (
        "APPROVED",
        "admin-a2",
        "ok",
    )
    assert superseded == sorted([first.id, third.id])
    assert [r.id for r in listed] == [fourth.id, third.id, second.id, first.id]
    assert [r.state for r in listed] == ["PENDING", "SUPERSEDED", "APPROVED", "SUPERSEDED"]
    assert only_pending == [fourth]


# Evaluation and usage. Each case: the primary call (status, output, latency), the shadow's
# (status, output) or None, and what the supervisor then does.
VOIRIE, PROPRETE, ECLAIRAGE = (
    {"service": "voirie"},
    {"service": "propreté"},
    {"service": "éclairage"},
)
CASES: list[tuple[tuple[str, Any, int], tuple[str, Any] | None, str | None]] = [
    (("SUGGESTED", VOIRIE, 100), ("SUGGESTED", VOIRIE), "approve"),
    (("SUGGESTED", VOIRIE, 200), ("SUGGESTED", PROPRETE), "amend"),
    (("SUGGESTED", VOIRIE, 300), ("SUGGESTED", VOIRIE), "reject"),
    (("UNAVAILABLE", None, 400), ("INVALID_OUTPUT", None), None),
    (("STOPPED", None, 0), None, None),
    (("SUGGESTED", VOIRIE, 500), ("SUGGESTED", ECLAIRAGE), "approve"),
    (("SUGGESTED", VOIRIE, 600), None, "approve"),
]


def call(
    system: AISystemRecord,
    decision: Decision,
    role: CallRole,
    version: str,
    status: str,
    output: Any,
    latency_ms: int,
    started_at: datetime,
) -> AICall:
    tokens = (None, None) if status in ("UNAVAILABLE", "STOPPED") else (100, 20)
    energy, cost = (0, 0) if status == "STOPPED" else registry.energy_and_cost(system, *tokens)
    return AICall(
        id=uuid.uuid4(),
        decision_id=decision.id,
        decision_type=decision.decision_type,
        ai_system=system.name,
        model_version=version,
        role=role,
        status=AdviceStatus(status),
        detail="",
        started_at=started_at,
        latency_ms=latency_ms,
        attempts=0 if status == "STOPPED" else 1,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        energy_mwh=energy,
        cost_micro_eur=cost,
        output=output,
    )


async def propose_with_calls(
    deployment: Deployment,
    principal: Principal,
    system: AISystemRecord,
    decision_type: str,
    primary: tuple[str, Any, int],
    shadow: tuple[str, Any] | None,
    *,
    started_at: datetime | None = None,
    version: str = "1.0",
) -> Decision:
    """A proposal with its AI calls, written by `record_proposals` as the gateway does."""
    policy = deployment.policy_for(system.tenant_id, decision_type)
    status, output, _ = primary
    now = datetime.now(UTC)
    started_at = started_at or now
    decision = ai_proposal(
        system.tenant_id, policy, principal, system.name, version, status, output, now
    )
    calls = [call(system, decision, CallRole.PRIMARY, version, *primary, started_at)]
    if shadow is not None:
        calls.append(call(system, decision, CallRole.SHADOW, "2.0", *shadow, 50, started_at))
    event = proposed_event(decision, actor_of(principal)).canonical(decision.tenant_id, now, "")
    async with deployment.store.single_statement() as conn:
        inserted = await decisions.record_proposals(conn, [(decision, [event], calls)])
    assert inserted == {decision.id}
    return decision


async def decide(
    deployment: Deployment, principal: Principal, decision_id: uuid.UUID, verdict: str
) -> None:
    fields: dict[str, Any] = {"justification": "vu sur place"}
    if verdict == "amend":
        fields["amended_output"] = PROPRETE
    request = DecideIn.model_validate(
        {"decision_id": decision_id, "verdict": f"VERDICT_{verdict.upper()}", **fields}
    )
    await reviewing.decide(deployment, principal, request)


async def test_evaluation_and_usage_count_calls_against_the_human_decisions(
    deployment: Deployment, principals: dict[str, Principal]
) -> None:
    name = f"orienteur-{uuid.uuid4().hex[:8]}"
    system = new_system("ville-a", name)
    async with deployment.store.transaction() as conn:
        assert await registry.insert_system(conn, system)
    app, supervisor = principals["app-a"], principals["sup-a1"]
    start = datetime.now(UTC)
    for primary, shadow, verdict in CASES:
        d = await propose_with_calls(deployment, app, system, "voirie.signalement", primary, shadow)
        if verdict is not None:
            await decide(deployment, supervisor, d.id, verdict)
    # Outside the filters: another decision type, and a call from long ago.
    await propose_with_calls(
        deployment, app, system, "sans.amendement", primary=CASES[0][0], shadow=None
    )
    old = start - timedelta(days=30)
    await propose_with_calls(
        deployment,
        app,
        system,
        "voirie.signalement",
        CASES[0][0],
        None,
        started_at=old,
        version="0.9",
    )

    async with deployment.store.reading() as conn:
        found = await ai_usage.evaluate(
            conn, "ville-a", name, decision_type="voirie.signalement", since=start
        )
        every = await ai_usage.evaluate(conn, "ville-a", name)
        usage = await ai_usage.usage(conn, "ville-a", since=start)
        old_usage = await ai_usage.usage(conn, "ville-a", until=start)
        other_tenant = await ai_usage.evaluate(conn, "ville-b", name)
    primary, shadow = found
    assert (primary.model_version, primary.role, shadow.model_version, shadow.role) == (
        "1.0",
        "PRIMARY",
        "2.0",
        "SHADOW",
    )
    # Primary: 7 calls, 5 suggestions; decided 5, of which 3 released unchanged; 2 overridden
    # (amended, rejected). Latency over the 6 calls made (the stopped one aside).
    assert (primary.calls, primary.suggestions, primary.unavailable, primary.invalid_outputs) == (
        7,
        5,
        1,
        0,
    )
    assert (primary.decided, primary.agreed, primary.overridden) == (5, 3, 2)
    assert (primary.agreement_rate, primary.override_rate) == (0.6, 0.4)
    assert (primary.latency_p50_ms, primary.latency_p90_ms) == (350.0, 550.0)
    assert (primary.input_tokens, primary.output_tokens) == (500, 100)
    assert (primary.energy_mwh, primary.cost_micro_eur) == (5 * 3 + 2, 5 * 125 + 5)
    # Shadow: 5 calls, 4 suggestions, one invalid; of the 4 decided, 2 equal the outcome (one
    # approved as is, one amended to exactly its answer); overridden: the rejected decision
    # and the one whose outcome differs.
    assert (shadow.calls, shadow.suggestions, shadow.unavailable, shadow.invalid_outputs) == (
        5,
        4,
        0,
        1,
    )
    assert (shadow.decided, shadow.agreed, shadow.overridden) == (4, 2, 2)
    assert (shadow.agreement_rate, shadow.override_rate) == (0.5, 0.5)
    assert (shadow.latency_p50_ms, shadow.energy_mwh) == (50.0, 5 * 3)

    assert [(e.model_version, e.calls) for e in every] == [("0.9", 1), ("1.0", 8), ("2.0", 5)]
    assert other_tenant == []

    mine = [row for row in usage if row.ai_system == name]
    assert [(r.decision_type, r.model_version, r.role) for r in mine] == [
        ("sans.amendement", "1.0", "PRIMARY"),
        ("voirie.signalement", "1.0", "PRIMARY"),
        ("voirie.signalement", "2.0", "SHADOW"),
    ]
    _, voirie, voirie_shadow = mine
    assert (voirie.calls, voirie.failures, voirie.total_latency_ms) == (7, 2, 2100)
    assert (voirie.input_tokens, voirie.output_tokens) == (500, 100)
    assert (voirie.energy_mwh, voirie.cost_micro_eur) == (17, 630)
    assert (voirie_shadow.calls, voirie_shadow.failures, voirie_shadow.total_latency_ms) == (
        5,
        1,
        250,
    )
    assert [(r.model_version, r.calls) for r in old_usage if r.ai_system == name] == [("0.9", 1)]
