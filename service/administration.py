"""The Admin use cases of the registry: AI systems and model versions, the four-eyes change of
a pinned version (R18), and shadow versions (the kill switch and reports are in oversight.py).

Every change and its audit event commit together (I2); a call that changes nothing writes
nothing, not even an event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from aval.audit_store import pin_requests, registry, trail
from aval.audit_store.chain import NewEvent
from aval.audit_store.pin_requests import PinRequestRecord
from aval.audit_store.registry import CONFIGURATION, AISystemRecord, ModelVersionRecord

from .admin_requests import (
    DecidePinIn,
    ListPinRequestsIn,
    RegisterAISystemIn,
    RegisterModelVersionIn,
    RequestPinIn,
    SetShadowIn,
)
from .deployment import Deployment, utc_now
from .errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from .identity import Principal
from .proposals import actor_of
from .requests import TenantIn
from .telemetry import current_trace_id


@dataclass(frozen=True)
class RegisteredSystem:
    """An AI system with its registered versions, oldest first."""

    system: AISystemRecord
    versions: tuple[ModelVersionRecord, ...]


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


async def _with_versions(conn: AsyncConnection[Any], system: AISystemRecord) -> RegisteredSystem:
    versions = await registry.list_versions(conn, system.tenant_id, system.name)
    return RegisteredSystem(system, tuple(versions))


async def _require_version(
    conn: AsyncConnection[Any], system: AISystemRecord, version: str
) -> None:
    if await registry.get_version(conn, system.tenant_id, system.name, version) is None:
        raise FailedPrecondition(
            "MODEL_VERSION_NOT_REGISTERED", ai_system=system.name, version=version
        )


def _configuration(system: AISystemRecord) -> dict[str, Any]:
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


async def register_system(
    deployment: Deployment, principal: Principal, request: RegisterAISystemIn
) -> tuple[RegisteredSystem, bool]:
    """Registers an AI system, or updates its configuration; True when it was created.

    Raises:
        InvalidArgument: the request tries to change the pinned or shadow version.
        PermissionDenied: the caller may not administer the tenant.
    """
    fields = request.ai_system
    tenant = deployment.tenant_for(principal, fields.tenant, "admin.write")
    async with deployment.store.transaction() as conn:
        now = utc_now()
        current = await registry.get_system(conn, tenant, fields.name, for_update=True)
        _kept_versions(request, current)
        wanted = AISystemRecord(
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
        created = current is None and await registry.insert_system(conn, wanted)
        if created:
            changed, saved = list(CONFIGURATION), wanted
        else:
            # Registered before, or by a concurrent call between the read and the insert.
            current = current or await registered_system(conn, tenant, fields.name, for_update=True)
            changed = [n for n in CONFIGURATION if getattr(wanted, n) != getattr(current, n)]
            if not changed:
                return await _with_versions(conn, current), False
            updated = {name: getattr(wanted, name) for name in changed}
            saved = await registry.update_system(conn, replace(current, **updated, updated_at=now))
        data = {
            "ai_system": saved.name,
            "created": created,
            "changed": changed,
            "configuration": _configuration(saved),
            "reason": request.reason,
        }
        await append_event(conn, tenant, principal, "admin.ai_system_registered", data, now)
        return await _with_versions(conn, saved), created


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
        now = utc_now()
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
            return await _with_versions(conn, system)
        data = {
            "ai_system": system.name,
            "version": record.version,
            "intended_purpose": record.intended_purpose,
            "known_limits": list(record.known_limits),
            "accuracy_note": record.accuracy_note,
            "metrics": record.metrics,
        }
        await append_event(conn, tenant, principal, "admin.model_version_registered", data, now)
        return await _with_versions(conn, system)


async def request_pin(
    deployment: Deployment, principal: Principal, request: RequestPinIn
) -> PinRequestRecord:
    """Asks to pin a registered version; another administrator approves or refuses it.

    Raises:
        NotFound: the AI system is not registered.
        FailedPrecondition: the version is not registered, or is already the pinned one.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "admin.write")
    async with deployment.store.transaction() as conn:
        now = utc_now()
        system = await registered_system(conn, tenant, request.ai_system)
        await _require_version(conn, system, request.version)
        if system.pinned_version == request.version:
            raise FailedPrecondition(
                "ALREADY_PINNED", ai_system=system.name, version=request.version
            )
        record = PinRequestRecord(
            tenant_id=tenant,
            id=uuid.uuid4(),
            ai_system=system.name,
            version=request.version,
            reason=request.reason,
            requested_by=principal.id,
            requested_at=now,
            previous_version=system.pinned_version,
        )
        await pin_requests.insert_pin_request(conn, record)
        data = {
            "pin_request_id": str(record.id),
            "ai_system": system.name,
            "version": record.version,
            "previous_version": system.pinned_version,
            "reason": record.reason,
        }
        await append_event(conn, tenant, principal, "admin.pin_requested", data, now)
    return record


async def decide_pin(
    deployment: Deployment, principal: Principal, request: DecidePinIn
) -> tuple[PinRequestRecord, RegisteredSystem]:
    """Approves (the pinned version changes now) or refuses a pending pin request.

    Approving pins the version, marks the system's other pending requests SUPERSEDED, and stops
    the shadow if it ran that version (a version never runs in its own shadow).

    Raises:
        NotFound: no such pin request in the tenant.
        PermissionDenied: the caller made the request (four eyes).
        FailedPrecondition: the request is no longer pending.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "admin.write")
    request_id = request.pin_request_id
    async with deployment.store.transaction() as conn:
        now = utc_now()
        found = await pin_requests.get_pin_request(conn, tenant, request_id)
        if found is None:
            raise NotFound("PIN_REQUEST_NOT_FOUND", pin_request=request_id, tenant=tenant)
        # The system's row first: decisions on one system are serialised.
        system = await registered_system(conn, tenant, found.ai_system, for_update=True)
        pending = await pin_requests.get_pin_request(conn, tenant, request_id, for_update=True)
        assert pending is not None, "pin requests are never deleted"
        if pending.state != "PENDING":
            raise FailedPrecondition(
                "PIN_REQUEST_CLOSED", pin_request=request_id, state=pending.state
            )
        if pending.requested_by == principal.id:
            raise PermissionDenied(
                "PIN_REQUESTER_CANNOT_DECIDE", principal=principal.id, tenant=tenant
            )
        state = "APPROVED" if request.approve else "REFUSED"
        closed = await pin_requests.close_pin_request(
            conn,
            pending,
            state=state,
            decided_by=principal.id,
            decided_at=now,
            reason=request.reason,
        )
        data: dict[str, Any] = {
            "pin_request_id": str(pending.id),
            "ai_system": system.name,
            "version": pending.version,
            "requested_by": pending.requested_by,
            "reason": request.reason,
        }
        if request.approve:
            superseded = await pin_requests.supersede_pending(
                conn,
                tenant,
                system.name,
                approved=pending.id,
                decided_by=principal.id,
                decided_at=now,
            )
            shadow = None if system.shadow_version == pending.version else system.shadow_version
            data.update(
                previous_version=system.pinned_version,
                superseded=[str(i) for i in superseded],
                shadow_stopped=shadow != system.shadow_version,
            )
            system = await registry.update_system(
                conn,
                replace(
                    system, pinned_version=pending.version, shadow_version=shadow, updated_at=now
                ),
            )
        kind = "admin.pin_approved" if request.approve else "admin.pin_refused"
        await append_event(conn, tenant, principal, kind, data, now)
        return closed, await _with_versions(conn, system)


async def list_pins(
    deployment: Deployment, principal: Principal, request: ListPinRequestsIn
) -> list[PinRequestRecord]:
    """A tenant's pin requests, pending ones first."""
    tenant = deployment.tenant_for(principal, request.tenant, "admin.read")
    async with deployment.store.reading() as conn:
        return await pin_requests.list_pin_requests(conn, tenant, pending_only=request.pending_only)


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
        now = utc_now()
        system = await registered_system(conn, tenant, request.ai_system, for_update=True)
        if version is not None:
            await _require_version(conn, system, version)
            if version == system.pinned_version:
                raise FailedPrecondition("SHADOW_IS_PINNED", ai_system=system.name, version=version)
        if version == system.shadow_version:
            return await _with_versions(conn, system)
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
        return await _with_versions(conn, system)
