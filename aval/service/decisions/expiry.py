"""Deadlines: a background task marks overdue decisions EXPIRED; a deadline never approves (I1)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from aval.audit_store import Store, decisions, trail
from aval.audit_store.chain import NewEvent
from aval.audit_store.records import SYSTEM_ACTOR, DecisionState
from aval.service.cancelling import stop_if_asked
from aval.service.clock import Clock
from aval.service.webhooks.outcomes import Outcomes
from aval.verifier.chain import utc_iso

log = logging.getLogger(__name__)
_BATCH = 200


async def expire_overdue(store: Store, clock: Clock, outcomes: Outcomes | None = None) -> int:
    """Expires one batch of overdue decisions with their audit events; returns how many.

    With `outcomes`, each expiry is also enqueued for its application's webhook, if any.

    Safe with several replicas: rows another replica is expiring are skipped (SKIP LOCKED) and
    a decision is expired only while still pending.
    """
    async with store.transaction() as conn:
        now = clock.now()
        overdue = await decisions.lock_overdue(conn, now, _BATCH)
        by_tenant: dict[str, list[NewEvent]] = defaultdict(list)
        for d in overdue:
            d.state, d.finalized_at, d.updated_at = DecisionState.EXPIRED, now, now
            d.claimed_by, d.claim_expires_at = None, None
            by_tenant[d.tenant_id].append(
                NewEvent(
                    "decision.expired",
                    SYSTEM_ACTOR,
                    d.id,
                    {
                        "deadline": utc_iso(d.deadline),
                        "approvals": d.approvals,
                        "required_approvals": d.required_approvals,
                        "decision_state": DecisionState.EXPIRED.value,
                        "decision_version": d.version + 1,
                    },
                )
            )
            await decisions.save(conn, d)
        for tenant, events in sorted(by_tenant.items()):
            if outcomes is None:
                await trail.append_events(conn, tenant, events, occurred_at=now, trace_id="")
            else:
                expired = {d.id: d for d in overdue}
                await outcomes.append(conn, tenant, events, expired, occurred_at=now, trace_id="")
    return len(overdue)


async def run_expiry(
    store: Store, clock: Clock, interval: float, outcomes: Outcomes | None = None
) -> None:
    """Runs until cancelled: expires overdue decisions every `interval` seconds."""
    while True:
        try:
            while await expire_overdue(store, clock, outcomes) == _BATCH:
                pass
        except asyncio.CancelledError:
            raise
        except Exception:  # the sweeper must outlive a database restart; logged, retried
            log.exception("expiring overdue decisions failed; retrying in %.1fs", interval)
        stop_if_asked()
        await asyncio.sleep(interval)
