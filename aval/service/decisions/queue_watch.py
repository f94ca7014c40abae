"""WatchQueue: the changes of a tenant's review queue as they happen, to its supervisors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aval.audit_store import queue_changes
from aval.audit_store.queue_changes import QueueChange
from aval.service.deployment import Deployment
from aval.service.errors import ResourceExhausted
from aval.service.identity import Principal
from aval.service.requests import TenantIn

# A watcher re-reads at least this often even without a notification (a safety net only: a
# notification lost while the listener reconnects wakes every watcher anyway).
_FALLBACK_SECONDS = 30.0


async def watch_queue(
    deployment: Deployment, principal: Principal, request: TenantIn
) -> AsyncIterator[QueueChange]:
    """Yields each change of the tenant's queue from now on, through any replica, until the
    caller hangs up or the server stops.

    Carries identifiers and versions only (no personal data), so it is not journaled: the
    cases themselves are read, and journaled, through GetCase or ListQueue.

    Raises:
        PermissionDenied: the caller may not watch the tenant's queue (I5).
        ResourceExhausted: QUEUE_WATCHERS_FULL, this process serves as many as it may.
    """
    tenant = deployment.tenant_for(principal, request.tenant, "queue.watch")
    limit = deployment.settings.max_queue_watchers
    listener = deployment.listener
    if listener.tenant_watchers >= limit:
        raise ResourceExhausted("QUEUE_WATCHERS_FULL", limit=limit)
    # Subscribe before reading where the trail stands, so that no change between is missed.
    with listener.watch_tenant(tenant) as changed:
        async with deployment.store.reading() as conn:
            after = await queue_changes.head(conn, tenant)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), _FALLBACK_SECONDS)
            changed.clear()
            while True:
                async with deployment.store.reading() as conn:
                    last, changes = await queue_changes.since(conn, tenant, after)
                for change in changes:
                    yield change
                if last == after:
                    break
                after = last
