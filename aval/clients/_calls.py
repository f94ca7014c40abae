"""The request of every unary RPC, built once for both the blocking and the asyncio client.

Each public function here has the signature and the docstring of the client method of the same
name: :mod:`aval.clients.sdk` turns it into a method of :class:`~aval.clients.sdk.Client` and
of :class:`~aval.clients.sdk.AsyncClient`, which send the request and return what ``unwrap``
takes out of the response.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

from aval.clients.errors import FieldViolation, InvalidArgumentError
from aval.clients.limits import check_nesting
from aval.v1 import audit_pb2, common_pb2, gateway_pb2, review_pb2

ResultT = TypeVar("ResultT")

Service = Literal["gateway", "review", "audit", "admin"]
VerdictName = Literal["approve", "amend", "reject"]
AudienceName = Literal["inspector", "citizen"]
TextFormatName = Literal["markdown", "html"]

_VERDICTS: dict[str, common_pb2.Verdict.ValueType] = {
    "approve": common_pb2.VERDICT_APPROVE,
    "amend": common_pb2.VERDICT_AMEND,
    "reject": common_pb2.VERDICT_REJECT,
}
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
_FINAL_STATES = frozenset(
    {
        common_pb2.DECISION_STATE_APPROVED,
        common_pb2.DECISION_STATE_AMENDED,
        common_pb2.DECISION_STATE_REJECTED,
        common_pb2.DECISION_STATE_EXPIRED,
        common_pb2.DECISION_STATE_WITHDRAWN,
    }
)


@dataclass(frozen=True)
class UnaryCall(Generic[ResultT]):
    """One unary RPC ready to send.

    Attributes:
        service: Which service of the contract answers it.
        method: The RPC's name in the ``.proto`` file, e.g. ``"Propose"``.
        request: The request message.
        unwrap: Takes the result the caller gets out of the response message.
    """

    service: Service
    method: str
    request: Message
    unwrap: Callable[[Any], ResultT]


def is_final(decision: common_pb2.Decision) -> bool:
    """Tells whether a decision has left review for good (whatever the outcome).

    Args:
        decision: The decision, as the gateway returned it.

    Returns:
        True once the state is approved, amended, rejected, expired or withdrawn.
    """
    return decision.state in _FINAL_STATES


def to_struct(value: Mapping[str, Any], field: str) -> struct_pb2.Struct:
    """Converts a JSON-like mapping to a ``google.protobuf.Struct``.

    Args:
        value: Keys are strings; values are what JSON can hold.
        field: The request field it goes to, named in the error.

    Returns:
        The struct.

    Raises:
        InvalidArgumentError: ``value`` holds something JSON cannot represent, or nests deeper
            than the gateway accepts (reason ``NESTED_TOO_DEEP``).
    """
    if not isinstance(value, Mapping):
        raise _invalid(field, f"expected a JSON object, got {type(value).__name__}")
    check_nesting(value, field)
    struct = struct_pb2.Struct()
    try:
        json_format.ParseDict(dict(value), struct)
    except json_format.ParseError as err:
        raise _invalid(field, str(err)) from err
    return struct


def _invalid(field: str, description: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"invalid {field}: {description}",
        violations=[FieldViolation(field=field, description=description)],
    )


def _model_ref(model: str) -> common_pb2.ModelRef:
    name, _, version = model.rpartition("@")
    if not name or not version:
        raise _invalid("model", f"expected NAME@VERSION (e.g. mistral-small@3.1), got {model!r}")
    return common_pb2.ModelRef(name=name, version=version)


def _choice(table: Mapping[str, ResultT], field: str, value: str) -> ResultT:
    try:
        return table[value]
    except KeyError:
        raise _invalid(field, f"expected one of {', '.join(table)}, got {value!r}") from None


def _decision_of(response: Any) -> common_pb2.Decision:
    decision: common_pb2.Decision = response.decision
    return decision


def _whole(response: ResultT) -> ResultT:
    return response


def propose(
    *,
    decision_type: str,
    subject_ref: str,
    input: Mapping[str, Any],
    idempotency_key: str | None = None,
    suggestion: Mapping[str, Any] | None = None,
    confidence: float | None = None,
    explanation: str = "",
    model: str | None = None,
    tenant: str = "",
) -> UnaryCall[gateway_pb2.ProposeResponse]:
    """Proposes a decision; it is held for human review until the policy's quorum approves it.

    Args:
        decision_type: The kind of decision, as the tenant's review policies name it.
        subject_ref: Pseudonymous reference to the person or case; never raw personal data.
        input: What the decision is about (JSON-like mapping).
        idempotency_key: Makes retries safe: the same key and body return the first decision.
            A fresh UUID when omitted, so pass your own to retry safely.
        suggestion: The output your own AI system suggested; the gateway's configured AI
            backend suggests one when omitted.
        confidence: Your AI system's confidence in ``[0, 1]``, with ``suggestion``.
        explanation: Your AI system's explanation, shown to reviewers, with ``suggestion``.
        model: ``NAME@VERSION`` of the AI system that made ``suggestion``.
        tenant: The caller's tenant when empty.

    Returns:
        The decision, in review, and whether this call was a replay of an earlier one.

    Raises:
        InvalidArgumentError: The request is malformed (checked here, then by the gateway).
        AlreadyExistsError: ``idempotency_key`` was used before with a different body.
        AvalError: Any other refusal of the gateway.
    """
    request = gateway_pb2.ProposeRequest(
        tenant=tenant,
        decision_type=decision_type,
        subject_ref=subject_ref,
        input=to_struct(input, "input"),
        idempotency_key=idempotency_key or str(uuid.uuid4()),
    )
    if suggestion is not None:
        attested = request.attested_suggestion
        attested.output.CopyFrom(to_struct(suggestion, "suggestion"))
        attested.explanation = explanation
        if confidence is not None:
            attested.confidence = confidence
        if model is not None:
            attested.model.CopyFrom(_model_ref(model))
    elif confidence is not None or explanation or model is not None:
        raise _invalid("suggestion", "confidence, explanation and model need a suggestion")
    return UnaryCall("gateway", "Propose", request, _whole)


def get_decision(
    decision_id: str, *, tenant: str = "", language: str = "fr"
) -> UnaryCall[common_pb2.Decision]:
    """Returns a decision; its outcome and notice are set once it is final.

    Args:
        decision_id: The decision's id.
        tenant: The caller's tenant when empty.
        language: Language of the notice, ``"fr"`` or ``"en"``.

    Returns:
        The decision.

    Raises:
        NotFoundError: No such decision in the tenant.
        AvalError: Any other refusal of the gateway.
    """
    request = gateway_pb2.GetDecisionRequest(
        tenant=tenant, decision_id=decision_id, language=language
    )
    return UnaryCall("gateway", "GetDecision", request, _decision_of)


def watch_request(
    decision_id: str, *, tenant: str = "", language: str = "fr"
) -> gateway_pb2.WatchDecisionRequest:
    """Builds the request of ``WatchDecision`` (a stream, sent by each client its own way).

    Args:
        decision_id: The decision's id.
        tenant: The caller's tenant when empty.
        language: Language of the notice, ``"fr"`` or ``"en"``.

    Returns:
        The request.
    """
    return gateway_pb2.WatchDecisionRequest(
        tenant=tenant, decision_id=decision_id, language=language
    )


def list_queue(
    *,
    tenant: str = "",
    decision_type: str = "",
    actionable_only: bool = False,
    page_size: int = 0,
    page_token: str = "",
) -> UnaryCall[review_pb2.ListQueueResponse]:
    """Lists decisions awaiting review, oldest deadline first.

    Args:
        tenant: The caller's tenant when empty.
        decision_type: Only decisions of this type when set.
        actionable_only: Only decisions the caller may act on now.
        page_size: 50 when 0; at most 500.
        page_token: ``next_page_token`` of the previous page.

    Returns:
        One page of decisions and the token of the next one (empty on the last page).

    Raises:
        AvalError: The gateway refused the call.
    """
    request = review_pb2.ListQueueRequest(
        tenant=tenant,
        decision_type=decision_type,
        actionable_only=actionable_only,
        page_size=page_size,
        page_token=page_token,
    )
    return UnaryCall("review", "ListQueue", request, _whole)


def claim(
    decision_id: str, *, tenant: str = "", lease_seconds: float | None = None
) -> UnaryCall[common_pb2.Decision]:
    """Takes a lease on a decision so that other supervisors leave it alone until it expires.

    Args:
        decision_id: The decision's id.
        tenant: The caller's tenant when empty.
        lease_seconds: How long the lease lasts; the server's default when omitted.

    Returns:
        The decision, with its claim.

    Raises:
        FailedPreconditionError: The decision is final or claimed by someone else.
        AvalError: Any other refusal of the gateway.
    """
    request = review_pb2.ClaimRequest(tenant=tenant, decision_id=decision_id)
    if lease_seconds is not None:
        request.lease.SetInParent()
        request.lease.FromNanoseconds(round(lease_seconds * 1_000_000_000))
    return UnaryCall("review", "Claim", request, _decision_of)


def decide(
    decision_id: str,
    *,
    verdict: VerdictName,
    justification: str = "",
    amended_output: Mapping[str, Any] | None = None,
    tenant: str = "",
    language: str = "fr",
) -> UnaryCall[common_pb2.Decision]:
    """Records a human verdict; the decision becomes final when the policy's quorum is met.

    Args:
        decision_id: The decision's id.
        verdict: ``"approve"``, ``"amend"`` (with ``amended_output``) or ``"reject"``.
        justification: Why; the policy may require one.
        amended_output: The output that replaces the suggestion, with ``"amend"`` only.
        tenant: The caller's tenant when empty.
        language: Language of the notice in the reply, ``"fr"`` or ``"en"``.

    Returns:
        The decision after the verdict.

    Raises:
        PermissionDeniedError: The caller may not review it (e.g. it proposed it).
        FailedPreconditionError: The decision is no longer in review.
        AvalError: Any other refusal of the gateway.
    """
    request = review_pb2.DecideRequest(
        tenant=tenant,
        decision_id=decision_id,
        verdict=_choice(_VERDICTS, "verdict", verdict),
        justification=justification,
        language=language,
    )
    if amended_output is not None:
        request.amended_output.CopyFrom(to_struct(amended_output, "amended_output"))
    return UnaryCall("review", "Decide", request, _decision_of)


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
    *, format: ExportFormatName = "jsonl", **filters: Any
) -> audit_pb2.ExportEventsRequest:
    """Builds the request of ``ExportEvents`` (a stream, sent by each client its own way).

    Args:
        format: ``"jsonl"`` (one JSON object per line) or ``"csv"`` (a header line first).
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
        query=query, format=_choice(_EXPORT_FORMATS, "format", format)
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
    *, tenant: str = "", since: datetime | None = None
) -> UnaryCall[audit_pb2.VerifyChainResponse]:
    """Verifies a tenant's trail: chain, signed checkpoints, and decisions against their events.

    Args:
        tenant: The caller's tenant when empty.
        since: Report problems only for events from this time on (all are still read).

    Returns:
        Whether the trail is intact, what was checked and every problem found.

    Raises:
        AvalError: The gateway refused the call.
    """
    request = audit_pb2.VerifyChainRequest(tenant=tenant)
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
    *, tenant: str = "", since: datetime | None = None
) -> audit_pb2.VerifyTrailRequest:
    """Builds the request of ``VerifyTrail`` (a stream of progress, then the report)."""
    request = audit_pb2.VerifyTrailRequest(tenant=tenant)
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


def list_checkpoints(*, tenant: str = "") -> UnaryCall[audit_pb2.ListCheckpointsResponse]:
    """Lists a tenant's signed checkpoints and the public key that verifies them.

    Args:
        tenant: The caller's tenant when empty.

    Returns:
        The checkpoints, oldest first, and the gateway's public key (hex; empty without a key).

    Raises:
        AvalError: The gateway refused the call.
    """
    request = audit_pb2.ListCheckpointsRequest(tenant=tenant)
    return UnaryCall("audit", "ListCheckpoints", request, _whole)
