"""Propose: record a decision and its suggestion, held for human review (I1, I2, I4)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from aval.audit_store import decisions
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import (
    Actor,
    AdviceStatus,
    Decision,
    DecisionState,
    Suggestion,
)
from aval.policies import ReviewPolicy
from aval.service.decisions.advice import AdviceResult, check_attested_model, seek_advice
from aval.service.decisions.payloads import schema_violations, size_violations
from aval.service.deployment import Deployment
from aval.service.errors import AlreadyExists, FieldViolation, InvalidArgument
from aval.service.identity import Principal, actor_of
from aval.service.requests.decisions import ProposeIn
from aval.service.telemetry import current_trace_id
from aval.verifier.chain import canonical_json, sha256_hex, utc_iso


def _check_payloads(
    request: ProposeIn, policy: ReviewPolicy, input_bytes: bytes, limit: int
) -> None:
    """The input and the attested suggestion within the size limit, and the suggestion within
    the type's output schema: what a reviewer approves is what may be released."""
    violations = []
    if len(input_bytes) > limit:
        violations.append(FieldViolation("input", "TOO_LARGE", {"limit": limit}))
    suggestion = request.attested_suggestion
    if suggestion is not None:
        where = "attested_suggestion.output"
        too_large = size_violations(suggestion.output, where, limit)
        violations += too_large or schema_violations(policy, suggestion.output, where)
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


def _attested(request: ProposeIn) -> AdviceResult:
    attested = request.attested_suggestion
    if attested is None:
        return AdviceResult(AdviceStatus.NONE)
    suggestion = Suggestion(
        output=attested.output,
        confidence=attested.confidence,
        explanation=attested.explanation,
        model_name=attested.model.name,
        model_version=attested.model.version,
    )
    return AdviceResult(AdviceStatus.ATTESTED, suggestion=suggestion)


def _new_decision(
    tenant: str,
    request: ProposeIn,
    principal: Principal,
    policy: ReviewPolicy,
    input_bytes: bytes,
    decision_id: uuid.UUID,
    advice: AdviceResult,
    now: datetime,
) -> Decision:
    input_sha256 = hashlib.sha256(input_bytes).hexdigest()
    suggestion = advice.suggestion
    return Decision(
        tenant_id=tenant,
        id=decision_id,
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
        advice_status=advice.status,
        advice_detail=advice.detail,
        advice_reason=advice.reason,
        advice_params=advice.params,
    )


def proposed_event(d: Decision, actor: Actor) -> NewEvent:
    data = {
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
    }
    if d.advice_status is not AdviceStatus.ATTESTED:  # attested proposals keep their shape
        data["advice"] = {
            "status": d.advice_status.value,
            "reason": d.advice_reason,
            "detail": d.advice_detail,
        }
    return NewEvent(kind="decision.proposed", actor=actor, decision_id=d.id, data=data)


@dataclass(frozen=True)
class Proposed:
    decision: Decision
    replayed: bool


async def propose(deployment: Deployment, principal: Principal, request: ProposeIn) -> Proposed:
    """Records a proposal in PENDING_REVIEW with its audit event, in one transaction.

    A retry by the same caller with the same (tenant, idempotency key) and body returns the
    first decision. Keys belong to the caller who chose them: another caller's use of the same
    key is neither revealed nor returned (I4, I5).
    Without an attested suggestion, the AI system the decision type names is asked first
    (`advice.seek_advice`); whatever it does, the proposal is recorded.

    Raises:
        InvalidArgument: unknown decision type, a payload over the size limit, or an attested
            suggestion outside the type's output schema.
        PermissionDenied: the caller may not propose in that tenant, or it does not exist.
        AlreadyExists: the caller used the key with a different body (I4).
        FailedPrecondition: a high-risk type's attested suggestion comes from a model the
            tenant's registry does not pin.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "decision.propose")
    policy = deployment.policy_for(tenant, request.decision_type)
    input_bytes = canonical_json(request.input)
    _check_payloads(request, policy, input_bytes, deployment.settings.max_payload_bytes)
    decision_id = uuid.uuid4()
    if request.attested_suggestion is None and policy.ai_system is not None:
        # A retry must not ask the AI again: answer it from the first decision.
        replay = await _replay(deployment, tenant, principal, request, input_bytes)
        if replay is not None:
            return replay
        advice = await seek_advice(deployment, tenant, policy, request, decision_id)
    else:
        await check_attested_model(deployment, tenant, policy, request)
        advice = _attested(request)
    candidate = _new_decision(
        tenant, request, principal, policy, input_bytes, decision_id, advice, deployment.clock.now()
    )
    events = [proposed_event(candidate, actor_of(principal)), *advice.events(decision_id)]
    encoded = [e.canonical(tenant, candidate.created_at, candidate.trace_id) for e in events]
    if await deployment.writer.write(candidate, encoded, advice.calls):
        return Proposed(candidate, replayed=False)
    replay = await _replay(deployment, tenant, principal, request, input_bytes)
    if replay is None:  # the row that held the key is gone; rows are never deleted
        raise AlreadyExists("IDEMPOTENCY_KEY_REUSED", key=request.idempotency_key)
    return replay


async def _replay(
    deployment: Deployment,
    tenant: str,
    principal: Principal,
    request: ProposeIn,
    input_bytes: bytes,
) -> Proposed | None:
    """The first decision the caller recorded under the request's idempotency key, if any.

    Raises:
        AlreadyExists: the caller used the key with a different body (I4).
    """
    async with deployment.store.reading() as conn:
        first = await decisions.by_idempotency_key(
            conn, tenant, principal.id, request.idempotency_key
        )
    if first is None:
        return None
    if first.request_sha256 != _request_hash(request, hashlib.sha256(input_bytes).hexdigest()):
        raise AlreadyExists("IDEMPOTENCY_KEY_REUSED", key=request.idempotency_key)
    return Proposed(first, replayed=True)
