"""Health that follows the database: a periodic probe of the main pool sets every service
SERVING while the database answers and NOT_SERVING while it cannot be used."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from grpc_health.v1 import health_pb2

from aval.audit_store import Store

log = logging.getLogger(__name__)


async def follow_database(
    store: Store, health: Any, services: Sequence[str], interval_seconds: float
) -> None:
    """Probes the database every `interval_seconds` until cancelled; sets the health of
    `services` (on the grpc health servicer `health`) when the answer changes.

    A probe waits for a connection of the main pool too: a pool that stays exhausted for the
    probe's time (the interval, at least a second) cannot serve either.
    """
    serving = True
    probe_seconds = max(interval_seconds, 1.0)
    while True:
        await asyncio.sleep(interval_seconds)
        usable = await store.ping(probe_seconds)
        if usable == serving:
            continue
        serving = usable
        if usable:
            log.info("the database answers again: SERVING")
        else:
            log.warning("the database cannot be used: NOT_SERVING until it answers")
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if usable
            else (health_pb2.HealthCheckResponse.NOT_SERVING)
        )
        for name in services:
            await health.set(name, status)
