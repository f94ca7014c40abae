"""Four eyes on an AI system (R18): one administrator asks, another approves or refuses, the
requester never. A request either pins a registered version (RequestPin) or changes what the
pinned version answers (held by RegisterAISystem, administration.py).

Every step and its audit event commit together (I2).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from aval.audit_store import pin_requests, registry
from aval.audit_store.pin_requests import PinRequestRecord
from aval.audit_store.registry import AISystemRecord
from aval.service.ai.administration import (
    RegisteredSystem,
    append_event,
    change_data,
    changed,
    configuration,
    registered_system,
    require_version,
    with_versions,
)
from aval.service.deployment import Deployment
from aval.service.errors import FailedPrecondition, NotFound, PermissionDenied
from aval.service.identity import Principal
from aval.service.requests.admin import (
    DecidePinIn,
    ListPinRequestsIn,
    RequestPinIn,
    egress_violations,
)


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
        now = deployment.clock.now()
        system = await registered_system(conn, tenant, request.ai_system)
        await require_version(conn, system, request.version)
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


async def _still_allowed(deployment: Deployment, tenant: str, request: PinRequestRecord) -> None:
    """A configuration change is applied only if the egress file still allows what it asks
    (the operator may have narrowed it since the request).

    Raises:
        FailedPrecondition: naming the AI system and the fields that are no longer allowed.
    """
    async with deployment.store.reading() as conn:
        system = await registered_system(conn, tenant, request.ai_system)
    target = changed(system, request.changes)
    violations = await egress_violations(
        deployment.egress, tenant, target.kind, target.endpoint, target.api_key_env
    )
    if violations:
        fields = ", ".join(v.field.removeprefix("ai_system.") for v in violations)
        raise FailedPrecondition("CHANGE_NOT_ALLOWED", ai_system=system.name, fields=fields)


async def decide_pin(
    deployment: Deployment, principal: Principal, request: DecidePinIn
) -> tuple[PinRequestRecord, RegisteredSystem]:
    """Approves (the change applies now) or refuses a pending pin or configuration request.

    Approving a pin marks the system's other pending pin requests SUPERSEDED, and stops the
    shadow if it ran that version (a version never runs in its own shadow); approving a
    configuration change supersedes the system's other pending configuration changes.

    Raises:
        NotFound: no such request in the tenant.
        PermissionDenied: the caller made the request (four eyes).
        FailedPrecondition: the request is no longer pending, or asks for what the egress file
            no longer allows.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "admin.write")
    request_id = request.pin_request_id
    async with deployment.store.reading() as conn:
        asked = await pin_requests.get_pin_request(conn, tenant, request_id)
    if asked is None:
        raise NotFound("PIN_REQUEST_NOT_FOUND", pin_request=request_id, tenant=tenant)
    if asked.requested_by == principal.id:
        raise PermissionDenied("PIN_REQUESTER_CANNOT_DECIDE", principal=principal.id, tenant=tenant)
    if request.approve and asked.is_configuration and asked.state == "PENDING":
        await _still_allowed(deployment, tenant, asked)
    async with deployment.store.transaction() as conn:
        now = deployment.clock.now()
        # The system's row first: decisions on one system are serialised.
        system = await registered_system(conn, tenant, asked.ai_system, for_update=True)
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
        decide = _decide_change if pending.is_configuration else _decide_pin
        system, data, kind = await decide(conn, principal, system, pending, request, now)
        await append_event(conn, tenant, principal, kind, data, now)
        return closed, await with_versions(conn, system)


def _decided_data(
    system: AISystemRecord, pending: PinRequestRecord, request: DecidePinIn, **what: Any
) -> dict[str, Any]:
    """The event data of a decided request: which request, what it asked, who asked, why."""
    key = "change_request_id" if pending.is_configuration else "pin_request_id"
    return {
        key: str(pending.id),
        "ai_system": system.name,
        **what,
        "requested_by": pending.requested_by,
        "reason": request.reason,
    }


async def _supersede_others(
    conn: AsyncConnection[Any],
    principal: Principal,
    system: AISystemRecord,
    pending: PinRequestRecord,
    now: datetime,
) -> list[str]:
    """Supersedes the other pending requests of the same sort as the approved `pending`."""
    superseded = await pin_requests.supersede_pending(
        conn,
        system.tenant_id,
        system.name,
        approved=pending.id,
        decided_by=principal.id,
        decided_at=now,
        configuration=pending.is_configuration,
    )
    return [str(i) for i in superseded]


async def _decide_pin(
    conn: AsyncConnection[Any],
    principal: Principal,
    system: AISystemRecord,
    pending: PinRequestRecord,
    request: DecidePinIn,
    now: datetime,
) -> tuple[AISystemRecord, dict[str, Any], str]:
    data = _decided_data(system, pending, request, version=pending.version)
    if not request.approve:
        return system, data, "admin.pin_refused"
    superseded = await _supersede_others(conn, principal, system, pending, now)
    shadow = None if system.shadow_version == pending.version else system.shadow_version
    data.update(
        previous_version=system.pinned_version,
        superseded=superseded,
        shadow_stopped=shadow != system.shadow_version,
    )
    system = await registry.update_system(
        conn, replace(system, pinned_version=pending.version, shadow_version=shadow, updated_at=now)
    )
    return system, data, "admin.pin_approved"


async def _decide_change(
    conn: AsyncConnection[Any],
    principal: Principal,
    system: AISystemRecord,
    pending: PinRequestRecord,
    request: DecidePinIn,
    now: datetime,
) -> tuple[AISystemRecord, dict[str, Any], str]:
    data = _decided_data(system, pending, request, changes=change_data(pending.changes))
    if not request.approve:
        return system, data, "admin.ai_system_change_refused"
    superseded = await _supersede_others(conn, principal, system, pending, now)
    system = await registry.update_system(
        conn, replace(changed(system, pending.changes), updated_at=now)
    )
    data.update(superseded=superseded, configuration=configuration(system))
    return system, data, "admin.ai_system_change_approved"


async def list_pins(
    deployment: Deployment, principal: Principal, request: ListPinRequestsIn
) -> list[PinRequestRecord]:
    """A tenant's pin and configuration change requests, pending ones first."""
    tenant = deployment.tenant_for(principal, request.tenant, "admin.read")
    async with deployment.store.reading() as conn:
        return await pin_requests.list_pin_requests(conn, tenant, pending_only=request.pending_only)
