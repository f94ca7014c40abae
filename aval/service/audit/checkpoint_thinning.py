"""The checkpoints' retention: a periodic pass thins each tenant's checkpoints, in the database
and in the witness file, by the rule of verifier/retention.py (docs/signing.md)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aval.audit_store import checkpoint_retention
from aval.service import cancelling
from aval.service.audit.witness_file import compact, witness_path
from aval.service.deployment import Deployment
from aval.verifier.retention import RetainedPoint, retained, union

log = logging.getLogger(__name__)

BATCH = 5_000
"""Tree sizes sent to `thin_checkpoints` per call, each call in its own transaction: after
months without a pass a tenant may have a million to drop, which one array and one DELETE
would hold locks and memory for at once."""


@dataclass(frozen=True)
class ThinningPass:
    """What one pass did.

    Attributes:
        tenants: Tenants looked at.
        deleted: Checkpoints deleted from the database.
        kept: Checkpoints the database keeps.
        witness_kept: Lines the witness file keeps.
        witness_dropped: Lines dropped from it.
    """

    tenants: int
    deleted: int
    kept: int
    witness_kept: int
    witness_dropped: int


async def thin_checkpoints(deployment: Deployment, *, batch: int = BATCH) -> ThinningPass:
    """Deletes every tenant's checkpoints the retention rule drops, then compacts the witness
    file by the same rule, both at one time of the deployment's clock.

    The sizes to drop go to `thin_checkpoints` (migrations 0028 and 0029) `batch` at a time,
    each batch in its own transaction. The database applies the rule again over its own rows
    and deletes none it keeps, whatever the service asks, at the deployment's time but never
    later than both its own clock and the tenant's latest signing time; a size it keeps (a
    database clock behind the service's) goes at a later pass. The witness file is thinned with
    the database's checkpoints in view (which are cosigned, and which another replica signed),
    so that both keep what verification expects of them.

    Args:
        deployment: The running deployment.
        batch: Tree sizes per call and transaction.

    Returns:
        The counts of the pass (also logged at INFO).
    """
    store, now = deployment.store, deployment.clock.now()
    async with store.reading() as conn:
        tenants = await checkpoint_retention.tenants_with_checkpoints(conn)
    stored: dict[str, list[RetainedPoint]] = {}
    deleted = kept = 0
    for tenant in tenants:
        async with store.reading() as conn:
            points = await checkpoint_retention.points(conn, tenant)
        keep = retained(points, now)
        drop = [p.tree_size for p in points if p.tree_size not in keep]
        gone = 0
        for start in range(0, len(drop), batch):
            async with store.transaction() as conn:
                chunk = drop[start : start + batch]
                gone += await checkpoint_retention.thin(conn, tenant, chunk, now)
        stored[tenant] = points
        deleted, kept = deleted + gone, kept + len(points) - gone

    def kept_of(tenant: str, witnessed: list[RetainedPoint]) -> frozenset[int]:
        return retained(union(stored.get(tenant, ()), witnessed), now)

    path = witness_path(deployment.settings)
    lines_kept, lines_dropped = await asyncio.to_thread(compact, path, kept_of)
    done = ThinningPass(len(tenants), deleted, kept, lines_kept, lines_dropped)
    log.info(
        "checkpoint retention: %d tenant(s), %d checkpoint(s) thinned, %d kept; witness file "
        "%s: %d line(s) dropped, %d kept",
        done.tenants,
        done.deleted,
        done.kept,
        path,
        done.witness_dropped,
        done.witness_kept,
    )
    return done


def start_thinning(deployment: Deployment) -> asyncio.Task[None] | None:
    """Starts the periodic thinning, unless its interval is 0.

    Returns:
        The task, to give to `cancelling.stop`; None when not started.
    """
    interval = deployment.settings.checkpoint_thinning_interval_seconds
    if interval <= 0:
        return None
    return asyncio.create_task(run_thinning(deployment, interval), name="aval-thinning")


async def run_thinning(deployment: Deployment, interval: float) -> None:
    """Runs until cancelled: thins the checkpoints every `interval` seconds, the first time
    one interval after start-up."""
    while True:
        await asyncio.sleep(interval)
        try:
            await thin_checkpoints(deployment)
        except asyncio.CancelledError:
            raise
        except Exception:  # must outlive a database restart; logged, retried
            log.exception("thinning the checkpoints failed; retrying in %.1fs", interval)
        cancelling.stop_if_asked()
