"""VerifyChain and VerifyTrail: a tenant's trail verified in one snapshot, with progress."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from aval.audit_store import (
    checkpoint_retention,
    checkpoints,
    cosignatures,
    seals,
    trail,
    verify,
    webhook_outbox,
)
from aval.audit_store.checkpoints import CheckpointRecord
from aval.audit_store.seals import Adoption, Sealer
from aval.service.audit.witness_file import read_witnessed, witness_path
from aval.service.deployment import Deployment
from aval.service.identity import Principal
from aval.service.requests.audit import VerifyIn
from aval.verifier.chain import GENESIS_HASH, utc_iso
from aval.verifier.chain_verifier import Problem
from aval.verifier.notes import parse_note, verify_signature
from aval.verifier.retention import retained, union
from aval.verifier.witness_policy import WitnessPolicy, check_witnesses

# Connections that check one tenant's events at once, all in one snapshot: hashing and parsing
# the events is most of the work, and PostgreSQL does it on as many cores.
VERIFY_CONNECTIONS = 3

# How far ahead of this server's clock a checkpoint may be dated (another replica's clock).
FUTURE_TOLERANCE = timedelta(minutes=5)
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
    strict: bool = False,
    on_progress: verify.Progress | None = None,
    policy: WitnessPolicy | None = None,
) -> verify.Report:
    """Chain, signed checkpoints, head and decisions of one tenant, as of one instant, and
    the checkpoints' cosignatures against a witness policy when one is given.

    With the deployment's key, also names the events after the last checkpoint that no seal
    of this service covers (`unsealed_events`: a forged tail) and the checkpoints its witness
    file holds that the database lost (`checkpoint_missing`). `strict` makes events that no
    signature covers yet a problem (`unsigned_events`).
    """
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
            key_id=signer.key_id if signer is not None else "",
        )
        sealer = store.sealer
        if sealer is not None:
            adoptions = deployment.adoptions or {}
            first = await _first_unsealed(conn, sealer, tenant, signed, adoptions.get(tenant))
            if first:
                report.problems.append(
                    Problem(
                        "unsealed_events",
                        tenant,
                        first,
                        "",
                        f"events from seq {first} on are covered by no seal of this service: "
                        "appended behind its back (or their seals removed); they are never "
                        "signed",
                    )
                )
            report.problems.extend(await _unsealed_outbox(conn, sealer, tenant))
    report.problems.extend(_dated_ahead(tenant, signed, deployment.clock.now()))
    if signer is not None:
        report.problems.extend(await _dropped_checkpoints(deployment, tenant, signed))
    if policy is not None:
        check_witnesses(report, tenant, signed, policy)
    if strict:
        report.require_signed(tenant)
    return report


def _dated_ahead(tenant: str, signed: Sequence[CheckpointRecord], now: datetime) -> list[Problem]:
    """Checkpoints signed later than this server's time now, give or take the replicas' clocks
    (`checkpoint_from_future`). A checkpoint is signed at its signing time, so one dated ahead
    was either signed by a clock gone wrong or forged (a row anyone with the service's role can
    insert; its signature is checked besides). It matters beyond its date: the database thins
    checkpoints as of the latest signing time at most (migration 0029), so a checkpoint dated
    years ahead would let thinning drop what the rule keeps today; and it is never deleted, as
    the latest."""
    limit = now + FUTURE_TOLERANCE
    return [
        Problem(
            "checkpoint_from_future",
            tenant,
            c.tree_size,
            "",
            f"the checkpoint of {c.tree_size} events is dated {utc_iso(c.issued_at)}, after this "
            f"server's time ({utc_iso(now)}): a clock gone wrong or a forgery, and the "
            "retention rule would thin as of that date",
        )
        for c in signed
        if c.issued_at > limit
    ]


async def _unsealed_outbox(
    conn: AsyncConnection[Any], sealer: Sealer, tenant: str
) -> list[Problem]:
    """The tenant's webhook outbox rows whose payload is not the one the service sealed
    (`webhook_payload_mismatch`): a sealed row whose seal or payload no longer agree, or a row
    without a seal the worker refuses (pending, or dead for that reason). Rows enqueued without
    a seal before the upgrade or without a key, and settled otherwise, are not named."""
    found: list[Problem] = []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT tenant_id, id, decision_id, application_id, payload, created_at, attempts,"
            " next_attempt_at, delivered_at, dead_at, last_error, body, seal"
            " FROM webhook_outbox WHERE tenant_id = %s AND (seal IS NOT NULL"
            " OR (delivered_at IS NULL AND (dead_at IS NULL OR last_error = %s)))"
            " ORDER BY created_at, id",
            (tenant, webhook_outbox.PAYLOAD_NOT_SEALED),
        )
        async for row in cur:
            entry = webhook_outbox.OutboxEntry(**row)
            if webhook_outbox.sealed_body(entry, sealer) is None:
                found.append(
                    Problem(
                        "webhook_payload_mismatch",
                        tenant,
                        0,
                        str(entry.decision_id),
                        f"webhook outbox row {entry.id} ({entry.status}): its payload is not the "
                        "one the service sealed (edited in the database, or its seal removed); "
                        "it is never delivered",
                    )
                )
    return found


async def _first_unsealed(
    conn: AsyncConnection[Any],
    sealer: Sealer,
    tenant: str,
    signed: Sequence[CheckpointRecord],
    adoption: Adoption | None,
) -> int:
    """The first event after the last checkpoint that no chain of seals covers (0: none).

    The chain itself is checked by the verification; here only the stored hashes at the
    ends of the sealed ranges are compared with the seals."""
    base_size = signed[-1].tree_size if signed else 0
    base_head = signed[-1].head_hash if signed else GENESIS_HASH
    head = await trail.chain_head(conn, tenant)
    head_seq = head[0] if head else 0
    if head_seq <= base_size:
        return 0
    found = await seals.seals_after(conn, tenant, base_size)
    plan = seals.plan(sealer, tenant, base_size, base_head, head_seq, found, adoption)
    ends = sorted(seq for seq in plan.boundaries if seq > base_size)
    cur = await conn.execute(
        "SELECT seq, hash FROM audit_events WHERE tenant_id = %s AND seq = ANY(%s)",
        (tenant, ends),
    )
    stored = {row[0]: bytes(row[1]) for row in await cur.fetchall()}
    start = base_size + 1
    for seq in ends:
        if stored.get(seq) != plan.boundaries[seq]:
            return start
        start = seq + 1
    return plan.first_unsealed


async def _dropped_checkpoints(
    deployment: Deployment, tenant: str, signed: Sequence[CheckpointRecord]
) -> list[Problem]:
    """Checkpoints of the tenant that this server's witness file holds, that the database no
    longer does, and that the retention rule keeps (`checkpoint_missing`).

    The rule is applied, at the deployment's time now, to the checkpoints of both the file and
    the database: the thinning applied it earlier to the same checkpoints, and what it dropped
    then the rule still drops (verifier/retention.py), so only a checkpoint removed otherwise
    is named."""
    path = witness_path(deployment.settings)
    witnessed = await asyncio.to_thread(read_witnessed, path, tenant)
    stored = {(c.tree_size, c.root_hash.hex()) for c in signed}
    missing = [w for w in witnessed if (w.tree_size, w.root_hash) not in stored]
    if missing:  # signed meanwhile: the witness line is written just before the commit
        async with deployment.store.reading() as conn:
            now = await checkpoints.list_all(conn, tenant)
            points = await checkpoint_retention.points(conn, tenant)
        stored |= {(c.tree_size, c.root_hash.hex()) for c in now}
        missing = [w for w in missing if (w.tree_size, w.root_hash) not in stored]
        # Read after the database: no thinning pass ran later than this time.
        kept = retained(union(points, (w.point for w in witnessed)), deployment.clock.now())
        missing = [w for w in missing if w.tree_size in kept]
    return [
        Problem(
            "checkpoint_missing",
            tenant,
            size,
            "",
            f"the checkpoint of {size} events signed by this server (in its witness file "
            f"{path}) is no longer in the database, and the retention rule keeps it",
        )
        for size in sorted({w.tree_size for w in missing})
    ]


async def verify_chain(
    deployment: Deployment, principal: Principal, request: VerifyIn
) -> verify.Report:
    """Verifies the caller's (or a granted) tenant's trail (I3)."""
    tenant = deployment.tenant_for(principal, request.tenant, "audit.verify")
    return await verify_tenant_trail(
        deployment, tenant, since=request.since, strict=request.strict, policy=request.policy
    )


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
            strict=request.strict,
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
