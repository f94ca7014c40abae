"""The delivery worker: POSTs due outbox rows, signed, through the egress guard; retries with
exponential backoff and jitter until a 2xx, the attempts or the age allowed run out (dead).

At least once: a row leaves the outbox only on a 2xx (recorded after it), so a receiver may see
an outcome twice only when that record is lost; receivers dedupe by `webhook-id`. Several
workers and replicas share the outbox: each leased row is theirs alone until its lease ends.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from psycopg import AsyncConnection

from aval.audit_store import Store, webhook_outbox
from aval.audit_store.webhook_outbox import OutboxEntry
from aval.service.ai.backends.guarded_http import GuardedTransport
from aval.service.ai.egress import EgressPolicy, EgressRefused
from aval.service.cancelling import stop_if_asked
from aval.service.clock import Clock
from aval.service.settings import Settings
from aval.service.webhooks.signing import headers, signing_key

log = logging.getLogger(__name__)
_BATCH = 20

# Why an attempt failed when the receiver gave no HTTP status (stored as `last_error`).
NOT_CONFIGURED = "NOT_CONFIGURED"
SECRET_UNUSABLE = "SECRET_UNUSABLE"
CONNECT_FAILED = "CONNECT_FAILED"
TIMEOUT = "TIMEOUT"
TRANSPORT_ERROR = "TRANSPORT_ERROR"
# The row's seal is missing or does not verify (edited in the database): never sent, dead.
PAYLOAD_NOT_SEALED = webhook_outbox.PAYLOAD_NOT_SEALED


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often an outcome is retried (AVAL_WEBHOOK_* settings)."""

    base_seconds: float
    max_delay_seconds: float
    max_attempts: int
    max_age_seconds: float

    @classmethod
    def of(cls, settings: Settings) -> RetryPolicy:
        return cls(
            settings.webhook_retry_base_seconds,
            settings.webhook_retry_max_seconds,
            settings.webhook_max_attempts,
            settings.webhook_max_age_seconds,
        )

    def delay(self, attempts: int, draw: Callable[[], float] = random.random) -> float:
        """Seconds before the attempt after the `attempts`-th: the exponential step (capped)
        half fixed, half random, so that receivers coming back are not hit all at once."""
        step = min(self.max_delay_seconds, self.base_seconds * 2.0 ** min(attempts - 1, 60))
        return step / 2 + draw() * step / 2


class Deliverer:
    """Delivers the outbox of every tenant; one guarded HTTP client per tenant."""

    def __init__(
        self, store: Store, egress: EgressPolicy, clock: Clock, settings: Settings
    ) -> None:
        self._store, self._egress, self._clock = store, egress, clock
        self._timeout = settings.webhook_timeout_seconds
        self._retry = RetryPolicy.of(settings)
        self._clients: dict[str, httpx.AsyncClient] = {}

    def _client(self, tenant: str) -> httpx.AsyncClient:
        if tenant not in self._clients:
            guard = GuardedTransport(functools.partial(self._egress.addresses, tenant))
            # No redirects (an outcome goes where the operator said, nowhere else), no proxies
            # and no .netrc of the environment.
            self._clients[tenant] = httpx.AsyncClient(
                transport=guard, follow_redirects=False, trust_env=False
            )
        return self._clients[tenant]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def attempt(self, entry: OutboxEntry) -> str:
        """POSTs one outcome; returns "" when the receiver answered 2xx, else why not (its
        status as `HTTP nnn`, or a fixed reason). The receiver's body is never read.

        A row whose seal does not verify (`webhook_outbox.sealed_body`) is never signed nor
        sent: PAYLOAD_NOT_SEALED."""
        body = webhook_outbox.sealed_body(entry, self._store.sealer)
        if body is None:
            log.error(
                "webhook outcome %s of tenant %s NOT sent: its payload is not the one the service"
                " sealed (edited in the database, or enqueued without a seal); run"
                " `aval audit verify` for tenant %s",
                entry.id,
                entry.tenant_id,
                entry.tenant_id,
            )
            return PAYLOAD_NOT_SEALED
        target = self._egress.webhook(entry.tenant_id, entry.application_id)
        if target is None:
            return NOT_CONFIGURED
        try:
            key = signing_key(self._egress.api_key(entry.tenant_id, target.secret) or "")
        except (EgressRefused, ValueError):
            return SECRET_UNUSABLE
        stamp = int(self._clock.now().timestamp())
        try:
            async with self._client(entry.tenant_id).stream(
                "POST",
                target.url,
                content=body,
                headers=headers(key, str(entry.id), stamp, body),
                timeout=self._timeout,
            ) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return TIMEOUT
        except httpx.ConnectError:
            return CONNECT_FAILED
        except httpx.HTTPError:
            return TRANSPORT_ERROR
        return "" if 200 <= status < 300 else f"HTTP {status}"

    async def deliver_due(self) -> int:
        """Leases the due rows (one batch), attempts each, records the results; returns how
        many were attempted."""
        now = self._clock.now()
        # Longer than an attempt can take: nobody else tries the row while this one does.
        lease = now + timedelta(seconds=2 * self._timeout + 5)
        targets = [(w.tenant, w.application) for w in self._egress.webhooks]
        if not targets:
            return 0
        async with self._store.single_statement() as conn:
            due = await webhook_outbox.lease_due(
                conn, now=now, until=lease, limit=_BATCH, targets=targets
            )
        if not due:
            return 0
        results = await asyncio.gather(*(self.attempt(entry) for entry in due))
        async with self._store.single_statement() as conn:
            for entry, error in zip(due, results, strict=True):
                await self._settle(conn, entry, error)
        return len(due)

    async def _settle(self, conn: AsyncConnection[Any], entry: OutboxEntry, error: str) -> None:
        now = self._clock.now()
        if not error:
            await webhook_outbox.settle(conn, entry, now=now, delivered=True)
            return
        retry_at = now + timedelta(seconds=self._retry.delay(entry.attempts))
        age = (retry_at - entry.created_at).total_seconds()
        if (
            error == PAYLOAD_NOT_SEALED
            or entry.attempts >= self._retry.max_attempts
            or age > self._retry.max_age_seconds
        ):
            log.error(
                "webhook dead: outcome %s of decision %s (tenant %s) for %s after %d attempts;"
                " last error %s",
                entry.id,
                entry.decision_id,
                entry.tenant_id,
                entry.application_id,
                entry.attempts,
                error,
            )
            await webhook_outbox.settle(conn, entry, now=now, delivered=False, error=error)
            return
        log.warning(
            "webhook attempt %d of outcome %s for %s failed (%s); next at %s",
            entry.attempts,
            entry.id,
            entry.application_id,
            error,
            retry_at.isoformat(),
        )
        await webhook_outbox.settle(
            conn, entry, now=now, delivered=False, error=error, retry_at=retry_at
        )

    async def run(self, interval: float) -> None:
        """Runs until cancelled: delivers what is due every `interval` seconds."""
        try:
            while True:
                try:
                    while await self.deliver_due() == _BATCH:
                        pass
                except asyncio.CancelledError:
                    raise
                except Exception:  # the worker must outlive a database restart; logged, retried
                    log.exception("delivering webhooks failed; retrying in %.1fs", interval)
                stop_if_asked()
                await asyncio.sleep(interval)
        finally:
            await self.aclose()
