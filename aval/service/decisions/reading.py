"""GetDecision, WatchDecision and ListQueue: reading decisions and waiting for their outcome."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aval.audit_store import decisions
from aval.audit_store.records import Decision
from aval.service.deployment import Deployment
from aval.service.errors import page_position
from aval.service.identity import Principal
from aval.service.requests.decisions import DecisionRef, ListQueueIn

# A watcher re-reads at least this often even without a notification (a safety net only).
_WATCH_FALLBACK_SECONDS = 30.0


async def get_decision(
    deployment: Deployment, principal: Principal, request: DecisionRef
) -> Decision:
    tenant = deployment.tenant_for(principal, request.tenant, "decision.read")
    async with deployment.store.reading() as conn:
        return await decisions.get(conn, tenant, request.decision_id)


async def watch_decision(
    deployment: Deployment, principal: Principal, request: DecisionRef
) -> AsyncIterator[Decision]:
    """Yields the decision now and after each change, through any replica; ends when final."""
    tenant = deployment.tenant_for(principal, request.tenant, "decision.read")
    # Subscribe before the first read, so that no change between the two is missed.
    with deployment.listener.watch(tenant, request.decision_id) as changed:
        seen = 0
        while True:
            changed.clear()
            async with deployment.store.reading() as conn:
                d = await decisions.get(conn, tenant, request.decision_id)
            if d.version != seen:
                seen = d.version
                yield d
            if d.state.is_final:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), _WATCH_FALLBACK_SECONDS)


async def list_queue(
    deployment: Deployment, principal: Principal, request: ListQueueIn
) -> tuple[list[Decision], str]:
    """A page of pending decisions, earliest deadline first, and the token of the next page."""
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
        )
    more = len(page) > request.page_size
    page = page[: request.page_size]
    token = decisions.encode_page_token(page[-1].deadline, page[-1].id) if more else ""
    return page, token
