"""Records to wire messages (aval.v1), for every service: the only place where they are made."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2

from aval.audit_store.ai_usage import UsageRow, VersionEvaluation
from aval.audit_store.checkpoints import CheckpointRecord
from aval.audit_store.pin_requests import PinRequestRecord
from aval.audit_store.records import Decision, Review
from aval.audit_store.registry import ModelVersionRecord, StopRecord
from aval.audit_store.webhook_outbox import OutboxEntry
from aval.policies import PolicyBook
from aval.service.ai.administration import RegisteredSystem
from aval.service.decisions.advice_texts import render
from aval.service.decisions.review_modes import WithheldDecision
from aval.v1 import admin_pb2, audit_pb2, common_pb2
from aval.verifier.events import AuditEvent


def struct(value: dict[str, Any] | None) -> struct_pb2.Struct | None:
    if value is None:
        return None
    message = struct_pb2.Struct()
    message.update(value)
    return message


def timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment)
    return message


def _milliseconds(value: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(value * 1_000_000))
    return duration


def _version(v: ModelVersionRecord) -> admin_pb2.ModelVersion:
    return admin_pb2.ModelVersion(
        version=v.version,
        instructions=admin_pb2.InstructionsForUse(
            intended_purpose=v.intended_purpose,
            known_limits=list(v.known_limits),
            accuracy_note=v.accuracy_note,
            metrics=v.metrics,
        ),
        registered_by=v.registered_by,
        registered_at=timestamp(v.registered_at),
    )


def ai_system(registered: RegisteredSystem) -> admin_pb2.AISystem:
    """The wire form of an AI system with its versions."""
    s = registered.system
    return admin_pb2.AISystem(
        tenant=s.tenant_id,
        name=s.name,
        kind=admin_pb2.BackendKind.Value(f"BACKEND_KIND_{s.kind}"),
        endpoint=s.endpoint,
        model=s.model,
        api_key_env=s.api_key_env,
        pinned_version=s.pinned_version or "",
        shadow_version=s.shadow_version or "",
        enabled=s.enabled,
        timeout=_milliseconds(s.timeout_ms),
        max_attempts=s.max_attempts,
        energy_mwh_per_1k_tokens=s.energy_mwh_per_1k_tokens,
        energy_mwh_per_call=s.energy_mwh_per_call,
        cost_micro_eur_per_1k_tokens=s.cost_micro_eur_per_1k_tokens,
        cost_micro_eur_per_call=s.cost_micro_eur_per_call,
        versions=[_version(v) for v in registered.versions],
        created_at=timestamp(s.created_at),
        updated_at=timestamp(s.updated_at),
    )


def _wire_value(field: str, value: str) -> str:
    return f"BACKEND_KIND_{value}" if field == "kind" else value


def pin_request(r: PinRequestRecord) -> admin_pb2.PinRequest:
    """The wire form of a pin request or configuration change request."""
    return admin_pb2.PinRequest(
        tenant=r.tenant_id,
        id=str(r.id),
        ai_system=r.ai_system,
        version=r.version,
        reason=r.reason,
        requested_by=r.requested_by,
        requested_at=timestamp(r.requested_at),
        state=admin_pb2.PinRequestState.Value(f"PIN_REQUEST_STATE_{r.state}"),
        decided_by=r.decided_by or "",
        decided_at=timestamp(r.decided_at),
        decision_reason=r.decision_reason,
        previous_version=r.previous_version or "",
        configuration_changes=[
            admin_pb2.ConfigurationChange(
                field=c.field,
                previous=_wire_value(c.field, c.previous),
                value=_wire_value(c.field, c.value),
            )
            for c in r.changes
        ],
    )


def ai_stop(s: StopRecord) -> admin_pb2.AIStop:
    """The wire form of a stop in force."""
    return admin_pb2.AIStop(
        tenant=s.tenant_id,
        scope=admin_pb2.StopScope.Value(f"STOP_SCOPE_{s.scope}"),
        target=s.target,
        reason=s.reason,
        stopped_by=s.stopped_by,
        stopped_at=timestamp(s.stopped_at),
    )


def _role(name: str) -> admin_pb2.CallRole.ValueType:
    return admin_pb2.CallRole.Value(f"CALL_ROLE_{name}")


def version_evaluation(e: VersionEvaluation) -> admin_pb2.VersionEvaluation:
    return admin_pb2.VersionEvaluation(
        model_version=e.model_version,
        role=_role(e.role),
        calls=e.calls,
        suggestions=e.suggestions,
        unavailable=e.unavailable,
        invalid_outputs=e.invalid_outputs,
        decided=e.decided,
        agreed=e.agreed,
        agreement_rate=e.agreement_rate,
        override_rate=e.override_rate,
        latency_p50=_milliseconds(e.latency_p50_ms),
        latency_p90=_milliseconds(e.latency_p90_ms),
        input_tokens=e.input_tokens,
        output_tokens=e.output_tokens,
        energy_mwh=e.energy_mwh,
        cost_micro_eur=e.cost_micro_eur,
    )


def usage_row(tenant: str, u: UsageRow) -> admin_pb2.UsageRow:
    return admin_pb2.UsageRow(
        tenant=tenant,
        decision_type=u.decision_type,
        ai_system=u.ai_system,
        model_version=u.model_version,
        role=_role(u.role),
        calls=u.calls,
        failures=u.failures,
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        total_latency=_milliseconds(u.total_latency_ms),
        energy_mwh=u.energy_mwh,
        cost_micro_eur=u.cost_micro_eur,
    )


def _review(r: Review) -> common_pb2.ReviewRecord:
    return common_pb2.ReviewRecord(
        reviewer_id=r.reviewer_id,
        reviewer_roles=list(r.reviewer_roles),
        verdict=common_pb2.Verdict.Value(f"VERDICT_{r.verdict.value}"),
        justification=r.justification,
        amended_output=struct(r.amended_output),
        decided_at=timestamp(r.decided_at),
    )


def decision(
    d: Decision,
    policies: PolicyBook,
    language: str = "fr",
    *,
    input_message: struct_pb2.Struct | None = None,
) -> common_pb2.Decision:
    """The wire form of a decision; the notice only once the decision takes effect.

    `input_message`, when given, is the decision's input as the caller sent it (saves building
    it again from the record).
    """
    message = common_pb2.Decision(
        id=str(d.id),
        tenant=d.tenant_id,
        decision_type=d.decision_type,
        subject_ref=d.subject_ref,
        state=common_pb2.DecisionState.Value(f"DECISION_STATE_{d.state.value}"),
        input=input_message if input_message is not None else struct(d.input),
        input_sha256=d.input_sha256,
        proposer_id=d.proposer_id,
        idempotency_key=d.idempotency_key,
        policy_revision=d.policy_revision,
        required_approvals=d.required_approvals,
        approvals=d.approvals,
        created_at=timestamp(d.created_at),
        updated_at=timestamp(d.updated_at),
        deadline=timestamp(d.deadline),
        finalized_at=timestamp(d.finalized_at),
        outcome=struct(d.outcome),
        reviews=[_review(r) for r in d.reviews],
        version=d.version,
        trace_id=d.trace_id,
        advice_status=common_pb2.AdviceStatus.Value(f"ADVICE_STATUS_{d.advice_status.value}"),
        advice_detail=render(d.advice_reason, d.advice_params, language) or d.advice_detail,
        advice_reason=d.advice_reason,
        suggestion_withheld=isinstance(d, WithheldDecision) and d.suggestion_withheld,
        verdicts_withheld=isinstance(d, WithheldDecision) and d.verdicts_withheld,
    )
    if d.suggestion is not None:
        s = d.suggestion
        message.suggestion.CopyFrom(
            common_pb2.Suggestion(
                output=struct(s.output),
                confidence=s.confidence,
                explanation=s.explanation,
                model=common_pb2.ModelRef(name=s.model_name, version=s.model_version),
                factors=[
                    common_pb2.SuggestionFactor(name=f.name, weight=f.weight, value=f.value)
                    for f in s.factors
                ],
                sources=s.sources,
                known_limits=s.known_limits,
            )
        )
    if d.claimed_by:
        message.claim.CopyFrom(
            common_pb2.ClaimLease(claimed_by=d.claimed_by, expires_at=timestamp(d.claim_expires_at))
        )
    policy = policies.get(d.tenant_id, d.decision_type)
    if d.state.takes_effect and policy is not None:
        lang, text = policy.notice_text(language)
        message.notice.CopyFrom(common_pb2.Notice(language=lang, text=text))
    return message


def audit_event(e: AuditEvent) -> audit_pb2.AuditEvent:
    return audit_pb2.AuditEvent(
        tenant=e.tenant_id,
        seq=e.seq,
        event_id=str(e.event_id),
        occurred_at=timestamp(e.occurred_at),
        decision_id=str(e.decision_id) if e.decision_id else "",
        kind=e.kind,
        actor_id=e.actor_id,
        actor_type=e.actor_type,
        trace_id=e.trace_id,
        schema_version=e.schema_version,
        data=struct(e.body.get("data") or {}),
        prev_hash=e.prev_hash.hex(),
        hash=e.hash.hex(),
        canonical=e.canonical,
    )


def checkpoint(record: CheckpointRecord, verifier_key: str = "") -> audit_pb2.Checkpoint:
    """The wire form of a signed checkpoint; hashes in hex, note and signature as bytes.

    Args:
        record: The checkpoint, with the cosignatures read for it.
        verifier_key: The deployment's verifier key string ("" when it has no key).
    """
    return audit_pb2.Checkpoint(
        tenant=record.tenant_id,
        tree_size=record.tree_size,
        root_hash=record.root_hash.hex(),
        head_hash=record.head_hash.hex(),
        issued_at=timestamp(record.issued_at),
        key_id=record.key_id,
        signed_note=record.signed_note,
        signature=record.signature,
        note=record.note(),
        origin=record.origin,
        verifier_key=verifier_key,
    )


def inclusion_proof(
    event: AuditEvent,
    leaf_index: int,
    record: CheckpointRecord,
    audit_path: list[bytes],
    verifier_key: str = "",
) -> audit_pb2.ProveInclusionResponse:
    """The wire form of an event's inclusion proof against a checkpoint."""
    return audit_pb2.ProveInclusionResponse(
        event=audit_event(event),
        leaf_index=leaf_index,
        checkpoint=checkpoint(record, verifier_key),
        audit_path=audit_path,
    )


def webhook_delivery(e: OutboxEntry) -> admin_pb2.WebhookDelivery:
    return admin_pb2.WebhookDelivery(
        tenant=e.tenant_id,
        event_id=str(e.id),
        event_type=str(e.payload.get("type", "")),
        decision_id=str(e.decision_id),
        application_id=e.application_id,
        status=admin_pb2.WebhookDeliveryStatus.Value(f"WEBHOOK_DELIVERY_STATUS_{e.status.upper()}"),
        attempts=e.attempts,
        created_at=timestamp(e.created_at),
        next_attempt_at=timestamp(e.next_attempt_at),
        delivered_at=timestamp(e.delivered_at),
        dead_at=timestamp(e.dead_at),
        last_error=e.last_error,
    )
