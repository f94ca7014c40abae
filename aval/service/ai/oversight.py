"""The kill switch (R9) and the reports on AI calls: evaluation of versions, usage and cost.

A stop is a row that every proposal reads when it asks the AI, so it takes effect on every
replica at once; stopping and resuming are audit events of the tenant (I2).
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from aval.audit_store import ai_usage, registry
from aval.audit_store.ai_usage import UsageRow, VersionEvaluation
from aval.audit_store.registry import StopRecord
from aval.service.ai.administration import append_event, registered_system
from aval.service.deployment import Deployment
from aval.service.errors import FieldViolation, InvalidArgument
from aval.service.identity import Principal
from aval.service.requests import TenantIn
from aval.service.requests.admin import EvaluateIn, StopIn, UsageIn
from aval.verifier.chain import utc_iso


def _target_shape(request: StopIn) -> None:
    """A tenant-wide stop names no target; the others must."""
    if request.scope_name == "TENANT" and request.target:
        raise InvalidArgument([FieldViolation("target", "TARGET_NOT_ALLOWED")])
    if request.scope_name != "TENANT" and not request.target:
        raise InvalidArgument([FieldViolation("target", "REQUIRED")])


async def _check_target(
    deployment: Deployment, conn: AsyncConnection[Any], tenant: str, request: StopIn
) -> None:
    """A stop names a decision type of the tenant's policies or a registered AI system, so that
    a typo never leaves the AI running while the administrator believes it stopped."""
    target = request.target
    if request.scope_name == "DECISION_TYPE" and deployment.policies.get(tenant, target) is None:
        known = ", ".join(deployment.policies.decision_types(tenant)) or "none"
        params = {"decision_type": target, "tenant": tenant, "known": known}
        raise InvalidArgument([FieldViolation("target", "UNKNOWN_DECISION_TYPE", params)])
    if (
        request.scope_name == "AI_SYSTEM"
        and await registry.get_system(conn, tenant, target) is None
    ):
        known = ", ".join(s.name for s in await registry.list_systems(conn, tenant)) or "none"
        params = {"ai_system": target, "tenant": tenant, "known": known}
        raise InvalidArgument([FieldViolation("target", "UNKNOWN_AI_SYSTEM", params)])


async def stop(
    deployment: Deployment, principal: Principal, request: StopIn
) -> tuple[StopRecord, bool]:
    """Stops the AI for a tenant, a decision type or an AI system; True when newly stopped.

    A scope already stopped keeps its first stop (and nothing is written).

    Raises:
        InvalidArgument: a target that the scope does not take, or that names nothing known.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "admin.write")
    _target_shape(request)
    async with deployment.store.transaction() as conn:
        await _check_target(deployment, conn, tenant, request)
        now = deployment.clock.now()
        wanted = StopRecord(
            tenant_id=tenant,
            scope=request.scope_name,
            target=request.target,
            reason=request.reason,
            stopped_by=principal.id,
            stopped_at=now,
        )
        in_force, created = await registry.insert_stop(conn, wanted)
        if created:
            data = {"scope": in_force.scope, "target": in_force.target, "reason": request.reason}
            await append_event(conn, tenant, principal, "admin.ai_stopped", data, now)
    return in_force, created


async def resume(deployment: Deployment, principal: Principal, request: StopIn) -> bool:
    """Lifts the stop of a scope; False (and nothing written) when it was not stopped."""
    tenant = deployment.tenant_for(principal, request.tenant, "admin.write")
    _target_shape(request)
    async with deployment.store.transaction() as conn:
        now = deployment.clock.now()
        lifted = await registry.delete_stop(conn, tenant, request.scope_name, request.target)
        if lifted is None:
            return False
        data = {
            "scope": lifted.scope,
            "target": lifted.target,
            "reason": request.reason,
            "stopped_by": lifted.stopped_by,
            "stopped_at": utc_iso(lifted.stopped_at),
            "stop_reason": lifted.reason,
        }
        await append_event(conn, tenant, principal, "admin.ai_resumed", data, now)
    return True


async def list_stops(
    deployment: Deployment, principal: Principal, request: TenantIn
) -> list[StopRecord]:
    """The stops in force in a tenant, broadest first."""
    tenant = deployment.tenant_for(principal, request.tenant, "admin.read")
    async with deployment.store.reading() as conn:
        return await registry.list_stops(conn, tenant)


async def evaluate(
    deployment: Deployment, principal: Principal, request: EvaluateIn
) -> list[VersionEvaluation]:
    """Per version of an AI system (pinned and shadow), agreement with the final human
    decisions, override rate, latency, tokens, energy and cost.

    Raises:
        NotFound: the AI system is not registered.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "admin.usage")
    async with deployment.store.reading() as conn:
        system = await registered_system(conn, tenant, request.ai_system)
        return await ai_usage.evaluate(
            conn,
            tenant,
            system.name,
            decision_type=request.decision_type,
            since=request.since,
        )


async def usage(
    deployment: Deployment, principal: Principal, request: UsageIn
) -> tuple[str, list[UsageRow]]:
    """The tenant, and its AI calls per decision type, AI system, model version and role."""
    tenant = deployment.tenant_for(principal, request.tenant, "admin.usage")
    async with deployment.store.reading() as conn:
        return tenant, await ai_usage.usage(conn, tenant, since=request.since, until=request.until)
