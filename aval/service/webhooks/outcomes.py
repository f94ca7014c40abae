"""Enqueuing outcomes: the event that makes a decision final and its outbox row, together.

Every writer of a final event (a verdict that closes a decision, the deadline sweeper) appends
through `Outcomes.append`, in its own transaction: the row is committed exactly when the event
is, or neither is (at-least-once from here, never an outcome the trail does not hold).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from aval.audit_store import trail, webhook_outbox
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import Decision, Verdict
from aval.policies import PolicyBook
from aval.service.ai.egress import EgressPolicy, WebhookTarget
from aval.verifier.chain import utc_iso

# The events after which the application must learn the outcome.
FINAL_KINDS = frozenset({"decision.finalized", "decision.expired"})


def payload(
    event: Mapping[str, Any], d: Decision, notice: tuple[str, str] | None
) -> dict[str, Any]:
    """What the application receives (Standard Webhooks' type, timestamp, data): no input, no
    suggestion; the reviewers by their pseudonymous ids; the notice as GetDecision gives it."""
    data: dict[str, Any] = {
        "event_id": event["event_id"],
        "tenant": d.tenant_id,
        "decision_id": str(d.id),
        "decision_type": d.decision_type,
        "idempotency_key": d.idempotency_key,
        "state": d.state.value,
        "outcome": d.outcome,
        "validated_by": [r.reviewer_id for r in d.reviews if r.verdict is not Verdict.REJECT],
        "rejected_by": [r.reviewer_id for r in d.reviews if r.verdict is Verdict.REJECT],
        "created_at": utc_iso(d.created_at),
        "deadline": utc_iso(d.deadline),
        "finalized_at": utc_iso(d.finalized_at) if d.finalized_at else None,
        "notice": None if notice is None else {"language": notice[0], "text": notice[1]},
    }
    return {"type": event["kind"], "timestamp": event["occurred_at"], "data": data}


class Outcomes:
    """Appends events to the trail and, for final ones, enqueues the outcome for the
    proposing application when the operator gave it a webhook."""

    def __init__(self, egress: EgressPolicy, policies: PolicyBook) -> None:
        self._egress = egress
        self._policies = policies

    def target(self, d: Decision) -> WebhookTarget | None:
        return self._egress.webhook(d.tenant_id, d.proposer_id)

    async def append(
        self,
        conn: AsyncConnection[Any],
        tenant: str,
        events: Sequence[NewEvent],
        decisions: Mapping[uuid.UUID, Decision],
        *,
        occurred_at: datetime,
        trace_id: str,
    ) -> None:
        """`trail.append_events`, plus an outbox row per final event of a decision in
        `decisions` whose application has a webhook, in the caller's transaction."""
        encoded = [e.canonical(tenant, occurred_at, trace_id) for e in events]
        await trail.append_encoded(conn, tenant, encoded)
        for event, data in zip(events, encoded, strict=True):
            d = decisions.get(event.decision_id) if event.decision_id else None
            if event.kind not in FINAL_KINDS or d is None:
                continue
            target = self.target(d)
            if target is None:
                continue
            policy = self._policies.get(d.tenant_id, d.decision_type)
            notice = (
                policy.notice_text(target.language) if policy and d.state.takes_effect else None
            )
            body = json.loads(data)
            await webhook_outbox.enqueue(
                conn,
                tenant_id=tenant,
                event_id=uuid.UUID(body["event_id"]),
                decision_id=d.id,
                application_id=d.proposer_id,
                payload=payload(body, d, notice),
                now=occurred_at,
            )
