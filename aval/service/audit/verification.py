"""VerifyChain and VerifyTrail: a tenant's trail verified in one snapshot, with progress."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from aval.audit_store import checkpoints, cosignatures, trail, verify
from aval.service.deployment import Deployment
from aval.service.identity import Principal
from aval.service.requests.audit import VerifyIn
from aval.verifier.notes import parse_note, verify_signature
from aval.verifier.witness_policy import WitnessPolicy, check_witnesses

# Connections that check one tenant's events at once, all in one snapshot: hashing and parsing
# the events is most of the work, and PostgreSQL does it on as many cores.
VERIFY_CONNECTIONS = 3
# A verification takes the helpers it can get at once, and starts with fewer rather than wait.
_HELPER_WAIT_SECONDS = 0.25


@contextlib.asynccontextmanager
async def _helpers(
    pool: AsyncConnectionPool[AsyncConnection[Any]], conn: AsyncConnection[Any], count: int
) -> AsyncIterator[list[AsyncConnection[Any]]]:
    """Up to `count` more connections of the pool that see exactly what `conn`'s snapshot sees."""
    helpers: list[AsyncConnection[Any]] = []
    async with contextlib.AsyncExitStack() as stack:
        if count > 0:
            snapshot = await verify.export_snapshot(conn)
        for _ in range(count):
            try:
                helper = await stack.enter_async_context(
                    pool.connection(timeout=_HELPER_WAIT_SECONDS)
                )
            except PoolTimeout:
                break
            await stack.enter_async_context(helper.transaction())
            await verify.join_snapshot(helper, snapshot)
            helpers.append(helper)
        yield helpers


async def verify_tenant_trail(
    deployment: Deployment,
    tenant: str,
    *,
    since: datetime | None = None,
    on_progress: verify.Progress | None = None,
    policy: WitnessPolicy | None = None,
) -> verify.Report:
    """Chain, signed checkpoints, head and decisions of one tenant, as of one instant, and
    the checkpoints' cosignatures against a witness policy when one is given."""
    signer = deployment.signer
    signature_ok = None
    if signer is not None:
        key = signer.public_key_raw

        def signature_ok(note: bytes, signature: bytes) -> bool:
            return verify_signature(key, note, signature)

    # One snapshot: events, checkpoints, chain head and decisions as of one instant, or
    # concurrent writes would look like tampering.
    store = deployment.store
    async with (
        store.snapshot() as conn,
        _helpers(store.pool, conn, VERIFY_CONNECTIONS - 1) as helpers,
    ):
        signed = await cosignatures.attach(conn, await checkpoints.list_all(conn, tenant))
        report = await verify.verify_tenant(
            conn,
            tenant,
            checkpoints=signed,
            signature_ok=signature_ok,
            parse_note=parse_note,
            since=since,
            on_progress=on_progress,
            helpers=helpers,
        )
    if policy is not None:
        check_witnesses(report, tenant, signed, policy)
    return report


async def verify_chain(
    deployment: Deployment, principal: Principal, request: VerifyIn
) -> verify.Report:
    """Verifies the caller's (or a granted) tenant's trail (I3)."""
    tenant = deployment.tenant_for(principal, request.tenant, "audit.verify")
    return await verify_tenant_trail(deployment, tenant, since=request.since, policy=request.policy)


async def verify_with_progress(
    deployment: Deployment, principal: Principal, request: VerifyIn
) -> AsyncIterator[tuple[int, int] | verify.Report]:
    """Yields (events checked, events total) while verifying, then the report."""
    tenant = deployment.tenant_for(principal, request.tenant, "audit.verify")
    async with deployment.store.reading() as conn:
        head = await trail.chain_head(conn, tenant)
    total = head[0] if head else 0
    progress: asyncio.Queue[int] = asyncio.Queue()
    task = asyncio.create_task(
        verify_tenant_trail(
            deployment,
            tenant,
            since=request.since,
            on_progress=progress.put_nowait,
            policy=request.policy,
        )
    )
    try:
        while not task.done():
            waiter = asyncio.ensure_future(progress.get())
            await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
            if waiter.done():
                yield waiter.result(), total
            else:
                waiter.cancel()
        yield await task
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
