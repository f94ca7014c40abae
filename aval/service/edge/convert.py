"""Records to wire messages (aval.v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from aval.audit_store.checkpoints import CheckpointRecord
from aval.audit_store.records import AuditEvent, Decision, Review
from aval.audit_store.verify import Report
from aval.policies import PolicyBook
from aval.service.decisions.advice_texts import render
from aval.v1 import audit_pb2, common_pb2


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


def checkpoint(record: CheckpointRecord) -> audit_pb2.Checkpoint:
    """The wire form of a signed checkpoint; hashes in hex, note and signature as bytes."""
    return audit_pb2.Checkpoint(
        tenant=record.tenant_id,
        tree_size=record.tree_size,
        root_hash=record.root_hash.hex(),
        head_hash=record.head_hash.hex(),
        issued_at=timestamp(record.issued_at),
        key_id=record.key_id,
        signed_note=record.signed_note,
        signature=record.signature,
    )


def inclusion_proof(
    event: AuditEvent, leaf_index: int, record: CheckpointRecord, audit_path: list[bytes]
) -> audit_pb2.ProveInclusionResponse:
    """The wire form of an event's inclusion proof against a checkpoint."""
    return audit_pb2.ProveInclusionResponse(
        event=audit_event(event),
        leaf_index=leaf_index,
        checkpoint=checkpoint(record),
        audit_path=audit_path,
    )


def verification_report(report: Report) -> audit_pb2.VerifyChainResponse:
    """The wire form of a verification report, every problem included."""
    return audit_pb2.VerifyChainResponse(
        ok=report.ok,
        events_checked=report.events_checked,
        decisions_checked=report.decisions_checked,
        checkpoints_checked=report.checkpoints_checked,
        head_hash=report.head_hash.hex(),
        problems=[
            audit_pb2.VerificationProblem(
                kind=p.kind,
                tenant=p.tenant_id,
                seq=p.seq,
                decision_id=p.decision_id,
                detail=p.detail,
            )
            for p in report.problems
        ],
    )
