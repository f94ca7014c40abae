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


async def thin_checkpoints(deployment: Deployment) -> ThinningPass:
    """Deletes every tenant's checkpoints the retention rule drops, then compacts the witness
    file by the same rule, both at one time of the deployment's clock.

    Each tenant is thinned in its own transaction, through `thin_checkpoints` (migration
    0028), which never deletes a tenant's first nor latest checkpoint. The witness file is
    thinned with the database's checkpoints in view (which are cosigned, and which another
    replica signed), so that both keep what verification expects of them.

    Args:
        deployment: The running deployment.

    Returns:
        The counts of the pass (also logged at INFO).
    """
    store, now = deployment.store, deployment.clock.now()
    async with store.reading() as conn:
        tenants = await checkpoint_retention.tenants_with_checkpoints(conn)
    stored: dict[str, list[RetainedPoint]] = {}
    deleted = kept = 0
    for tenant in tenants:
        async with store.transaction() as conn:
            points = await checkpoint_retention.points(conn, tenant)
            keep = retained(points, now)
            drop = [p.tree_size for p in points if p.tree_size not in keep]
            gone = await checkpoint_retention.thin(conn, tenant, drop)
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
