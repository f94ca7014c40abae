"""What the checkpoints' retention reads and deletes: the rule's inputs, and the one narrow path
that removes thinned checkpoints (`thin_checkpoints`, migrations 0028 and 0029), where the
database applies the rule again and deletes nothing it keeps."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from aval.verifier.retention import RetainedPoint


async def tenants_with_checkpoints(conn: AsyncConnection[Any]) -> list[str]:
    """The tenants that have at least one checkpoint, in name order."""
    cur = await conn.execute("SELECT DISTINCT tenant_id FROM checkpoints ORDER BY tenant_id")
    return [row[0] for row in await cur.fetchall()]


async def points(conn: AsyncConnection[Any], tenant_id: str) -> list[RetainedPoint]:
    """What the retention rule reads of each of the tenant's checkpoints, by tree size.

    Args:
        conn: Any connection of the store.
        tenant_id: The tenant.

    Returns:
        Tree size, signing time and whether a witness cosigned it, smallest size first.
    """
    cur = await conn.execute(
        "SELECT c.tree_size, c.issued_at, EXISTS (SELECT 1 FROM checkpoint_cosignatures w"
        "  WHERE w.tenant_id = c.tenant_id AND w.tree_size = c.tree_size)"
        " FROM checkpoints c WHERE c.tenant_id = %s ORDER BY c.tree_size",
        (tenant_id,),
    )
    return [RetainedPoint(size, at, cosigned) for size, at, cosigned in await cur.fetchall()]


async def thin(
    conn: AsyncConnection[Any], tenant_id: str, sizes: Collection[int], now: datetime
) -> int:
    """Deletes those of the tenant's checkpoints of these tree sizes that the retention rule
    drops, and their cosignatures.

    The only deletion the database allows on checkpoints (`thin_checkpoints`), and it decides
    by itself: it applies the rule of verifier/retention.py in SQL to the tenant's rows and
    skips every size the rule keeps (the first, the latest and the latest cosigned among them),
    whatever the caller asks. Its time is `now`, but never ahead of both the database's clock
    and the signing time of the tenant's latest checkpoint (migration 0029): a caller cannot
    thin as if it were later than that.

    Args:
        conn: A connection in a transaction (or autocommit).
        tenant_id: The tenant.
        sizes: The tree sizes the retention rule drops, by the service's reckoning.
        now: The time the service applied the rule at (its deployment's clock).

    Returns:
        How many checkpoints were deleted (fewer than asked when the database's rule keeps
        some: they go at a later pass).
    """
    if not sizes:
        return 0
    cur = await conn.execute("SELECT thin_checkpoints(%s, %s, %s)", (tenant_id, sorted(sizes), now))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])
