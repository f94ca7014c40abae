"""The start-up check that each tenant's recorded chain head is where its events end."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from aval.audit_store.errors import StoreError
from aval.audit_store.migrate import SCHEMA

# Appending takes the head's (seq, hash) and writes seq + 1 after it. Rows past the head make
# that insert collide with an existing row (a UniqueViolation at the first write); rows short of
# it leave a gap. Either way the database was changed outside the service: it must not write on.
# Two index probes per tenant, however long the trails.
_DISAGREEMENTS = f"""
SELECT t.tenant_id, h.seq, last.seq
FROM unnest(%s::text[]) AS t(tenant_id)
LEFT JOIN {SCHEMA}.chain_heads h ON h.tenant_id = t.tenant_id
LEFT JOIN LATERAL (
    SELECT e.seq, e.hash FROM {SCHEMA}.audit_events e
    WHERE e.tenant_id = t.tenant_id ORDER BY e.seq DESC LIMIT 1
) AS last ON true
WHERE coalesce(h.seq, 0) IS DISTINCT FROM coalesce(last.seq, 0)
   OR (last.seq IS NOT NULL AND h.hash IS DISTINCT FROM last.hash)
ORDER BY t.tenant_id
"""


@dataclass(frozen=True)
class HeadDisagreement:
    """A tenant whose chain head does not name its last event."""

    tenant_id: str
    head_seq: int | None  # None: no head recorded
    last_seq: int | None  # None: no event

    def describe(self) -> str:
        head = "no chain head" if self.head_seq is None else f"a chain head at seq {self.head_seq}"
        if self.last_seq is None:
            return f"tenant {self.tenant_id} has {head} but no event"
        if self.head_seq == self.last_seq:
            return f"tenant {self.tenant_id}'s chain head hash is not its event {self.last_seq}'s"
        return f"tenant {self.tenant_id}'s events run to seq {self.last_seq}, with {head}"


class ChainHeadMismatch(StoreError):
    """The trail of some tenant does not end where its chain head says: the database was
    changed outside the service, which must not append to it."""

    def __init__(self, disagreements: list[HeadDisagreement]) -> None:
        self.disagreements = disagreements
        shown = "; ".join(d.describe() for d in disagreements[:3])
        more = f" (and {len(disagreements) - 3} more)" if len(disagreements) > 3 else ""
        super().__init__(
            f"the audit trail and its chain head disagree: {shown}{more}. The database was "
            "changed outside Aval; refusing to append to it. Run `aval audit verify` as an "
            "inspector of the tenant to see what changed, and restore the database from a "
            "backup before serving"
        )


async def head_disagreements(
    conn: psycopg.AsyncConnection[Any], tenants: Iterable[str]
) -> list[HeadDisagreement]:
    """The `tenants` whose chain head is not (seq, hash) of their last event."""
    cur = await conn.execute(_DISAGREEMENTS, (sorted(tenants),))
    return [HeadDisagreement(*row) for row in await cur.fetchall()]


async def check_chain_heads(url: str, tenants: Iterable[str]) -> None:
    """Refuses a database where the events and chain head of one of `tenants` (those the
    server will append to) disagree.

    Raises:
        ChainHeadMismatch: naming each such tenant (the first three) and `aval audit verify`.
    """
    async with await psycopg.AsyncConnection.connect(url) as conn:
        found = await head_disagreements(conn, tenants)
    if found:
        raise ChainHeadMismatch(found)
