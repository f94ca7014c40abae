"""Outcomes enqueued before the outbox was sealed, adopted once (docs/webhooks.md).

With a signing key, the delivery worker sends only rows whose seal verifies. Rows enqueued by a
version that did not seal them (before migration 0026), or while the deployment had no key,
have none: on the first start with a key, before serving, the rows still to deliver are sealed
as they are, logged as a warning and the adoption recorded in `outbox_adoptions.jsonl` beside
the witness file. Later starts read that record and seal nothing: a seal removed afterwards in
the database makes the row undeliverable (PAYLOAD_NOT_SEALED), never adopted.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from aval.audit_store import webhook_outbox
from aval.service.audit.witness_file import append_line, witness_path
from aval.service.deployment import Deployment
from aval.service.settings import Settings
from aval.verifier.chain import utc_iso

log = logging.getLogger(__name__)


def adoptions_path(settings: Settings) -> Path:
    """`outbox_adoptions.jsonl` beside the witness file."""
    return witness_path(settings).with_name("outbox_adoptions.jsonl")


async def settle_outbox_adoption(deployment: Deployment) -> None:
    """Seals, once, the unsealed rows still to deliver (see the module's docstring).

    Args:
        deployment: The deployment, with a signing key (hence a sealer).
    """
    sealer = deployment.store.sealer
    path = adoptions_path(deployment.settings)
    if sealer is None or await asyncio.to_thread(path.exists):
        return
    async with deployment.store.transaction() as conn:
        counts = await webhook_outbox.seal_pending(conn, sealer)
    for tenant, count in sorted(counts.items()):
        log.warning(
            "adopting %d webhook outcomes of tenant %s still to deliver: enqueued before the "
            "outbox was sealed (an upgrade, or a signing key added), they are sealed as they "
            "are now, without proof that the service wrote them; recorded in %s",
            count,
            tenant,
            path,
        )
    line = {"adopted": dict(sorted(counts.items())), "recorded_at": utc_iso(deployment.clock.now())}
    data = json.dumps(line, sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n"
    await asyncio.to_thread(append_line, path, data)
