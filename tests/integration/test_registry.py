"""The registry's store on real PostgreSQL: records, the advice plan under every stop scope, pin
requests, and energy and cost."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from aval.audit_store import pin_requests, registry
from aval.audit_store.pin_requests import PinRequestRecord
from aval.audit_store.registry import AISystemRecord, StopRecord
from aval.service.deployment import Deployment

from .registry_records import NOW, new_system, new_version


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
