"""The requests of the reviewer registry (R11) and of ReloadConfiguration, for both clients.

Like :mod:`aval.clients.sdk.admin_calls`: each public function here has the signature and
docstring of the client method of the same name.
"""

from __future__ import annotations

from datetime import date

from aval.clients.sdk.calls import UnaryCall, _whole
from aval.v1 import admin_pb2

ALL_DECISION_TYPES = "*"


def _day(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else value


def set_reviewer_qualification(
    reviewer_id: str,
    *,
    decision_type: str,
    trained_on: date | str,
    delegated_by: str,
    valid_from: date | str,
    valid_until: date | str,
    reason: str,
    tenant: str = "",
) -> UnaryCall[admin_pb2.SetReviewerQualificationResponse]:
    """Grants a reviewer the power to review a decision type, or renews it.

    Days are calendar days of Europe/Paris, both ends included: the qualification is valid from
    00:00 on ``valid_from`` to 24:00 on ``valid_until`` (Paris time). Granting again replaces
    the one in force, which stays in the history (superseded).

    Args:
        reviewer_id: The reviewer's principal id.
        decision_type: A decision type of the tenant, or ``"*"`` for all of them.
        trained_on: The day of the reviewer's training for it (not after ``valid_from``).
        delegated_by: Name and role of the authority that delegated the power to review.
        valid_from: First day of validity.
        valid_until: Last day of validity.
        reason: Why, kept in the audit trail.
        tenant: The caller's tenant when empty.

    Returns:
        The qualification in force, and the one it renewed (``renewed``), if any.

    Raises:
        InvalidArgumentError: A field is invalid (each is named).
        PermissionDeniedError: The caller is not an administrator of the tenant.
        AvalError: Any other refusal of the gateway.
    """
    request = admin_pb2.SetReviewerQualificationRequest(
        tenant=tenant,
        reviewer_id=reviewer_id,
        decision_type=decision_type,
        trained_on=_day(trained_on),
        delegated_by=delegated_by,
        valid_from=_day(valid_from),
        valid_until=_day(valid_until),
        reason=reason,
    )
    return UnaryCall("admin", "SetReviewerQualification", request, _whole)


def revoke_reviewer_qualification(
    qualification_id: str, *, reason: str, tenant: str = ""
) -> UnaryCall[admin_pb2.ReviewerQualification]:
    """Revokes a qualification in force; it stays in the history.

    Args:
        qualification_id: The qualification's id.
        reason: Why, kept in the audit trail.
        tenant: The caller's tenant when empty.

    Returns:
        The qualification, revoked.

    Raises:
        NotFoundError: No such qualification.
        FailedPreconditionError: It is already revoked or renewed.
        AvalError: Any other refusal of the gateway.
    """
    request = admin_pb2.RevokeReviewerQualificationRequest(
        tenant=tenant, qualification_id=qualification_id, reason=reason
    )

    def unwrap(
        response: admin_pb2.RevokeReviewerQualificationResponse,
    ) -> admin_pb2.ReviewerQualification:
        return response.qualification

    return UnaryCall("admin", "RevokeReviewerQualification", request, unwrap)


def list_reviewer_qualifications(
    *, reviewer_id: str = "", history: bool = False, tenant: str = ""
) -> UnaryCall[admin_pb2.ListReviewerQualificationsResponse]:
    """Lists a tenant's reviewer qualifications.

    Args:
        reviewer_id: Only this reviewer's when given.
        history: Revoked and renewed qualifications too.
        tenant: The caller's tenant when empty.

    Returns:
        The qualifications, by reviewer and decision type, latest first.

    Raises:
        AvalError: The gateway refused the call.
    """
    request = admin_pb2.ListReviewerQualificationsRequest(
        tenant=tenant, reviewer_id=reviewer_id, history=history
    )
    return UnaryCall("admin", "ListReviewerQualifications", request, _whole)


def reload_configuration(
    *, reason: str, tenant: str = ""
) -> UnaryCall[admin_pb2.ReloadConfigurationResponse]:
    """Reads the review policies and grants files again, in every server process.

    Args:
        reason: Why, kept in the audit trail of every tenant.
        tenant: The caller's tenant when empty (the caller must administer it).

    Returns:
        Each part's new revisions, and whether anything changed.

    Raises:
        FailedPreconditionError: A file is invalid (``CONFIGURATION_INVALID`` names the file,
            line and fix); the configuration in force is kept.
        AvalError: Any other refusal of the gateway.
    """
    request = admin_pb2.ReloadConfigurationRequest(tenant=tenant, reason=reason)
    return UnaryCall("admin", "ReloadConfiguration", request, _whole)
