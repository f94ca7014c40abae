"""Propose: record a decision and its suggestion, held for human review (I1, I2, I4)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from aval.audit_store import decisions
from aval.audit_store.chain import NewEvent, canonical_json, sha256_hex, utc_iso
from aval.audit_store.records import (
    Actor,
    ActorType,
    AdviceStatus,
    Decision,
    DecisionState,
    Suggestion,
)
from aval.policies import ReviewPolicy

from .deployment import Deployment, utc_now
from .errors import AlreadyExists, FieldViolation, InvalidArgument
from .identity import Principal
from .requests import ProposeIn
from .telemetry import current_trace_id


def actor_of(principal: Principal) -> Actor:
    kind = ActorType.APPLICATION if principal.is_application else ActorType.HUMAN
    return Actor(id=principal.id, type=kind)


def _check_sizes(request: ProposeIn, input_bytes: bytes, limit: int) -> None:
    violations = []
    if len(input_bytes) > limit:
        violations.append(FieldViolation("input", "TOO_LARGE", {"limit": limit}))
    suggestion = request.attested_suggestion
    if suggestion is not None and len(canonical_json(suggestion.output)) > limit:
        violations.append(
            FieldViolation("attested_suggestion.output", "TOO_LARGE", {"limit": limit})
        )
    if violations:
        raise InvalidArgument(violations)


def _request_hash(request: ProposeIn, input_sha256: str) -> str:
    """What makes two proposals under one idempotency key the same proposal."""
    return sha256_hex(
        {
            "decision_type": request.decision_type,
            "subject_ref": request.subject_ref,
            "input_sha256": input_sha256,
            "suggestion": request.attested_suggestion.model_dump(mode="json")
            if request.attested_suggestion
            else None,
        }
    )


def _new_decision(
    tenant: str,
    request: ProposeIn,
    principal: Principal,
    policy: ReviewPolicy,
    input_bytes: bytes,
) -> Decision:
    now = utc_now()
    input_sha256 = hashlib.sha256(input_bytes).hexdigest()
    attested = request.attested_suggestion
    suggestion = (
        Suggestion(
            output=attested.output,
            confidence=attested.confidence,
            explanation=attested.explanation,
            model_name=attested.model.name,
            model_version=attested.model.version,
        )
        if attested
        else None
    )
    return Decision(
        tenant_id=tenant,
        id=uuid.uuid4(),
        decision_type=request.decision_type,
        subject_ref=request.subject_ref,
        state=DecisionState.PENDING_REVIEW,
        input=request.input,
        input_sha256=input_sha256,
        suggestion=suggestion,
        proposer_id=principal.id,
        idempotency_key=request.idempotency_key,
        request_sha256=_request_hash(request, input_sha256),
        policy_revision=policy.revision,
        required_approvals=policy.required_approvals,
        rejections_to_close=policy.rejections_to_close,
        created_at=now,
        updated_at=now,
        deadline=now + policy.deadline,
        pending_output=suggestion.output if suggestion else None,
        trace_id=current_trace_id(),
        advice_status=AdviceStatus.ATTESTED if suggestion else AdviceStatus.NONE,
    )


def proposed_event(d: Decision, actor: Actor) -> NewEvent:
    return NewEvent(
        kind="decision.proposed",
        actor=actor,
        decision_id=d.id,
        data={
            "decision_type": d.decision_type,
            "subject_ref": d.subject_ref,
            "input_sha256": d.input_sha256,
            "suggestion": d.suggestion.to_json() if d.suggestion else None,
            "idempotency_key": d.idempotency_key,
            "policy_revision": d.policy_revision,
            "required_approvals": d.required_approvals,
            "rejections_to_close": d.rejections_to_close,
            "deadline": utc_iso(d.deadline),
            "decision_state": d.state.value,
            "decision_version": d.version,
        },
    )


@dataclass(frozen=True)
class Proposed:
    decision: Decision
    replayed: bool


async def propose(deployment: Deployment, principal: Principal, request: ProposeIn) -> Proposed:
    """Records a proposal in PENDING_REVIEW with its audit event, in one transaction.

    A retry with the same (tenant, idempotency key) and body returns the first decision.

    Raises:
        InvalidArgument: unknown tenant or decision type, or a payload over the size limit.
        PermissionDenied: the caller may not propose in that tenant.
        AlreadyExists: the key was used with a different body (I4).
    """
    tenant = deployment.tenant_for(principal, request.tenant, "decision.propose")
    policy = deployment.policy_for(tenant, request.decision_type)
    input_bytes = canonical_json(request.input)
    _check_sizes(request, input_bytes, deployment.settings.max_payload_bytes)
    candidate = _new_decision(tenant, request, principal, policy, input_bytes)
    event = proposed_event(candidate, actor_of(principal))
    encoded = [event.canonical(tenant, candidate.created_at, candidate.trace_id)]
    if await deployment.writer.write(candidate, encoded):
        return Proposed(candidate, replayed=False)
    async with deployment.store.reading() as conn:
        first = await decisions.by_idempotency_key(conn, tenant, request.idempotency_key)
    if first is None or first.request_sha256 != candidate.request_sha256:
        # (None would mean the row that held the key is gone; rows are never deleted.)
        raise AlreadyExists("IDEMPOTENCY_KEY_REUSED", key=request.idempotency_key)
    return Proposed(first, replayed=True)
