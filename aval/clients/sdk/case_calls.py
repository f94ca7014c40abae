"""The requests of Review.GetCase and Review.RecordView (a case as its reviewer is shown it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aval.clients.sdk.calls import _VERDICTS, UnaryCall, VerdictName, _choice, _whole, to_struct
from aval.v1 import review_pb2


def get_case(
    decision_id: str, *, tenant: str = "", language: str = "fr"
) -> UnaryCall[review_pb2.GetCaseResponse]:
    """A case as the caller, a reviewer, is shown it: the decision (less what the type's
    review modes withhold from them for now), its policy and its history.

    The caller's first GetCase of a pending decision is recorded in the audit trail: their
    time on task starts there.

    Args:
        decision_id: The decision's id.
        tenant: The caller's tenant when empty.
        language: Language of labels and summaries, ``"fr"`` or ``"en"``.

    Returns:
        The whole response: ``decision``, ``policy``, ``history``, ``suggestion_withheld``,
        ``verdicts_withheld``, ``first_displayed_at`` and ``own_view``.

    Raises:
        PermissionDeniedError: The caller may not read the tenant's cases.
        AvalError: Any other refusal of the gateway.
    """
    request = review_pb2.GetCaseRequest(tenant=tenant, decision_id=decision_id, language=language)
    return UnaryCall("review", "GetCase", request, _whole)


def record_view(
    decision_id: str,
    *,
    verdict: VerdictName,
    output: Mapping[str, Any] | None = None,
    note: str = "",
    tenant: str = "",
    seen_version: int = 0,
) -> UnaryCall[review_pb2.GetCaseResponse]:
    """Records the caller's own view of a case of a decide-first type, before the AI's
    suggestion is shown to them.

    Args:
        decision_id: The decision's id.
        verdict: What the reviewer would decide: ``"approve"``, ``"amend"`` or ``"reject"``.
        output: The output the reviewer would release (checked against the type's schema).
        note: Free text, kept in the audit trail.
        tenant: The caller's tenant when empty.
        seen_version: The ``Decision.version`` the reviewer was shown (as for ``decide``).

    Returns:
        The case as GetCase then answers it, the suggestion and ``own_view`` included.

    Raises:
        FailedPreconditionError: The type is not in decide-first mode, a view was already
            recorded, or the decision changed since ``seen_version``.
        AvalError: Any other refusal of the gateway.
    """
    request = review_pb2.RecordViewRequest(
        tenant=tenant,
        decision_id=decision_id,
        verdict=_choice(_VERDICTS, "verdict", verdict),
        note=note,
        seen_version=seen_version,
    )
    if output is not None:
        request.output.CopyFrom(to_struct(output, "output"))
    return UnaryCall("review", "RecordView", request, _case_of)


def _case_of(response: review_pb2.RecordViewResponse) -> review_pb2.GetCaseResponse:
    return response.case
