"""The pass over a tenant's events that `verify.verify_tenant` drives: ranges of sequence
numbers checked by PostgreSQL on several connections at once (`digests.range_digest`), their
outcomes handed to the `ChainVerifier` in sequence order; and what it reads besides the
ranges (where the sequence starts and ends, the decisions' stored states)."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg import AsyncConnection

from aval.audit_store import digests
from aval.verifier.events import EventDigest, RangeDigest, state_key

Progress = Callable[[int], None]


class _Count(Protocol):
    events_checked: int


class RangeVerifier(Protocol):
    """What a range pass hands its outcomes to, in sequence order (`ChainVerifier`)."""

    @property
    def report(self) -> _Count: ...

    @property
    def leaves_until(self) -> int: ...

    def check(self, event: EventDigest) -> None: ...

    def check_range(self, events: RangeDigest) -> None: ...


# What checking a range gave: a summary when PostgreSQL found it whole, else its events.
_Checked = RangeDigest | list[EventDigest]


@dataclass
class _Claim:
    start: int
    end: int
    outcome: asyncio.Future[_Checked]


class RangePass:
    """One pass over a tenant's events: ranges checked on every connection at once, their
    outcomes handed to the verifier in sequence order."""

    def __init__(
        self,
        verifier: RangeVerifier,
        conns: list[AsyncConnection[Any]],
        tenant_id: str,
        range_size: int,
    ) -> None:
        self.verifier, self.conns, self.tenant_id = verifier, conns, tenant_id
        self.range_size = range_size
        # One unit of work at a time per connection (a range may be read in a savepoint).
        self.locks = [asyncio.Lock() for _ in conns]
        # Claimed ranges not yet handed to the verifier, in sequence order; a few per
        # connection at most, so that memory stays flat however long the trail.
        self.claims: collections.deque[_Claim] = collections.deque()
        self.ahead = asyncio.Semaphore(2 * len(conns))
        self.claimed = asyncio.Event()
        self.next_start, self.last_seq = 0, -1  # no range to check until run() says
        self.leaves_until = verifier.leaves_until
        # Whether PostgreSQL found every range whole (`digests.range_digest`): then every
        # event's columns say exactly what its bytes say, which the facts check relies on.
        self.whole = True

    async def run(self, on_progress: Progress | None, progress_every: int) -> dict[bytes, str]:
        """Checks every event; returns the stored (state, version) of every decision, read on
        the side."""
        bounds = await seq_bounds(self.conns[0], self.tenant_id)
        if bounds is not None:
            self.next_start, self.last_seq = bounds
        decisions = asyncio.create_task(self._decisions())
        workers = [asyncio.create_task(self._work(i)) for i in range(len(self.conns))]
        try:
            # A worker's failure comes out of the claim it failed on, in sequence order.
            await self._consume(on_progress, progress_every)
            return await decisions
        finally:
            for task in (decisions, *workers):
                task.cancel()
            await asyncio.gather(decisions, *workers, return_exceptions=True)

    async def _decisions(self) -> dict[bytes, str]:
        async with self.locks[-1]:
            return await decision_states(self.conns[-1], self.tenant_id)

    async def _claim(self) -> _Claim | None:
        await self.ahead.acquire()
        if self.next_start > self.last_seq:
            self.ahead.release()
            return None
        start = self.next_start
        self.next_start = start + self.range_size
        claim = _Claim(start, self.next_start, asyncio.get_running_loop().create_future())
        self.claims.append(claim)
        self.claimed.set()
        return claim

    async def _work(self, index: int) -> None:
        conn, tenant = self.conns[index], self.tenant_id
        while (claim := await self._claim()) is not None:
            try:
                async with self.locks[index]:
                    leaves = claim.start <= self.leaves_until
                    checked: _Checked | None = await digests.range_digest(
                        conn, tenant, claim.start, claim.end, leaves=leaves
                    )
                    if checked is None:
                        self.whole = False
                        checked = await digests.range_digests(conn, tenant, claim.start, claim.end)
                    elif not checked.count:  # a hole in the sequence numbers: jump over it
                        found = await next_seq(conn, tenant, claim.end - 1)
                        self.next_start = max(
                            self.next_start, self.last_seq + 1 if found is None else found
                        )
            except asyncio.CancelledError:
                claim.outcome.cancel()
                raise
            except Exception as exc:  # handed on: the consumer raises it at this claim
                claim.outcome.set_exception(exc)
                return
            claim.outcome.set_result(checked)

    async def _consume(self, on_progress: Progress | None, progress_every: int) -> None:
        verifier, report = self.verifier, self.verifier.report
        reported = 0
        while True:
            while not self.claims:
                if self.next_start > self.last_seq:
                    return
                self.claimed.clear()
                await self.claimed.wait()
            claim = self.claims.popleft()
            checked = await claim.outcome
            self.ahead.release()
            if isinstance(checked, list):
                for event in checked:
                    verifier.check(event)
            elif checked.count:
                if checked.leaves is None and verifier.leaves_until > report.events_checked:
                    # Fewer events before this range than its sequence numbers say (some
                    # were removed): its leaves were not asked for.
                    async with self.locks[0]:
                        blob = await digests.range_leaves(
                            self.conns[0], self.tenant_id, claim.start, claim.end
                        )
                    checked = dataclasses.replace(checked, leaves=blob)
                verifier.check_range(checked)
            if on_progress is not None and report.events_checked // progress_every > reported:
                reported = report.events_checked // progress_every
                on_progress(report.events_checked)


# -- where the sequence starts, ends and resumes ---------------------------------------------


async def seq_bounds(conn: AsyncConnection[Any], tenant_id: str) -> tuple[int, int] | None:
    """The smallest and largest sequence numbers of a tenant's events; None when none."""
    cur = await conn.execute(
        "SELECT min(seq), max(seq) FROM audit_events WHERE tenant_id = %s", (tenant_id,)
    )
    row = await cur.fetchone()
    return None if row is None or row[0] is None else (int(row[0]), int(row[1]))


async def next_seq(conn: AsyncConnection[Any], tenant_id: str, after: int) -> int | None:
    """The smallest sequence number above `after`, or None."""
    cur = await conn.execute(
        "SELECT min(seq) FROM audit_events WHERE tenant_id = %s AND seq > %s", (tenant_id, after)
    )
    row = await cur.fetchone()
    return None if row is None or row[0] is None else int(row[0])


# -- decisions -------------------------------------------------------------------------------

# The two aggregates take the same rows in the same order, whatever that order is. One
# statement for the tenant: PostgreSQL reads the rows in their physical order, nothing sorts.
_DECISIONS = """
SELECT count(*), string_agg(uuid_send(id), ''),
    string_agg(state || E'\\x1f' || version::text, E'\\x1e')
FROM decisions WHERE tenant_id = %s
"""
_SEPARATOR = "\x1e"


async def decision_states(conn: AsyncConnection[Any], tenant_id: str) -> dict[bytes, str]:
    """The stored state and version of every decision of a tenant, as `state_key`s, by
    `decision_key`."""
    cur = await conn.execute(_DECISIONS, (tenant_id,), binary=True)
    row = await cur.fetchone()
    if row is None or not row[0]:
        return {}
    count, blob, states = row[0], bytes(row[1]), row[2].split(_SEPARATOR)
    if not len(blob) == 16 * count == 16 * len(states):  # a separator inside a state
        return await _decision_rows(conn, tenant_id)
    return dict(zip((blob[i : i + 16] for i in range(0, len(blob), 16)), states, strict=True))


async def _decision_rows(conn: AsyncConnection[Any], tenant_id: str) -> dict[bytes, str]:
    cur = await conn.execute(
        "SELECT id, state, version FROM decisions WHERE tenant_id = %s", (tenant_id,)
    )
    return {row[0].bytes: state_key(row[1], row[2]) for row in await cur.fetchall()}
