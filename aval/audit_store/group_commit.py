"""Group commit of proposals: concurrent proposals share one transaction and one chain lock.

Appends of one tenant are serialised by the lock on its chain head, held until commit. Writing
each proposal in its own transaction would cap a tenant at one commit at a time and cost a few
round trips each; here a writer task takes every proposal waiting and writes them together in
one statement — each decision with its own audit event, all in one transaction (I2) — and
answers each caller only after the commit (I7).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field

from aval.audit_store import decisions, sealed_proposals, seals
from aval.audit_store.database import Store
from aval.audit_store.records import AICall, Decision

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    decision: Decision
    events: list[bytes]  # canonical bytes, from NewEvent.canonical
    calls: tuple[AICall, ...]  # the AI calls made for it, written with it
    done: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class ProposalWriter:
    """Writes new decisions with their first audit events, many per transaction.

    `write` resolves to True once the decision and its events are committed, or to False if
    its (tenant, proposer, idempotency key) was already taken (nothing of it is written then).
    """

    def __init__(self, store: Store, *, max_batch: int = 256, writers: int = 1) -> None:
        self._store = store
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._writers = writers
        self._tasks: list[asyncio.Task[None]] = []
        # tenant -> (seq, hash) where this writer's last sealed append ended. Only a hint: a
        # wrong one costs a statement that writes nothing (`sealed_proposals`), never a seal.
        self._heads: dict[str, tuple[int, bytes]] = {}

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name=f"aval-proposal-writer-{i}")
            for i in range(self._writers)
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def write(
        self, decision: Decision, events: list[bytes], calls: tuple[AICall, ...] = ()
    ) -> bool:
        pending = _Pending(decision, events, calls)
        await self._queue.put(pending)
        return await pending.done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                inserted = await self._commit(batch)
            except asyncio.CancelledError:
                for pending in batch:
                    pending.done.cancel()
                raise
            except Exception as exc:  # one bad item must not fail the others: retry each alone
                log.warning(
                    "a batch of %d proposals failed (%s); writing them one by one", len(batch), exc
                )
                failed = True
            else:
                failed = False
            # Outside the `except`: what the retries raise must not hold this frame as context.
            if failed:
                await self._commit_each(batch)
                continue
            self._resolve(batch, inserted)

    @staticmethod
    def _resolve(batch: list[_Pending], inserted: set[uuid.UUID]) -> None:
        for pending in batch:
            if not pending.done.done():
                pending.done.set_result(pending.decision.id in inserted)

    async def _commit_each(self, batch: list[_Pending]) -> None:
        for pending in batch:
            try:
                self._resolve([pending], await self._commit([pending]))
            except Exception as exc:  # handed to the caller, who maps it at the edge
                if not pending.done.done():
                    pending.done.set_exception(_detached(exc))

    async def _commit(self, batch: list[_Pending]) -> set[uuid.UUID]:
        batch = [p for p in batch if not p.done.done()]  # leave out callers that went away
        if not batch:
            return set()
        rows = [(p.decision, p.events, p.calls) for p in batch]
        sealer = self._store.sealer
        if sealer is None:
            async with self._store.single_statement() as conn:
                return await decisions.record_proposals(conn, rows)
        # Sealed in one statement while the heads are known: at most one more try when another
        # writer moved a head, then the seal goes in a second statement of the transaction.
        for _ in range(2):
            if not sealed_proposals.tenants_of(rows) <= self._heads.keys():
                break
            try:
                async with self._store.single_statement() as conn:
                    return await sealed_proposals.record_proposals_sealed(
                        conn, rows, sealer, self._heads
                    )
            except seals.HeadMoved as moved:
                self._heads[moved.tenant_id] = (moved.seq, moved.hash)
            except seals.NotAsSealed:
                break
        async with self._store.pipelined_transaction() as conn:
            return await decisions.record_proposals(conn, rows, heads=self._heads)


def _detached(exc: Exception) -> Exception:
    """`exc` without this task's frames, for another task to raise.

    The gRPC edge clears the frames of the exception a call ends with (service/admission.py);
    clearing a frame of a suspended coroutine finalises it, and the writer task would end with
    every later proposal waiting for it.
    """
    exc.__context__ = exc.__cause__ = None
    return exc.with_traceback(None)
