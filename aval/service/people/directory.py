"""The people directory's writer and purge: sign-ins recorded without a write per call, and
without adding to any call's latency; people not seen for the retention period deleted.

A person is written when first seen by this process, when their display name or tenants
change, or when what was last written of them is older than `refresh_seconds` (an hour by
default): `last_seen` is so exact to the hour, which retention in months needs, and a person
calling all day costs one small write an hour per server process. The write is batched by a
background task; a failure is logged (never with a name: names are personal data) and retried
at that person's next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg

from aval.audit_store import people
from aval.audit_store.database import Store
from aval.audit_store.errors import StoreError
from aval.audit_store.people import Seen
from aval.service.cancelling import stop_if_asked
from aval.service.clock import Clock
from aval.service.deployment import Deployment
from aval.service.identity import Principal
from aval.service.oidc.authenticator import OidcAuthenticator

log = logging.getLogger("aval.people")

# People kept in memory as written; past it the memory starts over (each is written again once).
_MAX_CACHED = 100_000
# Sign-ins waiting for the writer; past it new ones wait for the next call (nothing is lost for
# good: a person not written is written at a later call).
_MAX_PENDING = 10_000


@dataclass
class PeopleDirectory:
    """What `seen` is told of people signing in, written in the background."""

    store: Store
    clock: Clock
    refresh_seconds: float = 3600.0
    _written: dict[str, Seen] = field(default_factory=dict)
    _pending: dict[str, Seen] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def seen(self, principal: Principal) -> None:
        """A person's token was verified: queue a write when the directory needs one. Never
        blocks, never raises into the call."""
        tenants = tuple(sorted(principal.roles))
        if not tenants:  # roles nowhere: seen in no tenant, nobody may look them up
            return
        now = self.clock.now()
        known = self._written.get(principal.id)
        if (
            known is not None
            and known.display_name == principal.display_name
            and set(tenants) <= set(known.tenants)
            and now - known.at < timedelta(seconds=self.refresh_seconds)
        ):
            return
        if principal.id not in self._pending and len(self._pending) >= _MAX_PENDING:
            return
        self._pending[principal.id] = Seen(principal.id, tenants, principal.display_name, now)
        self._wake.set()

    async def flush(self) -> None:
        """Writes the sign-ins waiting, in one transaction."""
        batch, self._pending = self._pending, {}
        if not batch:
            return
        try:
            async with self.store.transaction() as conn:
                await people.upsert(conn, list(batch.values()))
        except (psycopg.Error, StoreError) as exc:
            sqlstate = getattr(exc, "sqlstate", None) or ""
            log.warning(
                "people directory: %d sign-ins not recorded (%s %s); retried at their next call",
                len(batch),
                type(exc).__name__,
                sqlstate,
            )
            return
        if len(self._written) + len(batch) > _MAX_CACHED:
            self._written.clear()
        self._written.update(batch)

    async def run(self) -> None:
        """The writer: flushes whenever sign-ins wait, until cancelled (then flushes once)."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await self.flush()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush())


async def run_purge(store: Store, clock: Clock, months: int, interval: float) -> None:
    """Deletes, every `interval` seconds, the people not seen for `months` months (by the
    deployment's clock), until cancelled."""
    while True:
        try:
            async with store.single_statement() as conn:
                gone = await people.purge(conn, now=clock.now(), months=months)
            if gone:
                log.info("people directory: %d people not seen for %d months deleted", gone, months)
        except (psycopg.Error, StoreError) as exc:
            log.warning(
                "people directory: purge failed (%s); tried again later", type(exc).__name__
            )
        stop_if_asked()
        await asyncio.sleep(interval)


def start(deployment: Deployment) -> list[asyncio.Task[None]]:
    """Lets the OpenID Connect authenticator tell the directory who signs in, and starts its
    writer and its retention purge; nothing without OpenID Connect (file principals' names are
    served from memory)."""
    oidc = getattr(deployment.authenticator, "oidc", None)
    if not isinstance(oidc, OidcAuthenticator):
        return []
    settings = deployment.settings
    directory = PeopleDirectory(deployment.store, deployment.clock, settings.people_refresh_seconds)
    oidc.on_person = directory.seen
    purge = run_purge(
        deployment.store,
        deployment.clock,
        settings.people_retention_months,
        settings.people_purge_interval_seconds,
    )
    return [asyncio.create_task(directory.run()), asyncio.create_task(purge)]
