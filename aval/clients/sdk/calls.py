"""The request of every unary RPC, built once for both the blocking and the asyncio client.

Each public function here has the signature and the docstring of the client method of the same
name: :mod:`aval.clients.sdk.client` turns it into a method of
:class:`~aval.clients.sdk.client.Client` and of :class:`~aval.clients.sdk.client.AsyncClient`,
which send the request and return what ``unwrap`` takes out of the response.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

from aval.clients.sdk.errors import FieldViolation, InvalidArgumentError
from aval.clients.sdk.limits import check_nesting
from aval.v1 import common_pb2, gateway_pb2, review_pb2

ResultT = TypeVar("ResultT")

Service = Literal["gateway", "review", "audit", "admin", "journal", "people"]
VerdictName = Literal["approve", "amend", "reject"]

_VERDICTS: dict[str, common_pb2.Verdict.ValueType] = {
    "approve": common_pb2.VERDICT_APPROVE,
    "amend": common_pb2.VERDICT_AMEND,
    "reject": common_pb2.VERDICT_REJECT,
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
    claimed_by_me: bool = False,
    deadline_before: datetime | None = None,
    not_seen_by_me: bool = False,
) -> UnaryCall[review_pb2.ListQueueResponse]:
    """Lists decisions awaiting review, oldest deadline first.

    Args:
        tenant: The caller's tenant when empty.
        decision_type: Only decisions of this type when set.
        actionable_only: Only decisions the caller may act on now.
        page_size: 50 when 0; at most 500.
        page_token: ``next_page_token`` of the previous page.
        claimed_by_me: Only decisions the caller holds a live claim on.
        deadline_before: Only decisions due before this moment (an aware datetime).
        not_seen_by_me: Only decisions never displayed to the caller (GetCase).

    Returns:
        One page of decisions, the token of the next one (empty on the last page) and the
        counts of the tenant's queue.

    Raises:
        AvalError: The gateway refused the call.
    """
    request = review_pb2.ListQueueRequest(
        tenant=tenant,
        decision_type=decision_type,
        actionable_only=actionable_only,
        page_size=page_size,
        page_token=page_token,
        claimed_by_me=claimed_by_me,
        not_seen_by_me=not_seen_by_me,
    )
    if deadline_before is not None:
        request.deadline_before.FromDatetime(deadline_before.astimezone(UTC))
    return UnaryCall("review", "ListQueue", request, _whole)


def claim(
    decision_id: str,
    *,
    tenant: str = "",
    lease_seconds: float | None = None,
    seen_version: int = 0,
) -> UnaryCall[common_pb2.Decision]:
    """Takes a lease on a decision so that other supervisors leave it alone until it expires.

    Args:
        decision_id: The decision's id.
        tenant: The caller's tenant when empty.
        lease_seconds: How long the lease lasts; the server's default when omitted.
        seen_version: The ``Decision.version`` the caller was shown; the claim is refused
            (``CASE_CHANGED``) if the decision changed since, other than by the caller's own
            claims. 0 binds to nothing.

    Returns:
        The decision, with its claim.

    Raises:
        FailedPreconditionError: The decision is final, claimed by someone else, or changed
            since ``seen_version``.
        AvalError: Any other refusal of the gateway.
    """
    request = review_pb2.ClaimRequest(
        tenant=tenant, decision_id=decision_id, seen_version=seen_version
    )
    if lease_seconds is not None:
        request.lease.SetInParent()
        request.lease.FromNanoseconds(round(lease_seconds * 1_000_000_000))
    return UnaryCall("review", "Claim", request, _decision_of)


def release(decision_id: str, *, tenant: str = "") -> UnaryCall[common_pb2.Decision]:
    """Gives back the caller's claim on a decision before its lease ends.

    Args:
        decision_id: The decision's id.
        tenant: The caller's tenant when empty.

    Returns:
        The decision, free of any claim.

    Raises:
        FailedPreconditionError: Nobody holds a claim on it (NOT_CLAIMED), someone else does
            (CLAIMED_BY_ANOTHER), or it is final.
        AvalError: Any other refusal of the gateway.
    """
    request = review_pb2.ReleaseRequest(tenant=tenant, decision_id=decision_id)
    return UnaryCall("review", "Release", request, _decision_of)


def decide(
    decision_id: str,
    *,
    verdict: VerdictName,
    justification: str = "",
    amended_output: Mapping[str, Any] | None = None,
    tenant: str = "",
    language: str = "fr",
    seen_version: int = 0,
) -> UnaryCall[common_pb2.Decision]:
    """Records a human verdict; the decision becomes final when the policy's quorum is met.

    Args:
        decision_id: The decision's id.
        verdict: ``"approve"``, ``"amend"`` (with ``amended_output``) or ``"reject"``.
        justification: Why; the policy may require one.
        amended_output: The output that replaces the suggestion, with ``"amend"`` only.
        tenant: The caller's tenant when empty.
        language: Language of the notice in the reply, ``"fr"`` or ``"en"``.
        seen_version: The ``Decision.version`` of the case the reviewer was shown. Reviewers'
            tools must send it: the verdict is then refused (``CASE_CHANGED``) and nothing is
            written if the decision changed since, other than by the reviewer's own claims.
            0 binds to nothing (older callers).

    Returns:
        The decision after the verdict.

    Raises:
        PermissionDeniedError: The caller may not review it (e.g. it proposed it).
        FailedPreconditionError: The decision is no longer in review, or changed since
            ``seen_version``.
        AvalError: Any other refusal of the gateway.
    """
    request = review_pb2.DecideRequest(
        tenant=tenant,
        decision_id=decision_id,
        verdict=_choice(_VERDICTS, "verdict", verdict),
        justification=justification,
        language=language,
        seen_version=seen_version,
    )
    if amended_output is not None:
        request.amended_output.CopyFrom(to_struct(amended_output, "amended_output"))
    return UnaryCall("review", "Decide", request, _decision_of)
