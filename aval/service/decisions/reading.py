"""GetDecision, WatchDecision and ListQueue: reading decisions and waiting for their outcome."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from aval.audit_store import decisions
from aval.audit_store.records import Decision
from aval.service.audit.access_journal import journal_read, summary
from aval.service.decisions.review_modes import shown_one, shown_page
from aval.service.deployment import Deployment
from aval.service.errors import page_position
from aval.service.identity import Principal
from aval.service.requests.decisions import DecisionRef, ListQueueIn

# A decision due within this time counts as near its deadline (QueueCounts).
NEAR_DEADLINE = timedelta(hours=24)
# A watcher re-reads at least this often even without a notification (a safety net only).
_WATCH_FALLBACK_SECONDS = 30.0


async def get_decision(
    deployment: Deployment, principal: Principal, request: DecisionRef
) -> Decision:
    """The decision, less what its review modes withhold from the caller for now."""
    tenant = deployment.tenant_for(principal, request.tenant, "decision.read")
    async with deployment.store.reading() as conn:
        d = await decisions.get(conn, tenant, request.decision_id)
        d = (await shown_one(conn, deployment.policies, principal, d)).decision
    await journal_read(deployment, principal, [tenant], "decision.get", decisions=[d.id])
    return d


async def watch_decision(
    deployment: Deployment, principal: Principal, request: DecisionRef
) -> AsyncIterator[Decision]:
    """Yields the decision now and after each change, through any replica; ends when final.

    The watch is journaled once, before the first version is sent (R13). Each version is
    shown less what its review modes withhold from the caller at that time.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "decision.read")
    # Subscribe before the first read, so that no change between the two is missed.
    with deployment.listener.watch(tenant, request.decision_id) as changed:
        seen = 0
        while True:
            changed.clear()
            async with deployment.store.reading() as conn:
                d = await decisions.get(conn, tenant, request.decision_id)
                d = (await shown_one(conn, deployment.policies, principal, d)).decision
            if d.version != seen:
                if not seen:
                    await journal_read(
                        deployment, principal, [tenant], "decision.watch", decisions=[d.id]
                    )
                seen = d.version
                yield d
            if d.state.is_final:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), _WATCH_FALLBACK_SECONDS)


async def list_queue(
    deployment: Deployment, principal: Principal, request: ListQueueIn
) -> tuple[list[Decision], str, decisions.QueueCounts]:
    """A page of pending decisions, earliest deadline first, the token of the next page and
    the counts of the tenant's queue; each decision less what its review modes withhold from
    the caller for now.

    Each decision the page shows is journaled as read (R13): a listing shows the cases, and the
    journal must answer who saw a given case.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "queue.list")
    after = page_position(request.page_token, decisions.decode_page_token)
    async with deployment.store.reading() as conn:
        page = await decisions.list_pending(
            conn,
            tenant,
            decision_type=request.decision_type or None,
            actionable_for=principal.id if request.actionable_only else None,
            now=deployment.clock.now(),
            after=after,
            limit=request.page_size + 1,
            claimed_by=principal.id if request.claimed_by_me else None,
            deadline_before=request.deadline_before,
            not_seen_by=principal.id if request.not_seen_by_me else None,
        )
        page = await shown_page(conn, deployment.policies, principal, tenant, page)
        now = deployment.clock.now()
        counts = await decisions.queue_counts(conn, tenant, principal.id, now, now + NEAR_DEADLINE)
    more = len(page) > request.page_size
    page = page[: request.page_size]
    token = decisions.encode_page_token(page[-1].deadline, page[-1].id) if more else ""
    filters = summary(
        {
            "decision_type": request.decision_type,
            "actionable_only": request.actionable_only,
            "claimed_by_me": request.claimed_by_me,
            "deadline_before": request.deadline_before,
            "not_seen_by_me": request.not_seen_by_me,
        }
    )
    await journal_read(
        deployment,
        principal,
        [tenant],
        "queue.list",
        decisions=[d.id for d in page],
        filters=filters,
    )
    return page, token, counts
