"""Evaluation and usage on real PostgreSQL, over AI calls written with their proposals and the
human decisions taken on them."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aval.audit_store import ai_usage, decisions, registry
from aval.audit_store.records import (
    AdviceStatus,
    AICall,
    CallRole,
    Decision,
)
from aval.audit_store.registry import CONFIGURATION, AISystemRecord
from aval.service.ai import administration
from aval.service.decisions import reviewing
from aval.service.decisions.advice import AdviceResult
from aval.service.decisions.proposals import proposed_event
from aval.service.deployment import Deployment
from aval.service.identity import Principal, actor_of
from aval.service.requests.admin import RegisterAISystemIn
from aval.service.requests.decisions import DecideIn
from tests.in_process import ai_proposal
from tests.support import loopback_egress

from .registry_records import new_system

# Each case: the primary call (status, output, latency), the shadow's
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
    """A proposal with its AI calls and their events, written by `record_proposals` as the
    gateway does."""
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
    # The proposal and one ai.consulted event per call, as the gateway writes them (I2).
    consulted = AdviceResult(decision.advice_status, calls=tuple(calls)).events(decision.id)
    made = [proposed_event(decision, actor_of(principal)), *consulted]
    events = [e.canonical(decision.tenant_id, now, "") for e in made]
    async with deployment.store.single_statement() as conn:
        inserted = await decisions.record_proposals(conn, [(decision, events, calls)])
    assert inserted == {decision.id}
    return decision


async def register(
    deployment: Deployment, admin: Principal, system: AISystemRecord
) -> AISystemRecord:
    """`system` registered by `admin` as RegisterAISystem does it, with its audit event (the
    trail's verification compares the registry with its events)."""
    fields = {name: getattr(system, name) for name in CONFIGURATION if name != "kind"}
    fields |= {"name": system.name, "kind": f"BACKEND_KIND_{system.kind}"}
    fields["timeout"] = timedelta(milliseconds=fields.pop("timeout_ms"))
    request = RegisterAISystemIn.model_validate({"ai_system": fields, "reason": "essai"})
    allowed = dataclasses.replace(deployment, egress=loopback_egress())
    return (await administration.register_system(allowed, admin, request)).registered.system


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
    system = await register(deployment, principals["admin-a"], new_system("ville-a", name))
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
