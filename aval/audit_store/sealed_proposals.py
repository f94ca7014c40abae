"""Proposals recorded and sealed in one statement, when the service knows each tenant's head.

`decisions.record_proposals` seals in two statements of one transaction: the append reports the
range, the service checks it and sends the seal. Knowing where its own last append of a tenant
ended (the head), the service can compute the range its bytes will make and seal it before
sending them; the SQL function (migration 0027) records the batch, and stores the seals only
when each tenant's appended range is exactly the one sealed. A seal still only says that the
service's own bytes chain from that previous hash to that last hash (docs/signing.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from aval.audit_store import seals
from aval.audit_store.decisions import proposal_columns
from aval.audit_store.records import AICall, Decision

_HEAD_MOVED = "AVS01"
_NOT_AS_SEALED = "AVS02"


def tenants_of(batch: Sequence[tuple[Decision, Sequence[bytes], Sequence[AICall]]]) -> set[str]:
    """The tenants a batch appends to."""
    return {decision.tenant_id for decision, encoded, _ in batch if encoded}


async def record_proposals_sealed(
    conn: AsyncConnection[Any],
    batch: Sequence[tuple[Decision, Sequence[bytes], Sequence[AICall]]],
    sealer: seals.Sealer,
    heads: dict[str, tuple[int, bytes]],
) -> set[uuid.UUID]:
    """`decisions.record_proposals` and the seals of what it appends, in one statement.

    Args:
        conn: An autocommit connection: the statement is its own transaction.
        batch: (decision, its canonical events, its AI calls) for each proposal.
        sealer: The store's seal key.
        heads: tenant -> (seq, hash) where the service last saw its own appends end; holds
            every tenant of `tenants_of(batch)`. Updated with the new heads.

    Returns:
        The ids of the decisions inserted.

    Raises:
        HeadMoved: A tenant's head is elsewhere (another writer appended); nothing written.
        NotAsSealed: The appended ranges are not those sealed (a duplicate skipped, a
            concurrent append, bytes stored otherwise); nothing written.
        SealRefused: The database reported other ranges than those it was to seal.
    """
    args = proposal_columns(batch)
    by_tenant: dict[str, list[bytes]] = {}
    for decision, encoded, _ in batch:
        by_tenant.setdefault(decision.tenant_id, []).extend(encoded)
    expected = [
        seals.expected_range(tenant, heads[tenant], events)
        for tenant, events in sorted(by_tenant.items())
        if events
    ]
    try:
        cur = await conn.execute(
            "SELECT * FROM record_proposals_sealed(%s, %s::bytea[], %s::text[], %s::uuid[], %s,"
            " %s::text[], %s::bigint[], %s::bytea[], %s::bigint[], %s::bytea[], %s, %s::bytea[])",
            (
                Jsonb(args.rows),
                args.events,
                args.tenants,
                args.owners,
                Jsonb(args.calls) if args.calls else None,
                [r.tenant_id for r in expected],
                [r.first_seq for r in expected],
                [r.prev_hash for r in expected],
                [r.last_seq for r in expected],
                [r.last_hash for r in expected],
                sealer.key_id,
                [
                    sealer.mac(r.tenant_id, r.first_seq, r.last_seq, r.prev_hash, r.last_hash)
                    for r in expected
                ],
            ),
        )
        found = await cur.fetchall()
    except psycopg.Error as exc:
        if exc.sqlstate == _HEAD_MOVED:
            index, seq, head = (exc.diag.message_detail or "").split()
            raise seals.HeadMoved(
                expected[int(index) - 1].tenant_id, int(seq), bytes.fromhex(head)
            ) from None
        if exc.sqlstate == _NOT_AS_SEALED:
            raise seals.NotAsSealed(exc.diag.message_primary) from None
        raise
    appended = {
        row[1]: seals.Appended(row[1], row[2], bytes(row[3]), row[4], bytes(row[5]))
        for row in found
        if row[0] is None
    }
    if len(appended) != len(expected):
        raise seals.SealRefused(expected[0].tenant_id, expected[0].first_seq)
    for range_ in expected:
        if appended.get(range_.tenant_id) != range_:
            raise seals.SealRefused(range_.tenant_id, range_.first_seq)
        heads[range_.tenant_id] = (range_.last_seq, range_.last_hash)
    return {row[0] for row in found if row[0] is not None}
