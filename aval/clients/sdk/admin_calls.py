"""The requests of the Admin service, built once for both the blocking and the asyncio client.

Like :mod:`aval.clients.sdk.calls`: each public function here has the signature and docstring of
the client method of the same name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from aval.clients.sdk.calls import UnaryCall, _choice, _whole
from aval.clients.sdk.errors import FieldViolation, InvalidArgumentError
from aval.v1 import admin_pb2

BackendKindName = Literal["openai", "advisor"]
StopScopeName = Literal["tenant", "decision_type", "ai_system"]

_KINDS: dict[str, admin_pb2.BackendKind.ValueType] = {
    "openai": admin_pb2.BACKEND_KIND_OPENAI_COMPATIBLE,
    "advisor": admin_pb2.BACKEND_KIND_ADVISOR,
}
_SCOPES: dict[str, admin_pb2.StopScope.ValueType] = {
    "tenant": admin_pb2.STOP_SCOPE_TENANT,
    "decision_type": admin_pb2.STOP_SCOPE_DECISION_TYPE,
    "ai_system": admin_pb2.STOP_SCOPE_AI_SYSTEM,
}


def _ai_system_of(response: Any) -> admin_pb2.AISystem:
    system: admin_pb2.AISystem = response.ai_system
    return system


def register_ai_system(
    name: str,
    *,
    kind: BackendKindName,
    endpoint: str,
    reason: str,
    model: str = "",
    api_key_env: str = "",
    enabled: bool = True,
    timeout_seconds: float | None = None,
    max_attempts: int = 0,
    energy_mwh_per_call: int = 0,
    energy_mwh_per_1k_tokens: int = 0,
    cost_micro_eur_per_call: int = 0,
    cost_micro_eur_per_1k_tokens: int = 0,
    tenant: str = "",
) -> UnaryCall[admin_pb2.RegisterAISystemResponse]:
    """Registers an AI system, or updates its configuration (never its pinned version).

    On a system in service (a pinned version, or named by a review policy), a change of its
    kind, endpoint, model or api_key_env is held: the reply's ``pending_change`` is the request
    another administrator approves (``decide_pin``) before it applies.

    Args:
        name: The system's name, as review policies name it (e.g. ``orienteur-voirie``).
        kind: ``"openai"`` (an OpenAI-compatible API) or ``"advisor"`` (a gRPC Advisor).
        endpoint: Base URL of the API (``http://host:11434/v1``), or ``HOST:PORT`` of an Advisor;
            on the tenant's AI egress allow-list (the operator's ``AVAL_AI_EGRESS_FILE``).
        reason: Why, kept in the audit trail.
        model: The model name sent to an OpenAI-compatible API.
        api_key_env: Name of a secret the operator declared for the tenant, holding the API
            key (never an environment variable nor the key).
        enabled: False registers it disabled: no call reaches it.
        timeout_seconds: Deadline of one call; 10 s when omitted.
        max_attempts: Attempts per call, 1 to 5; 2 when 0.
        energy_mwh_per_call: Energy estimate of one call, in milliwatt-hours.
        energy_mwh_per_1k_tokens: Energy estimate per thousand tokens in and out.
        cost_micro_eur_per_call: Cost of one call, in millionths of a euro.
        cost_micro_eur_per_1k_tokens: Cost per thousand tokens in and out.
        tenant: The caller's tenant when empty.

    Returns:
        The system as registered, whether it was created (False: updated), and the pending
        change request when a change is held for a second administrator.

    Raises:
        InvalidArgumentError: A bad name or number, an endpoint or a secret the operator does
            not allow the tenant.
        PermissionDeniedError: The caller does not administer the tenant.
        AvalError: Any other refusal of the gateway.
    """
    system = admin_pb2.AISystem(
        tenant=tenant,
        name=name,
        kind=_choice(_KINDS, "kind", kind),
        endpoint=endpoint,
        model=model,
        api_key_env=api_key_env,
        enabled=enabled,
        max_attempts=max_attempts,
        energy_mwh_per_call=energy_mwh_per_call,
        energy_mwh_per_1k_tokens=energy_mwh_per_1k_tokens,
        cost_micro_eur_per_call=cost_micro_eur_per_call,
        cost_micro_eur_per_1k_tokens=cost_micro_eur_per_1k_tokens,
    )
    if timeout_seconds is not None:
        system.timeout.FromNanoseconds(round(timeout_seconds * 1_000_000_000))
    request = admin_pb2.RegisterAISystemRequest(ai_system=system, reason=reason)
    return UnaryCall("admin", "RegisterAISystem", request, _whole)


def list_ai_systems(*, tenant: str = "") -> UnaryCall[admin_pb2.ListAISystemsResponse]:
    """Lists a tenant's AI systems with their versions and instructions for use.

    Args:
        tenant: The caller's tenant when empty.

    Returns:
        The systems, by name.

    Raises:
        AvalError: The gateway refused the call.
    """
    request = admin_pb2.ListAISystemsRequest(tenant=tenant)
    return UnaryCall("admin", "ListAISystems", request, _whole)


def register_model_version(
    ai_system: str,
    version: str,
    *,
    intended_purpose: str,
    known_limits: Sequence[str] = (),
    accuracy_note: str = "",
    metrics: Mapping[str, float] | None = None,
    tenant: str = "",
) -> UnaryCall[admin_pb2.AISystem]:
    """Registers a model version with its instructions for use (AI Act art. 13).

    Args:
        ai_system: The registered AI system.
        version: The version's name, e.g. ``"2026.1"``.
        intended_purpose: What the version is meant for.
        known_limits: What it gets wrong; shown to reviewers with each suggestion.
        accuracy_note: Accuracy figures in words.
        metrics: Accuracy figures by name, e.g. ``{"accuracy": 0.91}``.
        tenant: The caller's tenant when empty.

    Returns:
        The AI system with its versions.

    Raises:
        InvalidArgumentError: A metric that is not a finite number, or a missing purpose.
        NotFoundError: The AI system is not registered.
        AlreadyExistsError: The version exists with other instructions.
        AvalError: Any other refusal of the gateway.
    """
    values = dict(metrics or {})
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if bad:
        raise InvalidArgumentError(
            "invalid metrics: numbers must be finite",
            violations=[
                FieldViolation(field=f"instructions.metrics.{n}", description="must be finite")
                for n in bad
            ],
        )
    request = admin_pb2.RegisterModelVersionRequest(
        tenant=tenant,
        ai_system=ai_system,
        version=version,
        instructions=admin_pb2.InstructionsForUse(
            intended_purpose=intended_purpose,
            known_limits=list(known_limits),
            accuracy_note=accuracy_note,
            metrics=values,
        ),
    )
    return UnaryCall("admin", "RegisterModelVersion", request, _ai_system_of)


def _pin_request_of(response: Any) -> admin_pb2.PinRequest:
    pin: admin_pb2.PinRequest = response.pin_request
    return pin


def request_pin(
    ai_system: str, version: str, *, reason: str, tenant: str = ""
) -> UnaryCall[admin_pb2.PinRequest]:
    """Asks to pin a registered version; another administrator must approve it.

    Args:
        ai_system: The registered AI system.
        version: A registered version of it.
        reason: Why, kept in the audit trail.
        tenant: The caller's tenant when empty.

    Returns:
        The pending request; its ``id`` is what the other administrator approves.

    Raises:
        NotFoundError: The AI system is not registered.
        FailedPreconditionError: The version is not registered, or already pinned.
        AvalError: Any other refusal of the gateway.
    """
    request = admin_pb2.RequestPinRequest(
        tenant=tenant, ai_system=ai_system, version=version, reason=reason
    )
    return UnaryCall("admin", "RequestPin", request, _pin_request_of)


def decide_pin(
    pin_request_id: str, *, approve: bool, reason: str, tenant: str = ""
) -> UnaryCall[admin_pb2.DecidePinResponse]:
    """Approves (the pinned version changes now) or refuses another administrator's request.

    Args:
        pin_request_id: The request's id.
        approve: True to approve, False to refuse.
        reason: Why, kept in the audit trail.
        tenant: The caller's tenant when empty.

    Returns:
        The closed request and the AI system after the decision.

    Raises:
        PermissionDeniedError: The caller made the request (four eyes).
        FailedPreconditionError: The request is no longer pending.
        NotFoundError: No such request.
        AvalError: Any other refusal of the gateway.
    """
    request = admin_pb2.DecidePinRequest(
        tenant=tenant, pin_request_id=pin_request_id, approve=approve, reason=reason
    )
    return UnaryCall("admin", "DecidePin", request, _whole)


def list_pin_requests(
    *, pending_only: bool = False, tenant: str = ""
) -> UnaryCall[admin_pb2.ListPinRequestsResponse]:
    """Lists pin requests, pending ones first.

    Args:
        pending_only: Only those awaiting a decision.
        tenant: The caller's tenant when empty.

    Returns:
        The requests.

    Raises:
        AvalError: The gateway refused the call.
    """
    request = admin_pb2.ListPinRequestsRequest(tenant=tenant, pending_only=pending_only)
    return UnaryCall("admin", "ListPinRequests", request, _whole)


def set_shadow(
    ai_system: str, version: str | None, *, reason: str, tenant: str = ""
) -> UnaryCall[admin_pb2.AISystem]:
    """Runs a candidate version in shadow beside the pinned one, or stops the shadow.

    Args:
        ai_system: The registered AI system.
        version: A registered version other than the pinned one; ``None`` stops the shadow.
        reason: Why, kept in the audit trail.
        tenant: The caller's tenant when empty.

    Returns:
        The AI system after the change.

    Raises:
        FailedPreconditionError: The version is not registered, or is the pinned one.
        AvalError: Any other refusal of the gateway.
    """
    request = admin_pb2.SetShadowRequest(
        tenant=tenant, ai_system=ai_system, version=version or "", reason=reason
    )
    return UnaryCall("admin", "SetShadow", request, _ai_system_of)


def stop_ai(
    scope: StopScopeName, target: str = "", *, reason: str, tenant: str = ""
) -> UnaryCall[admin_pb2.StopResponse]:
    """The kill switch: no call reaches the AI in the scope; proposals go to manual review.

    Args:
        scope: ``"tenant"`` (every AI system of the tenant), ``"decision_type"`` or
            ``"ai_system"``.
        target: The decision type or AI system; empty for ``"tenant"``.
        reason: Why, kept in the audit trail.
        tenant: The caller's tenant when empty.

    Returns:
        The stop in force, and whether this call made it (False: it was already stopped).

    Raises:
        InvalidArgumentError: A target the scope does not take, or that names nothing known.
        AvalError: Any other refusal of the gateway.
    """
    request = admin_pb2.StopRequest(
        tenant=tenant, scope=_choice(_SCOPES, "scope", scope), target=target, reason=reason
    )
    return UnaryCall("admin", "Stop", request, _whole)


def _resumed(response: Any) -> bool:
    return bool(response.resumed)


def resume_ai(
    scope: StopScopeName, target: str = "", *, reason: str, tenant: str = ""
) -> UnaryCall[bool]:
    """Lifts a stop of the kill switch.

    Args:
        scope: As in :func:`stop_ai`.
        target: As in :func:`stop_ai`.
        reason: Why, kept in the audit trail.
        tenant: The caller's tenant when empty.

    Returns:
        True when a stop was lifted, False when that scope was not stopped.

    Raises:
        AvalError: The gateway refused the call.
    """
    request = admin_pb2.ResumeRequest(
        tenant=tenant, scope=_choice(_SCOPES, "scope", scope), target=target, reason=reason
    )
    return UnaryCall("admin", "Resume", request, _resumed)


def list_stops(*, tenant: str = "") -> UnaryCall[admin_pb2.ListStopsResponse]:
    """Lists the stops of the kill switch in force, broadest first.

    Args:
        tenant: The caller's tenant when empty.

    Returns:
        The stops.

    Raises:
        AvalError: The gateway refused the call.
    """
    request = admin_pb2.ListStopsRequest(tenant=tenant)
    return UnaryCall("admin", "ListStops", request, _whole)


def evaluate(
    ai_system: str, *, decision_type: str = "", since: datetime | None = None, tenant: str = ""
) -> UnaryCall[admin_pb2.EvaluateResponse]:
    """Per model version (pinned and shadow): agreement with the final human decisions,
    override rate, latency, tokens, energy and cost.

    Args:
        ai_system: The registered AI system.
        decision_type: Only calls for this decision type when set.
        since: Only calls made at or after this time (timezone-aware).
        tenant: The caller's tenant when empty.

    Returns:
        One row per version and role, the pinned (primary) role first.

    Raises:
        NotFoundError: The AI system is not registered.
        AvalError: Any other refusal of the gateway.
    """
    request = admin_pb2.EvaluateRequest(
        tenant=tenant, ai_system=ai_system, decision_type=decision_type
    )
    if since is not None:
        request.since.FromDatetime(since)
    return UnaryCall("admin", "Evaluate", request, _whole)


def get_usage(
    *, since: datetime | None = None, until: datetime | None = None, tenant: str = ""
) -> UnaryCall[admin_pb2.GetUsageResponse]:
    """AI calls, failures, tokens, time, estimated energy and cost per decision type, AI
    system, model version and role.

    Args:
        since: Only calls made at or after this time (timezone-aware).
        until: Only calls made before this time (timezone-aware).
        tenant: The caller's tenant when empty.

    Returns:
        The rows.

    Raises:
        AvalError: The gateway refused the call.
    """
    request = admin_pb2.GetUsageRequest(tenant=tenant)
    if since is not None:
        request.since.FromDatetime(since)
    if until is not None:
        request.until.FromDatetime(until)
    return UnaryCall("admin", "GetUsage", request, _whole)
