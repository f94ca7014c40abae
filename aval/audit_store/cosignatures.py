"""Witnesses' cosignatures of the signed checkpoints: storing what they answered, reading it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from aval.audit_store import fetch
from aval.audit_store.checkpoints import CheckpointRecord
from aval.verifier.signed_note import SignatureLine


async def insert(
    conn: AsyncConnection[Any],
    tenant_id: str,
    tree_size: int,
    lines: Sequence[SignatureLine],
    received_at: datetime,
) -> int:
    """Stores the cosignatures a witness returned for a checkpoint; a line stored before is kept.

    Args:
        conn: A connection (autocommit or in a transaction).
        tenant_id: The tenant.
        tree_size: The checkpoint's size (it must be stored).
        lines: The signature lines.
        received_at: When they were received (UTC).

    Returns:
        How many lines were new.
    """
    added = 0
    for line in lines:
        cur = await conn.execute(
            "INSERT INTO checkpoint_cosignatures"
            " (tenant_id, tree_size, witness, key_hash, signature, received_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (tenant_id, tree_size, line.name, line.key_hash, line.signature, received_at),
        )
        added += cur.rowcount
    return added


async def attach(
    conn: AsyncConnection[Any], records: Sequence[CheckpointRecord]
) -> list[CheckpointRecord]:
    """The checkpoints with the cosignatures stored for each (`CheckpointRecord.cosignatures`).

    Args:
        conn: Any connection of the store.
        records: Checkpoints of one tenant.

    Returns:
        The same checkpoints, in the same order, each with its cosignature lines ordered by
        witness name and key ID.
    """
    if not records:
        return []
    tenant = records[0].tenant_id
    sizes = [record.tree_size for record in records]
    rows = await fetch.every(
        conn,
        "SELECT tree_size, witness, key_hash, signature FROM checkpoint_cosignatures"
        " WHERE tenant_id = %s AND tree_size = ANY(%s) ORDER BY tree_size, witness, key_hash",
        (tenant, sizes),
        lambda row: (row[0], SignatureLine(row[1], bytes(row[2]), bytes(row[3]))),
    )
    found: dict[int, list[SignatureLine]] = {}
    for size, line in rows:
        found.setdefault(size, []).append(line)
    return [
        dataclasses.replace(record, cosignatures=tuple(found.get(record.tree_size, ())))
        for record in records
    ]


async def acknowledged_sizes(
    conn: AsyncConnection[Any], tenant_id: str
) -> dict[tuple[str, bytes], int]:
    """The largest checkpoint size each witness key cosigned for a tenant.

    Args:
        conn: Any connection of the store.
        tenant_id: The tenant.

    Returns:
        (witness name, key ID) -> tree size.
    """
    rows = await fetch.every(
        conn,
        "SELECT witness, key_hash, max(tree_size) FROM checkpoint_cosignatures"
        " WHERE tenant_id = %s GROUP BY witness, key_hash",
        (tenant_id,),
        lambda row: ((str(row[0]), bytes(row[1])), int(row[2])),
    )
    return dict(rows)
