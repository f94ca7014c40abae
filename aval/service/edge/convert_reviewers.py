"""Wire forms of the reviewer registry and of a configuration reload (admin.proto)."""

from __future__ import annotations

from aval.audit_store.reviewers import QualificationRecord
from aval.service.configuration import Revision
from aval.service.edge.convert import timestamp
from aval.v1 import admin_pb2


def qualification(r: QualificationRecord) -> admin_pb2.ReviewerQualification:
    return admin_pb2.ReviewerQualification(
        tenant=r.tenant_id,
        id=str(r.id),
        reviewer_id=r.reviewer_id,
        decision_type=r.decision_type,
        trained_on=r.trained_on.isoformat(),
        delegated_by=r.delegated_by,
        valid_from=r.valid_from.isoformat(),
        valid_until=r.valid_until.isoformat(),
        granted_by=r.granted_by,
        granted_at=timestamp(r.granted_at),
        reason=r.reason,
        renews=str(r.renews) if r.renews else "",
        superseded_at=timestamp(r.superseded_at),
        superseded_by=str(r.superseded_by) if r.superseded_by else "",
        revoked_at=timestamp(r.revoked_at),
        revoked_by=r.revoked_by or "",
        revoke_reason=r.revoke_reason or "",
    )


def configuration_part(part: Revision) -> admin_pb2.ConfigurationPart:
    return admin_pb2.ConfigurationPart(
        name=part.name, revisions=part.revisions, changed=part.changed
    )
