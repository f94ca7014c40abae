"""The connection pool, transactions, and the change listener (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from aval.audit_store import seals
from aval.audit_store.decisions import NOTIFY_CHANNEL
from aval.audit_store.errors import DatabaseUnavailable, ExportsBusy
from aval.audit_store.migrate import SCHEMA, SERVICE_ROLE
from aval.audit_store.seals import Sealer

log = logging.getLogger(__name__)


async def _configure(conn: AsyncConnection[Any]) -> None:
    # The service works under a role that may only read the trail and append through the
    # SECURITY DEFINER function: a bug or an injection in the service cannot edit history.
    await conn.set_autocommit(True)
    await conn.execute(f"SET ROLE {SERVICE_ROLE}")
    await conn.execute(f"SET search_path = {SCHEMA}")
    await conn.set_autocommit(False)


async def _configure_autocommit(conn: AsyncConnection[Any]) -> None:
    await _configure(conn)
    await conn.set_autocommit(True)


class Store:
    """PostgreSQL through an async pool; the only state of the service.

    Attributes:
        sealer: The key that seals what the service appends (`seals`), set when the deployment
            has a signing key; None: nothing is sealed.
    """

    def __init__(
        self, url: str, *, min_size: int = 2, max_size: int = 10, export_size: int = 4
    ) -> None:
        self.url = url
        self.sealer: Sealer | None = None
        self.pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            configure=self._configure,
            open=False,
            name="aval",
        )
        # For writes that are one statement: no BEGIN and COMMIT round trips around them.
        self.autocommit_pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=4,
            configure=self._configure_autocommit,
            open=False,
            name="aval-autocommit",
        )
        # Exports hold a connection (and its snapshot) for as long as their client reads: on a
        # pool of their own, however many there are, they never starve the main pool.
        self.export_pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url,
            min_size=0,
            max_size=export_size,
            configure=_configure,
            open=False,
            name="aval-export",
        )
        self._exports = 0

    async def _configure(self, conn: AsyncConnection[Any]) -> None:
        await _configure(conn)
        seals.attach(conn, self)

    async def _configure_autocommit(self, conn: AsyncConnection[Any]) -> None:
        await _configure_autocommit(conn)
        seals.attach(conn, self)

    async def open(self, *, wait_seconds: float = 30.0) -> None:
        """Opens the pools and waits for their first connections.

        Raises:
            DatabaseUnavailable: no connection could be made within `wait_seconds`.
        """
        try:
            await self.pool.open(wait=True, timeout=wait_seconds)
            await self.autocommit_pool.open(wait=True, timeout=wait_seconds)
            await self.export_pool.open()
        except PoolTimeout as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {_safe(self.url)}") from exc

    async def close(self) -> None:
        await self.export_pool.close()
        await self.autocommit_pool.close()
        await self.pool.close()

    async def ping(self, seconds: float) -> bool:
        """Whether a connection of the main pool answers a query within `seconds`.

        A connection found broken is replaced by the pool: one more try tells a database that
        came back from one that is still away.
        """
        for _ in range(2):
            try:
                async with asyncio.timeout(seconds):
                    async with self.pool.connection(timeout=seconds) as conn:
                        await conn.execute("SELECT 1")
                return True
            except (psycopg.Error, TimeoutError):
                continue
        return False

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection inside a transaction: commits when the block ends, rolls back on error.

        The commit has happened when the block exits normally, so a reply sent after the block
        acknowledges durable state (I7).
        """
        async with self.pool.connection() as conn, conn.transaction():
            yield conn

    @contextlib.asynccontextmanager
    async def pipelined_transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A `transaction` in pipeline mode: BEGIN goes with the first statement, and the
        statements after the last result is read go with the COMMIT, one round trip each."""
        async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
            yield conn

    @contextlib.asynccontextmanager
    async def single_statement(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection in autocommit mode: each statement is its own transaction, committed
        when it returns."""
        async with self.autocommit_pool.connection() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A read-only transaction that sees one consistent state of the database throughout
        (REPEATABLE READ), however many statements it runs and whatever commits meanwhile."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    @contextlib.asynccontextmanager
    async def export_snapshot(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A `snapshot` on a connection of the export pool.

        Raises:
            ExportsBusy: every export connection is in use; nobody waits for one.
        """
        if self._exports >= self.export_pool.max_size:
            raise ExportsBusy(self.export_pool.max_size)
        self._exports += 1
        try:
            async with self.export_pool.connection() as conn, conn.transaction():
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield conn
        finally:
            self._exports -= 1

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection for reads; same guarantees as a transaction, meant for queries."""
        async with self.transaction() as conn:
            yield conn


def _safe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable database URL>"
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in sorted(info.items()))


class ChangeListener:
    """Wakes watchers of a decision when any replica commits a change to it.

    One dedicated connection LISTENs on the channel a trigger signals on each decision change; each
    watcher holds an asyncio.Event that is set on every notification for its decision.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._watchers: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="aval-change-listener")
        await asyncio.wait_for(self._ready.wait(), timeout=30)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def watch(self, tenant_id: str, decision_id: uuid.UUID) -> Any:
        """Registers an event that is set on each change of the decision while in the block."""
        return self._watching(f"{tenant_id}/{decision_id}")

    def watch_tenant(self, tenant_id: str) -> Any:
        """Registers an event that is set on each proposal or change of any decision of the
        tenant while in the block."""
        return self._watching(f"{tenant_id}/*")

    @property
    def tenant_watchers(self) -> int:
        """How many tenant-wide watches are open (a use case caps them)."""
        return sum(len(events) for key, events in self._watchers.items() if key.endswith("/*"))

    @contextlib.contextmanager
    def _watching(self, key: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._watchers[key].add(event)
        try:
            yield event
        finally:
            self._watchers[key].discard(event)
            if not self._watchers[key]:
                del self._watchers[key]

    def _wake_all(self) -> None:
        for events in self._watchers.values():
            for event in events:
                event.set()

    async def _run(self) -> None:
        delay = 0.2
        while True:
            try:
                async with await AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._ready.set()
                    # Changes may have been missed while reconnecting: let watchers re-read.
                    self._wake_all()
                    delay = 0.2
                    async for note in conn.notifies():
                        # "<tenant>/<decision>" on a change, "<tenant>/*" on a proposal.
                        tenant = note.payload.partition("/")[0]
                        for key in {note.payload, f"{tenant}/*"}:
                            for event in self._watchers.get(key, ()):
                                event.set()
            except asyncio.CancelledError:
                raise
            except psycopg.Error as exc:
                log.warning(
                    "change listener lost its connection (%s); retrying in %.1fs", exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
