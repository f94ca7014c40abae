"""The request of every unary RPC of the Audit service (see :mod:`aval.clients.sdk.calls`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from aval.clients.sdk.calls import _VERDICTS, UnaryCall, VerdictName, _choice, _invalid, _whole
from aval.v1 import audit_pb2

AudienceName = Literal["inspector", "citizen"]
TextFormatName = Literal["markdown", "html"]
_AUDIENCES: dict[str, audit_pb2.Audience.ValueType] = {
    "inspector": audit_pb2.AUDIENCE_INSPECTOR,
    "citizen": audit_pb2.AUDIENCE_CITIZEN,
}
_TEXT_FORMATS: dict[str, audit_pb2.TextFormat.ValueType] = {
    "markdown": audit_pb2.TEXT_FORMAT_MARKDOWN,
    "html": audit_pb2.TEXT_FORMAT_HTML,
}
ExportFormatName = Literal["jsonl", "csv"]
_EXPORT_FORMATS: dict[str, audit_pb2.ExportFormat.ValueType] = {
    "jsonl": audit_pb2.EXPORT_FORMAT_JSONL,
    "csv": audit_pb2.EXPORT_FORMAT_CSV,
}


def query_events(
    *,
    tenant: str = "",
    decision_id: str = "",
    kind: str = "",
    page_size: int = 0,
    page_token: str = "",
    tenants: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    decision_type: str = "",
    ai_system: str = "",
    model_version: str = "",
    reviewer: str = "",
    verdict: VerdictName | None = None,
    overrode: bool | None = None,
) -> UnaryCall[audit_pb2.QueryEventsResponse]:
    """Lists audit events, tenant after tenant, each in sequence order; every filter narrows.

    Args:
        tenant: The caller's tenant when empty (and ``tenants`` is empty).
        decision_id: Only the events of this decision when set.
        kind: Only events of this kind when set, e.g. ``"review.recorded"``.
        page_size: 100 when 0; at most 1000.
        page_token: ``next_page_token`` of the previous page (same filters).
        tenants: Several tenants at once, for a principal granted each (a pooled inspector).
        since: Only events that occurred at or after this time (timezone-aware).
        until: Only events that occurred before this time (timezone-aware).
        decision_type: Only events of decisions of this type.
        ai_system: Only events of decisions suggested by this AI system (model name).
        model_version: Only events of decisions suggested by this model version.
        reviewer: Only events whose actor is this person.
        verdict: Only ``review.recorded`` events with this verdict.
        overrode: Only events of decisions where a human amended or rejected the AI's
            suggestion (True), or where none did (False).

    Returns:
        One page of events and the token of the next one (empty on the last page).

    Raises:
        PermissionDeniedError: The caller may not query one of the tenants.
        AvalError: Any other refusal of the gateway.
    """
    request = audit_pb2.QueryEventsRequest(
        tenant=tenant,
        decision_id=decision_id,
        kind=kind,
        page_size=page_size,
        page_token=page_token,
        tenants=list(tenants),
        decision_type=decision_type,
        ai_system=ai_system,
        model_version=model_version,
        reviewer=reviewer,
    )
    if since is not None:
        request.since.FromDatetime(since)
    if until is not None:
        request.until.FromDatetime(until)
    if verdict is not None:
        request.verdict = _choice(_VERDICTS, "verdict", verdict)
    if overrode is not None:
        request.overrode = overrode
    return UnaryCall("audit", "QueryEvents", request, _whole)


def export_request(
    *,
    format: ExportFormatName = "jsonl",
    inclusion_proofs: bool = False,
    proof_tree_size: int = 0,
    **filters: Any,
) -> audit_pb2.ExportEventsRequest:
    """Builds the request of ``ExportEvents`` (a stream, sent by each client its own way).

    Args:
        format: ``"jsonl"`` (one JSON object per line) or ``"csv"`` (a header line first).
        inclusion_proofs: Each JSON Lines line also carries its event's inclusion proof
            (``inclusion``) against the checkpoint of ``proof_tree_size``; one tenant only.
        proof_tree_size: That checkpoint's size; the latest when 0.
        **filters: The filters of :func:`query_events` (``page_size`` and ``page_token`` aside).

    Returns:
        The request.

    Raises:
        InvalidArgumentError: An unknown format or verdict.
        TypeError: A filter :func:`query_events` does not know.
    """
    if {"page_size", "page_token"} & set(filters):
        raise TypeError("an export has no pages: page_size and page_token do not apply")
    query = query_events(**filters).request
    assert isinstance(query, audit_pb2.QueryEventsRequest)
    return audit_pb2.ExportEventsRequest(
        query=query,
        format=_choice(_EXPORT_FORMATS, "format", format),
        inclusion_proofs=inclusion_proofs,
        proof_tree_size=proof_tree_size,
    )


def explain_decision(
    decision_id: str,
    *,
    audience: AudienceName = "inspector",
    language: str = "fr",
    tenant: str = "",
    text_format: TextFormatName = "markdown",
) -> UnaryCall[audit_pb2.ExplainDecisionResponse]:
    """Explains one decision from its record and its trail.

    Args:
        decision_id: The decision's id.
        audience: ``"inspector"`` (the full record) or ``"citizen"`` (plain language).
        language: ``"fr"`` or ``"en"``.
        tenant: The caller's tenant when empty.
        text_format: ``"markdown"``, or ``"html"`` for a self-contained HTML page.

    Returns:
        The explanation, the decision and its events.

    Raises:
        NotFoundError: No such decision in the tenant.
        AvalError: Any other refusal of the gateway.
    """
    request = audit_pb2.ExplainDecisionRequest(
        tenant=tenant,
        decision_id=decision_id,
        audience=_choice(_AUDIENCES, "audience", audience),
        language=language,
        format=_choice(_TEXT_FORMATS, "text_format", text_format),
    )
    return UnaryCall("audit", "ExplainDecision", request, _whole)


def get_stats(
    *,
    tenant: str = "",
    tenants: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    rubber_stamp_approval_rate: float = 0.0,
    rubber_stamp_review_seconds: float = 0.0,
) -> UnaryCall[audit_pb2.GetStatsResponse]:
    """Statistics per tenant, decision type, model and reviewer (R5, R6, R12).

    Args:
        tenant: The caller's tenant when empty and ``tenants`` is empty.
        tenants: Several tenants, for a principal granted each of them (a pooled inspector).
        since: Only decisions proposed at or after this time (timezone-aware).
        until: Only decisions proposed before this time (timezone-aware).
        rubber_stamp_approval_rate: Flag reviewers who approve at least this share of their
            verdicts unchanged (0.95 when 0)...
        rubber_stamp_review_seconds: ...in a median time below this many seconds (30 when 0).

    Returns:
        One row per tenant, decision type, model (``NAME@VERSION``, or ``"none"`` without
        AI) and reviewer, in that order.

    Raises:
        PermissionDeniedError: The caller may not query one of the tenants.
        AvalError: Any other refusal of the gateway.
    """
    request = audit_pb2.GetStatsRequest(
        tenant=tenant,
        tenants=list(tenants),
        rubber_stamp_approval_rate=rubber_stamp_approval_rate,
        rubber_stamp_review_seconds=rubber_stamp_review_seconds,
    )
    if since is not None:
        request.since.FromDatetime(since)
    if until is not None:
        request.until.FromDatetime(until)
    return UnaryCall("audit", "GetStats", request, _whole)


def verify_chain(
    *,
    tenant: str = "",
    since: datetime | None = None,
    witnesses: Sequence[str] = (),
    witness_quorum: int = 0,
    strict: bool = False,
) -> UnaryCall[audit_pb2.VerifyChainResponse]:
    """Verifies a tenant's trail: chain, signed checkpoints, and decisions against their events.

    Args:
        tenant: The caller's tenant when empty.
        since: Report problems only for events from this time on (all are still read).
        strict: Fail when some events are covered by no signed checkpoint yet.
        witnesses: Verifier key strings of trusted witnesses (the witness policy).
        witness_quorum: How many of them must have cosigned the latest checkpoint (1 when 0).

    Returns:
        Whether the trail is intact, what was checked and every problem found.

    Raises:
        AvalError: The gateway refused the call.
    """
    request = audit_pb2.VerifyChainRequest(
        tenant=tenant, strict=strict, witnesses=list(witnesses), witness_quorum=witness_quorum
    )
    if since is not None:
        request.since.FromDatetime(since)
    return UnaryCall("audit", "VerifyChain", request, _whole)


def prove_inclusion(
    *, seq: int = 0, event_id: str = "", tree_size: int = 0, tenant: str = ""
) -> UnaryCall[audit_pb2.ProveInclusionResponse]:
    """Proves that one event is in the tree a signed checkpoint covers (RFC 9162).

    Check the proof with ``aval.verifier.merkle.verify_inclusion`` on
    ``leaf_hash(event.canonical)``, ``leaf_index``, ``checkpoint.tree_size``, ``audit_path``
    and the checkpoint's root.

    Args:
        seq: The event's sequence number...
        event_id: ...or its id (give exactly one of the two).
        tree_size: The size of the checkpoint to prove against; the latest when 0.
        tenant: The caller's tenant when empty.

    Returns:
        The event, its leaf index, the checkpoint and the audit path.

    Raises:
        InvalidArgumentError: Neither or both of ``seq`` and ``event_id``.
        NotFoundError: No such event, or no checkpoint of that size.
        FailedPreconditionError: No checkpoint yet (reason ``NO_CHECKPOINT``), or the event
            came after it (``NOT_YET_CHECKPOINTED``).
        AvalError: Any other refusal of the gateway.
    """
    if bool(seq) == bool(event_id):
        raise _invalid("seq", "give either the sequence number or the event id of one event")
    request = audit_pb2.ProveInclusionRequest(
        tenant=tenant, seq=seq, event_id=event_id, tree_size=tree_size
    )
    return UnaryCall("audit", "ProveInclusion", request, _whole)


def prove_consistency(
    *, old_size: int, new_size: int = 0, tenant: str = ""
) -> UnaryCall[audit_pb2.ProveConsistencyResponse]:
    """Proves that the trail only grew between two signed checkpoints (RFC 9162).

    Check the proof with ``aval.verifier.merkle.verify_consistency`` on the two
    checkpoints' sizes and roots.

    Args:
        old_size: The size of the older checkpoint.
        new_size: The size of the newer checkpoint; the latest when 0.
        tenant: The caller's tenant when empty.

    Returns:
        Both checkpoints and the consistency proof.

    Raises:
        NotFoundError: No checkpoint of one of the sizes.
        FailedPreconditionError: No checkpoint yet (reason ``NO_CHECKPOINT``).
        AvalError: Any other refusal of the gateway.
    """
    request = audit_pb2.ProveConsistencyRequest(tenant=tenant, old_size=old_size, new_size=new_size)
    return UnaryCall("audit", "ProveConsistency", request, _whole)


def verify_trail_request(
    *,
    tenant: str = "",
    since: datetime | None = None,
    witnesses: Sequence[str] = (),
    witness_quorum: int = 0,
    strict: bool = False,
) -> audit_pb2.VerifyTrailRequest:
    """Builds the request of ``VerifyTrail`` (a stream of progress, then the report)."""
    request = audit_pb2.VerifyTrailRequest(
        tenant=tenant, witnesses=list(witnesses), witness_quorum=witness_quorum,
        strict=strict,
    )
    if since is not None:
        request.since.FromDatetime(since)
    return request


def _checkpoint_of(response: Any) -> audit_pb2.Checkpoint:
    checkpoint: audit_pb2.Checkpoint = response.checkpoint
    return checkpoint


def create_checkpoint(*, tenant: str = "") -> UnaryCall[audit_pb2.Checkpoint]:
    """Signs a checkpoint of a tenant's trail now: its tree size and Merkle root.

    Args:
        tenant: The caller's tenant when empty.

    Returns:
        The new checkpoint, or the latest one when no event was appended since it.

    Raises:
        FailedPreconditionError: The gateway has no signing key (reason ``NO_SIGNING_KEY``).
        PermissionDeniedError: The caller may not checkpoint the tenant.
        AvalError: Any other refusal of the gateway.
    """
    request = audit_pb2.CreateCheckpointRequest(tenant=tenant)
    return UnaryCall("audit", "CreateCheckpoint", request, _checkpoint_of)


def list_checkpoints(
    *, tenant: str = "", newest: int = 0
) -> UnaryCall[audit_pb2.ListCheckpointsResponse]:
    """Lists a tenant's signed checkpoints and the public key that verifies them.

    Args:
        tenant: The caller's tenant when empty.
        newest: Only the newest `newest` checkpoints; all when 0 (a busy tenant has one every
            few seconds: ask for the few you need).

    Returns:
        The checkpoints, oldest first, and the gateway's public key (hex; empty without a key).

    Raises:
        AvalError: The gateway refused the call.
    """
    request = audit_pb2.ListCheckpointsRequest(tenant=tenant, newest=newest)
    return UnaryCall("audit", "ListCheckpoints", request, _whole)
