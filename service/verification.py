"""VerifyChain and VerifyTrail: a tenant's trail verified in one snapshot, with progress."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from aval.audit_store import checkpoints, trail, verify

from .deployment import Deployment
from .identity import Principal
from .requests import Request
from .signing import parse_note, verify_signature


class VerifyIn(Request):
    tenant: str = ""
    since: datetime | None = None


async def verify_tenant_trail(
    deployment: Deployment,
    tenant: str,
    *,
    since: datetime | None = None,
    on_progress: verify.Progress | None = None,
) -> verify.Report:
    """Chain, signed checkpoints, head and decisions of one tenant, as of one instant."""
    signer = deployment.signer
    signature_ok = None
    if signer is not None:
        key = signer.public_key_raw

        def signature_ok(note: bytes, signature: bytes) -> bool:
            return verify_signature(key, note, signature)

    # One snapshot: events, checkpoints, chain head and decisions as of one instant, or
    # concurrent writes would look like tampering.
    async with deployment.store.snapshot() as conn:
        signed = await checkpoints.list_all(conn, tenant)
        return await verify.verify_tenant(
            conn,
            tenant,
            checkpoints=signed,
            signature_ok=signature_ok,
            parse_note=parse_note,
            since=since,
            on_progress=on_progress,
        )


async def verify_chain(
    deployment: Deployment, principal: Principal, request: VerifyIn
) -> verify.Report:
    """Verifies the caller's (or a granted) tenant's trail (I3)."""
    tenant = deployment.tenant_for(principal, request.tenant, "audit.verify")
    return await verify_tenant_trail(deployment, tenant, since=request.since)


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
            deployment, tenant, since=request.since, on_progress=progress.put_nowait
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
