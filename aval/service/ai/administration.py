"""The Admin use cases of the registry: AI systems and model versions, and shadow versions (the
four-eyes requests are in change_requests.py, the kill switch and reports in oversight.py).

Every change and its audit event commit together (I2); a call that changes nothing writes
nothing, not even an event. On a system in service, a change of what it answers is held as a
pending request for another administrator (four eyes, R18), as a new pinned version is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from aval.audit_store import pin_requests, registry, trail
from aval.audit_store.chain import NewEvent
from aval.audit_store.pin_requests import FieldChange, PinRequestRecord
from aval.audit_store.registry import CONFIGURATION, AISystemRecord, ModelVersionRecord
from aval.service.deployment import Deployment
from aval.service.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from aval.service.identity import Principal, actor_of
from aval.service.requests import TenantIn
from aval.service.requests.admin import (
    RegisterAISystemIn,
    RegisterModelVersionIn,
    SetShadowIn,
    egress_violations,
)
from aval.service.telemetry import current_trace_id

# The fields whose change alters what an AI system answers: on a system in service it needs a
# second administrator's approval, as a new pinned version does (R18). The others change
# whether or when an answer comes (timeout, attempts: a missing answer is flagged and a person
# decides alone), or what is reported (energy, cost); disabling is a safety stop, and enabling
# again returns to what two administrators approved.
ANSWERING = ("kind", "endpoint", "model", "api_key_env")


@dataclass(frozen=True)
class RegisteredSystem:
    """An AI system with its registered versions, oldest first."""

    system: AISystemRecord
    versions: tuple[ModelVersionRecord, ...]


@dataclass(frozen=True)
class Registration:
    """What RegisterAISystem did: the system as it is now, whether it was created, and the
    pending request that holds a change of what it answers, if any."""

    registered: RegisteredSystem
    created: bool
    pending: PinRequestRecord | None = None


async def append_event(
    conn: AsyncConnection[Any],
    tenant: str,
    principal: Principal,
    kind: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    """Appends the audit event of an administrator's act, which names no decision."""
    event = NewEvent(kind, actor_of(principal), None, data)
    await trail.append_events(conn, tenant, [event], occurred_at=now, trace_id=current_trace_id())


async def registered_system(
    conn: AsyncConnection[Any], tenant: str, name: str, *, for_update: bool = False
) -> AISystemRecord:
    """The registered AI system of that name.

    Raises:
        NotFound: no AI system of that name in the tenant.
    """
    system = await registry.get_system(conn, tenant, name, for_update=for_update)
    if system is None:
        raise NotFound("AI_SYSTEM_NOT_FOUND", ai_system=name, tenant=tenant)
    return system


async def with_versions(conn: AsyncConnection[Any], system: AISystemRecord) -> RegisteredSystem:
    """The system with its registered versions, read on `conn`."""
    versions = await registry.list_versions(conn, system.tenant_id, system.name)
    return RegisteredSystem(system, tuple(versions))


async def require_version(conn: AsyncConnection[Any], system: AISystemRecord, version: str) -> None:
    if await registry.get_version(conn, system.tenant_id, system.name, version) is None:
        raise FailedPrecondition(
            "MODEL_VERSION_NOT_REGISTERED", ai_system=system.name, version=version
        )


def configuration(system: AISystemRecord) -> dict[str, Any]:
    """The registered configuration of a system, as the trail records it."""
    return {name: getattr(system, name) for name in CONFIGURATION}


def _kept_versions(request: RegisterAISystemIn, current: AISystemRecord | None) -> None:
    """Registration never moves the pinned or shadow version; echoing the current one is fine."""
    fields = request.ai_system
    violations = []
    if fields.pinned_version and fields.pinned_version != (current and current.pinned_version):
        violations.append(FieldViolation("ai_system.pinned_version", "PIN_BY_REQUEST"))
    if fields.shadow_version and fields.shadow_version != (current and current.shadow_version):
        violations.append(FieldViolation("ai_system.shadow_version", "SHADOW_BY_SET_SHADOW"))
    if violations:
        raise InvalidArgument(violations)


def in_service(deployment: Deployment, system: AISystemRecord) -> bool:
    """Whether a system's answers reach reviewers: it has a pinned version, or a review policy
    of its tenant names it."""
    if system.pinned_version is not None:
        return True
    policies = deployment.policies
    for decision_type in policies.decision_types(system.tenant_id):
        policy = policies.get(system.tenant_id, decision_type)
        if policy is not None and policy.ai_system == system.name:
            return True
    return False


def _wanted(tenant: str, request: RegisterAISystemIn, now: datetime) -> AISystemRecord:
    fields = request.ai_system
    return AISystemRecord(
        tenant_id=tenant,
        name=fields.name,
        kind=fields.backend_kind,
        endpoint=fields.endpoint,
        model=fields.model,
        api_key_env=fields.api_key_env,
        pinned_version=None,
        shadow_version=None,
        enabled=fields.enabled,
        timeout_ms=fields.timeout_ms,
        max_attempts=fields.attempts,
        energy_mwh_per_1k_tokens=fields.energy_mwh_per_1k_tokens,
        energy_mwh_per_call=fields.energy_mwh_per_call,
        cost_micro_eur_per_1k_tokens=fields.cost_micro_eur_per_1k_tokens,
        cost_micro_eur_per_call=fields.cost_micro_eur_per_call,
        created_at=now,
        updated_at=now,
    )


async def register_system(
    deployment: Deployment, principal: Principal, request: RegisterAISystemIn
) -> Registration:
    """Registers an AI system, or updates its configuration.

    On a system in service (`in_service`), a change of the ANSWERING fields is not applied: it
    becomes a pending configuration change request, which another administrator approves or
    refuses (change_requests.decide_pin); the other fields change at once.

    Raises:
        InvalidArgument: the request tries to change the pinned or shadow version, or names an
            endpoint or a secret the operator's egress file does not allow the tenant.
        PermissionDenied: the caller may not administer the tenant.
    """
    fields = request.ai_system
    tenant = deployment.tenant_for(principal, fields.tenant, "admin.write")
    violations = await egress_violations(
        deployment.egress, tenant, fields.backend_kind, fields.endpoint, fields.api_key_env
    )
    if violations:
        raise InvalidArgument(violations)
    async with deployment.store.transaction() as conn:
        now = deployment.clock.now()
        current = await registry.get_system(conn, tenant, fields.name, for_update=True)
        _kept_versions(request, current)
        wanted = _wanted(tenant, request, now)
        if current is None and await registry.insert_system(conn, wanted):
            await _registered(
                conn, principal, wanted, list(CONFIGURATION), request.reason, now, created=True
            )
            return Registration(await with_versions(conn, wanted), created=True)
        # Registered before, or by a concurrent call between the read and the insert.
        current = current or await registered_system(conn, tenant, fields.name, for_update=True)
        changed = [n for n in CONFIGURATION if getattr(wanted, n) != getattr(current, n)]
        held = [n for n in changed if n in ANSWERING] if in_service(deployment, current) else []
        direct = [n for n in changed if n not in held]
        saved = current
        if direct:
            updated = {name: getattr(wanted, name) for name in direct}
            saved = await registry.update_system(conn, replace(current, **updated, updated_at=now))
            superseded: list[uuid.UUID] = []
            if any(name in ANSWERING for name in direct):
                # What a pending change was asked against is gone.
                superseded = await pin_requests.supersede_pending(
                    conn,
                    tenant,
                    saved.name,
                    approved=None,
                    decided_by=principal.id,
                    decided_at=now,
                    configuration=True,
                )
            await _registered(
                conn, principal, saved, direct, request.reason, now, superseded=superseded
            )
        pending = None
        if held:
            pending = await _hold(conn, principal, saved, wanted, held, request.reason, now)
        return Registration(await with_versions(conn, saved), created=False, pending=pending)


async def _registered(
    conn: AsyncConnection[Any],
    principal: Principal,
    saved: AISystemRecord,
    changed: list[str],
    reason: str,
    now: datetime,
    *,
    created: bool = False,
    superseded: list[uuid.UUID] | None = None,
) -> None:
    data: dict[str, Any] = {
        "ai_system": saved.name,
        "created": created,
        "changed": changed,
        "configuration": configuration(saved),
        "reason": reason,
    }
    if superseded:
        data["superseded"] = [str(i) for i in superseded]
    await append_event(conn, saved.tenant_id, principal, "admin.ai_system_registered", data, now)


def changed(system: AISystemRecord, changes: tuple[FieldChange, ...]) -> AISystemRecord:
    """`system` with a configuration change request's values (the ANSWERING fields)."""
    values = {c.field: c.value for c in changes}
    return replace(
        system,
        kind=values.get("kind", system.kind),
        endpoint=values.get("endpoint", system.endpoint),
        model=values.get("model", system.model),
        api_key_env=values.get("api_key_env", system.api_key_env),
    )


def change_data(changes: tuple[FieldChange, ...]) -> list[dict[str, str]]:
    """The changes of a configuration change request, as the trail records them."""
    return [{"field": c.field, "previous": c.previous, "value": c.value} for c in changes]


async def _hold(
    conn: AsyncConnection[Any],
    principal: Principal,
    current: AISystemRecord,
    wanted: AISystemRecord,
    held: list[str],
    reason: str,
    now: datetime,
) -> PinRequestRecord:
    """The pending request that holds a change of what `current` answers: a new one, or the
    same request the caller already made (nothing new to approve, nothing written)."""
    changes = tuple(
        FieldChange(name, str(getattr(current, name)), str(getattr(wanted, name))) for name in held
    )
    tenant = current.tenant_id
    for found in await pin_requests.list_pin_requests(conn, tenant, pending_only=True):
        if (found.ai_system, found.requested_by, found.changes) == (
            current.name,
            principal.id,
            changes,
        ):
            return found
    record = PinRequestRecord(
        tenant_id=tenant,
        id=uuid.uuid4(),
        ai_system=current.name,
        version="",
        reason=reason,
        requested_by=principal.id,
        requested_at=now,
        previous_version=current.pinned_version,
        changes=changes,
    )
    await pin_requests.insert_pin_request(conn, record)
    data = {
        "change_request_id": str(record.id),
        "ai_system": current.name,
        "changes": change_data(changes),
        "pinned_version": current.pinned_version,
        "reason": reason,
    }
    await append_event(conn, tenant, principal, "admin.ai_system_change_requested", data, now)
    return record


async def list_systems(
    deployment: Deployment, principal: Principal, request: TenantIn
) -> list[RegisteredSystem]:
    """A tenant's AI systems by name, each with its versions."""
    tenant = deployment.tenant_for(principal, request.tenant, "admin.read")
    async with deployment.store.reading() as conn:
        systems = await registry.list_systems(conn, tenant)
        versions = await registry.list_versions(conn, tenant)
    return [
        RegisteredSystem(s, tuple(v for v in versions if v.ai_system == s.name)) for s in systems
    ]


async def register_version(
    deployment: Deployment, principal: Principal, request: RegisterModelVersionIn
) -> RegisteredSystem:
    """Registers a model version with its instructions for use; registering it again with the
    same instructions changes nothing.

    Raises:
        NotFound: the AI system is not registered.
        AlreadyExists: the version is registered with other instructions (they never change).
    """
    tenant = deployment.tenant_for(principal, request.tenant, "admin.write")
    instructions = request.instructions
    async with deployment.store.transaction() as conn:
        now = deployment.clock.now()
        system = await registered_system(conn, tenant, request.ai_system)
        record = ModelVersionRecord(
            ai_system=system.name,
            version=request.version,
            intended_purpose=instructions.intended_purpose,
            known_limits=tuple(instructions.known_limits),
            accuracy_note=instructions.accuracy_note,
            metrics=dict(instructions.metrics),
            registered_by=principal.id,
            registered_at=now,
        )
        if not await registry.insert_version(conn, tenant, record):
            existing = await registry.get_version(conn, tenant, system.name, request.version)
            same = ("intended_purpose", "known_limits", "accuracy_note", "metrics")
            if existing is None or any(getattr(existing, n) != getattr(record, n) for n in same):
                raise AlreadyExists(
                    "MODEL_VERSION_EXISTS", ai_system=system.name, version=request.version
                )
            return await with_versions(conn, system)
        data = {
            "ai_system": system.name,
            "version": record.version,
            "intended_purpose": record.intended_purpose,
            "known_limits": list(record.known_limits),
            "accuracy_note": record.accuracy_note,
            "metrics": record.metrics,
        }
        await append_event(conn, tenant, principal, "admin.model_version_registered", data, now)
        return await with_versions(conn, system)


async def set_shadow(
    deployment: Deployment, principal: Principal, request: SetShadowIn
) -> RegisteredSystem:
    """Runs a registered candidate version in shadow beside the pinned one (its suggestions are
    only recorded), or stops the shadow when the version is empty.

    Raises:
        NotFound: the AI system is not registered.
        FailedPrecondition: the version is not registered, or is the pinned one.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "admin.write")
    version = request.version or None
    async with deployment.store.transaction() as conn:
        now = deployment.clock.now()
        system = await registered_system(conn, tenant, request.ai_system, for_update=True)
        if version is not None:
            await require_version(conn, system, version)
            if version == system.pinned_version:
                raise FailedPrecondition("SHADOW_IS_PINNED", ai_system=system.name, version=version)
        if version == system.shadow_version:
            return await with_versions(conn, system)
        data = {
            "ai_system": system.name,
            "version": version,
            "previous_version": system.shadow_version,
            "reason": request.reason,
        }
        system = await registry.update_system(
            conn, replace(system, shadow_version=version, updated_at=now)
        )
        await append_event(conn, tenant, principal, "admin.shadow_set", data, now)
        return await with_versions(conn, system)
