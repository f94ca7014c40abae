"""Group commit of the access journal: concurrent reads share one INSERT, each caller answered
only once its rows are committed, or refused with the error (fail closed, R13)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from aval.audit_store import access_journal
from aval.audit_store.database import Store
from aval.audit_store.errors import JournalUnavailable

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    records: Sequence[access_journal.AccessRecord]
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class JournalWriter:
    """Writes the rows of many reads per statement.

    `write` returns once the rows are committed; it raises what the database raised otherwise,
    so that a read whose row cannot be written is never served.
    """

    def __init__(self, store: Store, *, max_batch: int = 512) -> None:
        self._store = store
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="aval-journal-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def write(self, records: Sequence[access_journal.AccessRecord]) -> None:
        """Returns once `records` are committed.

        Raises:
            JournalUnavailable: they could not be written (or the writer is stopped).
        """
        if self._task is None or self._task.done():
            raise JournalUnavailable("the access journal's writer is not running")
        pending = _Pending(records)
        await self._queue.put(pending)
        await pending.done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            rows = len(batch[0].records)
            while rows < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
                rows += len(batch[-1].records)
            if not await self._commit(batch) and len(batch) > 1:
                # One bad row must not refuse every read beside it: each alone, once.
                for pending in batch:
                    await self._commit([pending])

    async def _commit(self, batch: list[_Pending]) -> bool:
        """Writes the batch in one statement and answers its callers; False if it failed: a
        lone caller is then answered with JournalUnavailable, those of a batch are left to be
        retried one by one."""
        batch = [p for p in batch if not p.done.done()]  # callers that went away
        if not batch:
            return True
        try:
            async with self._store.single_statement() as conn:
                await access_journal.append(conn, [r for p in batch for r in p.records])
        except asyncio.CancelledError:
            for pending in batch:
                pending.done.cancel()
            raise
        except Exception as exc:  # the reads are refused (fail closed)
            log.error("the access journal refused %d reads: %s", len(batch), exc)
            if len(batch) == 1:
                # One exception each, none holding this task's frames (group_commit.py).
                batch[0].done.set_exception(JournalUnavailable(type(exc).__name__))
            return False
        for pending in batch:
            pending.done.set_result(None)
        return True
